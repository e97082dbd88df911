// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Issue 11 review 3, finding 10 (docs/contracts.md, Trust model, "What the bound assumes"): the bound
/// B × (⌈D/P⌉ + 1) counts only the paths that need a withdrawal. The wind-down pays balances out with no delay,
/// budget or veto, so what a compromised quorum moved to a colluder leaves at the wind-down unless governance
/// replaces the signers (within E + MAX_PAUSE) and lands a reversing batch first. Both sides are pinned here.
contract VaultHatchAssumptionTest is VaultFixture {
    uint256 internal constant TOTAL = 600_000 * USD_UNIT;
    uint256 internal constant BUDGET = 10_000 * USD_UNIT;

    function setUp() public override {
        super.setUp();
        _allowOutflow(USD, BUDGET);
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, USD, 200_000 * USD_UNIT);
        _deposit(carol, USD, 100_000 * USD_UNIT);
    }

    function _drainToDave() internal {
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(CAROL, USD, -100_000e6);
        b.transfers[3] = _t(DAVE, USD, int256(TOTAL));
        _settle(b);
    }

    /// The documented assumption: with nobody reacting, the colluder takes 100 % at lastSettledAt + E, not the
    /// bound, so the trust model's "before anyone can react" needs governance's signer rotation (its timelock
    /// delay) to fit within E + MAX_PAUSE.
    function test_noReaction_hatchPaysTheColluderEverythingAfterE() public {
        _drainToDave();
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        vault.triggerWindDown();
        vm.prank(dave);
        vault.windDownWithdraw(USD, dave);
        assertEq(usd.balanceOf(dave), TOTAL, "everything, E after the compromise");
    }

    /// Reaction that works: the guardian pauses (stopping the clock), governance replaces the signers and
    /// unpauses, and the new quorum sends the balances back before the hatch opens.
    function test_reaction_pauseRotateReverse() public {
        _drainToDave();
        vm.prank(guardian);
        vault.pause();
        vm.warp(block.timestamp + 6 days);
        uint256[] memory fresh = new uint256[](2);
        (fresh[0], fresh[1]) = (0xF0E1, 0xF0E2);
        fresh = _sortKeys(fresh);
        address[] memory addrs = new address[](2);
        (addrs[0], addrs[1]) = (vm.addr(fresh[0]), vm.addr(fresh[1]));
        vm.startPrank(governor);
        vault.setSigners(addrs, 2);
        vault.unpause();
        vm.stopPrank();
        vm.expectRevert();
        vault.triggerWindDown(); // the paused days did not count
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(DAVE, USD, -int256(TOTAL));
        b.transfers[1] = _t(ALICE, USD, 300_000e6);
        b.transfers[2] = _t(BOB, USD, 200_000e6);
        b.transfers[3] = _t(CAROL, USD, 100_000e6);
        vault.settle(b, _sign(b, fresh));
        assertEq(vault.balanceOf(ALICE, USD), 300_000e6, "reversed");
        // the old quorum is out
        b = _nextBatch();
        IVault.SignerSignature[] memory old = _sign(b, _quorum());
        vm.expectRevert();
        vault.settle(b, old);
    }
}
