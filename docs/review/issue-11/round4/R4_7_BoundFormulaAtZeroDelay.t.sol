// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 7: the trust model's bound `B_a × (⌈D/P⌉ + 1)` is false for small D. It counts only
/// approvals, assuming the guardian vetoes within D whatever else the colluder requests; nothing enforces a
/// D the guardian can act in. The constructor and `setWithdrawalDelay` accept 0 (settings: `withdrawal_delay_s`
/// default 3600, `ge=0`). With D = 0 and B = 0 (a new asset's default) the formula says 0; everything leaves
/// in the block of the bad batch, with no approval at all.
contract Rev11R4BoundFormulaAtZeroDelay is VaultFixture {
    function setUp() public override {
        super.setUp();
        vm.prank(governor);
        vault.setWithdrawalDelay(0); // a parameter the trust model's formula takes as input
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, USD, 200_000 * USD_UNIT);
    }

    function test_harm_formulaSaysZeroEverythingLeaves() public {
        (uint112 budget,,) = vault.outflowOf(USD);
        assertEq(budget, 0, "B = 0: the formula's bound is B x (0 + 1) = 0");
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](3);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(DAVE, USD, 500_000e6);
        _settle(b);
        vm.startPrank(dave);
        uint256 id = vault.requestWithdrawal(USD, uint128(500_000 * USD_UNIT), dave);
        vault.executeWithdrawal(id); // same block: the guardian never had a window
        vm.stopPrank();
        assertEq(usd.balanceOf(dave), 500_000 * USD_UNIT, "all of it left");
    }
}
