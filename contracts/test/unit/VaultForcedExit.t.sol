// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {VaultDefaults} from "../../src/VaultDefaults.sol";

/// @notice The forced exit's clock (issue 11, third review, findings 1, 2 and 5): it runs from when an exit
/// request became unserved, and "served" is judged by the IM in force. A request served for a withdrawal delay
/// restarts its clock when the member's IM rises again, so it cannot open the wind-down in the block of the
/// batch that raised it; a request the signers never served keeps its clock whatever rows cycle its IM.
contract VaultForcedExitTest is VaultFixture {
    uint256 internal constant BUDGET = 10_000 * USD_UNIT;
    uint256 internal constant TOTAL = 600_000 * USD_UNIT;
    uint256 internal constant IM = 50_000 * USD_UNIT;
    uint64 internal constant L = 2 days; // loosening delay

    event ExitRequested(uint32 indexed account);

    function setUp() public override {
        super.setUp();
        _allowOutflow(USD, BUDGET);
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, USD, 200_000 * USD_UNIT);
        _deposit(carol, USD, 100_000 * USD_UNIT);
    }

    /// Finding 1: a compromised quorum plus a colluder whose (costless) exit request, made at IM 0, is older
    /// than E. The batch that moves every member's cash to it and posts its IM 1 restarts its clock, so
    /// forceWindDown waits E from that block and the stolen cash can leave only through the outflow budget,
    /// the withdrawal delay and the guardian's veto.
    function test_staleServedRequest_cannotOpenTheWindDownInTheBlockOfARaise() public {
        vm.prank(dave);
        vault.requestExit();
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        vm.prank(governor);
        vault.setLooseningDelay(30 days);
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(CAROL, USD, -100_000e6);
        b.transfers[3] = _t(DAVE, USD, int256(TOTAL));
        b.requirements = _one(_req(DAVE, 1, 0));
        vm.expectEmit(true, false, false, false);
        emit ExitRequested(DAVE); // the clock starts again
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.forceWindDown(DAVE);
        assertFalse(vault.woundDown(), "not wound down");
        // what it asks to withdraw now waits the delay, within which the guardian can send it back
        vm.prank(dave);
        uint256 id = vault.requestWithdrawal(USD, uint128(TOTAL - 1), dave);
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        assertEq(usd.balanceOf(dave), 0, "nothing left the vault");
    }

    /// Finding 2 (honest signers): a member that asked to leave while flat, waited E and trades again cannot
    /// open the wind-down for everyone: its new IM restarts the clock.
    function test_flatMemberTradingAgainRestartsItsClock() public {
        vm.prank(dave);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD + 1);
        _settle(_nextBatch());
        _deposit(dave, USD, 1_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 100 * USD_UNIT, 50 * USD_UNIT));
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.forceWindDown(DAVE);
        vm.warp(block.timestamp + ESCAPE_PERIOD); // unserved for E since the rise: now it opens
        vault.forceWindDown(DAVE);
        assertTrue(vault.woundDown(), "wound down");
    }

    /// Finding 5: served on paper (posted IM 0) but held in force by a loosening floor that rows (1, 0), (0, 0)
    /// renew before each delay ends. The IM in force is what counts: the forced exit opens E after the request.
    function test_floorRenewedEveryDelayDoesNotHoldTheExit() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        uint256 requested = block.timestamp;
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0)); // "served": posted 0, in force only after L
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(requested + ESCAPE_PERIOD))
        );
        vault.forceWindDown(ALICE); // not ExitServed: the IM in force is still IM
        while (block.timestamp < requested + ESCAPE_PERIOD) {
            vm.warp(block.timestamp + L - 1);
            b = _nextBatch();
            b.requirements = _two(_req(ALICE, 1, 0), _req(ALICE, 0, 0)); // the renewal: no restart either
            _settle(b);
        }
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "the held member forced its exit");
    }

    /// Finding 5, one batch: (huge, 0) then (0, 0) locks the whole balance in force for L while posting 0. Not
    /// served: an overdue request opens the wind-down.
    function test_hugeThenZeroIsNotServed() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD + 1);
        Batch.Data memory b = _nextBatch();
        b.requirements = _two(_req(ALICE, 1e30, 0), _req(ALICE, 0, 0));
        _settle(b);
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "wound down");
    }

    /// Served for less than a withdrawal delay (IM 0 in force, then raised again before what the member asked
    /// to withdraw could execute): not served, the clock keeps running from the request.
    function test_servedForLessThanTheWithdrawalDelayKeepsTheClock() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        uint256 requested = block.timestamp;
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0));
        _settle(b);
        vm.warp(block.timestamp + L + WITHDRAWAL_DELAY - 1); // in force 0 since L: one second short of D
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
        vault.forceWindDown(ALICE); // served now: IM 0 in force
        b = _nextBatch();
        b.requirements = _one(_req(ALICE, IM, IM / 2));
        _settle(b);
        vm.warp(requested + ESCAPE_PERIOD);
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "the raise did not restart the clock");
    }

    /// Served for a whole withdrawal delay, then raised: the clock restarts at the raise.
    function test_servedForTheWithdrawalDelayRestartsTheClock() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0));
        _settle(b);
        vm.warp(block.timestamp + L + WITHDRAWAL_DELAY);
        b = _nextBatch();
        b.requirements = _one(_req(ALICE, IM, IM / 2));
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.forceWindDown(ALICE);
    }

    /// An IM raised without cause on an exiting member (never served) opens the forced exit after E.
    function test_raisedRequirementOpensTheForcedExitAfterE() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            Batch.Data memory b = _nextBatch();
            b.requirements = _one(_req(ALICE, IM + i, IM / 2));
            _settle(b);
        }
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "wound down");
    }

    /// The default rows' module cannot be reached through the vault's fallback (the extension has no such
    /// selector) nor by calling the module directly (OnlyDelegated).
    function test_defaultsModuleNotReachableFromOutside() public {
        bytes32[] memory none = new bytes32[](0);
        bytes memory call = abi.encodeCall(VaultDefaults.applyRows, (none, none, none, true));
        (bool ok,) = address(vault).call(call);
        assertFalse(ok, "vault fallback -> extension: unknown selector");
        address defaults = vault.defaultsModule();
        vm.expectRevert(VaultDefaults.OnlyDelegated.selector);
        VaultDefaults(defaults).seizeForDebt(ALICE, USD, 1);
    }

    /// Alice with an IM in force and a loosening delay of L, as a member with open positions.
    function _holdAlice() private {
        vm.prank(governor);
        vault.setLooseningDelay(L);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, IM, IM / 2));
        _settle(b);
    }
}
