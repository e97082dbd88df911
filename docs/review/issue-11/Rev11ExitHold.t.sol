// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {VaultDefaults} from "../../src/VaultDefaults.sol";

/// @notice Review of issue 11 (rev11): can batches that keep landing hold an exiting member in?
contract Rev11ExitHoldTest is VaultFixture {
    uint256 internal constant IM = 50_000 * USD_UNIT;
    uint64 internal constant L = 2 days; // loosening delay

    function setUp() public override {
        super.setUp();
        vm.prank(governor);
        vault.setLooseningDelay(L);
        _deposit(alice, USD, 100_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, IM, IM / 2));
        _settle(b);
    }

    /// FINDING: a compromised quorum holds an exiting member's margin forever. It "serves" the exit by posting
    /// IM 0 (forceWindDown then reverts ExitServed), and before each loosening delay ends it lands one batch with
    /// two requirement rows for the member, (1, 0) then (0, 0): the first is an increase, so the second is a new
    /// decrease, which re-queues the requirement still in force (the old IM) for another L. Neither the forced exit
    /// nor the escape hatch (batches keep landing) ever opens, and the member's IM stays locked.
    function test_FINDING_quorumHoldsAnExitForeverWithIncreaseThenDecreaseRows() public {
        vm.prank(alice);
        vault.requestExit();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0)); // "served"
        _settle(b);
        uint256 start = block.timestamp;
        for (uint256 round; round < 12; ++round) {
            vm.warp(block.timestamp + L - 1);
            b = _nextBatch();
            b.requirements = _two(_req(ALICE, 1, 0), _req(ALICE, 0, 0));
            _settle(b);
            vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
            vault.forceWindDown(ALICE);
            vm.expectRevert();
            vault.triggerWindDown();
        }
        assertGt(block.timestamp, start + 3 * ESCAPE_PERIOD, "well past any escape period");
        (uint112 im,) = vault.requirementOf(ALICE);
        assertEq(uint256(im), IM, "the old IM is still in force");
        assertEq(vault.freeCollateral(ALICE), int256(50_000 * USD_UNIT), "half of alice's cash still held");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, int256(-1)));
        vault.requestWithdrawal(USD, uint128(50_000 * USD_UNIT + 1), alice);
    }

    /// Refused: an IM raised without cause on an exiting member opens the forced exit after E.
    function test_raisedRequirement_forcedExitOpensAfterE() public {
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

    /// Refused: the module's rows cannot be reached through the vault's fallback (the extension has no such
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

    /// FINDING (same root): forceWindDown reads the *posted* IM, margin checks the one *in force*. One batch with
    /// rows (huge, 0) then (0, 0) for an exiting member locks its whole balance (in force: huge, for L) while the
    /// posted IM 0 makes forceWindDown revert ExitServed; renewed every L as above, for ever.
    function test_FINDING_servedOnPaperLockedInForce() public {
        vm.prank(alice);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD + 1);
        Batch.Data memory b = _nextBatch();
        b.requirements = _two(_req(ALICE, 1e30, 0), _req(ALICE, 0, 0));
        _settle(b);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
        vault.forceWindDown(ALICE);
        assertTrue(vault.freeCollateral(ALICE) < -1e29, "everything held");
        vm.prank(alice);
        vm.expectRevert();
        vault.requestWithdrawal(USD, 1, alice);
    }
}
