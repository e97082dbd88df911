// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Wind-down and withdrawals still pending when it starts.
contract WindDownPendingTest is VaultFixture {
    /// Alice owes the default fund (a cash debit it advanced) and has a withdrawal of WETH pending that
    /// the margin check refuses after the mark falls. No batch lands afterwards; the vault winds down.
    function _setUpDebtorWithPendingWithdrawal() internal returns (uint256 id) {
        _markWeth(); // 2000 usd, 20% haircut
        _fundDefaultFund(10_000 * USD_UNIT);
        _deposit(alice, WETH, 10 * WETH_UNIT); // 16,000 usd of haircut value
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -4_000e6), _t(BOB, USD, 4_000e6)); // advanced: debt 4,000
        _settle(b);
        assertEq(vault.debtOf(ALICE), 4_000e6, "debt");
        vm.prank(alice);
        id = vault.requestWithdrawal(WETH, uint128(5 * WETH_UNIT), alice); // leaves 8,000 >= 4,000 debt
        b = _nextBatch();
        b.marks = _one(_mk(WETH, 2000, 500 * USD_UNIT)); // weth falls to 500: 5 weth = 2,000 < debt
        _settle(b);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, int256(2_000e6) - 4_000e6));
        vault.executeWithdrawal(id);
        vm.warp(vault.lastSettledAt() + ESCAPE_PERIOD);
        vault.triggerWindDown();
    }

    /// Cancelling the pending withdrawal and withdrawing in wind-down nets the debt: the default fund gets
    /// the collateral that covers its advance (all 10 weth at 500 = 5,000 >= 4,000 → 8 weth seized).
    function test_cancelThenWindDownWithdrawNetsDebt() public {
        uint256 id = _setUpDebtorWithPendingWithdrawal();
        vm.prank(alice);
        vault.cancelWithdrawal(id);
        vm.prank(alice);
        vault.windDownWithdraw(WETH, alice);
        assertEq(vault.debtOf(ALICE), 0, "debt covered");
        assertEq(vault.balanceOf(FUND, WETH), 8 * WETH_UNIT, "fund got 8 weth");
        assertEq(weth.balanceOf(alice), 2 * WETH_UNIT, "alice got the rest");
    }

    /// FINDING (fixed): after wind-down `executeWithdrawal` skipped the margin check and took a pending
    /// withdrawal out in full, ahead of the debt that `windDownWithdraw` would net. Now a wind-down execution
    /// seizes for the debt first, exactly as `windDownWithdraw`: the pending 5 weth (2,500 at 500) all go to
    /// the default fund, the remaining 1,500 of debt takes 3 of the 5 weth left, and alice gets 2 weth: the
    /// same outcome as cancelling first (fund 8 weth, debt 0, alice 2 weth).
    function test_windDownExecutionNetsDebt() public {
        uint256 id = _setUpDebtorWithPendingWithdrawal();
        vm.expectEmit();
        emit IVault.WindDownWithdrawal(ALICE, WETH, alice, 0, 5 * WETH_UNIT);
        vault.executeWithdrawal(id); // anyone may call it; no delay, no margin check in wind-down
        assertEq(weth.balanceOf(alice), 0, "the pending 5 weth were seized for the debt");
        assertEq(vault.debtOf(ALICE), 1_500e6, "2,500 of the debt covered");
        vm.prank(alice);
        vault.windDownWithdraw(WETH, alice);
        assertEq(vault.balanceOf(FUND, WETH), 8 * WETH_UNIT, "fund got 8 weth");
        assertEq(vault.debtOf(ALICE), 0, "debt covered");
        assertEq(weth.balanceOf(alice), 2 * WETH_UNIT, "alice got the rest");
        assertEq(vault.totalOwed(WETH), 8 * WETH_UNIT, "owed: the fund's 8 weth");
    }

    /// A pending withdrawal partly needed for the debt: the rest is paid out.
    function test_windDownExecutionPaysWhatTheDebtLeaves() public {
        uint256 id = _setUpDebtorWithPendingWithdrawal();
        vm.prank(alice);
        vault.windDownWithdraw(WETH, alice); // 5 weth left at 500: all seized, covering 2,500
        assertEq(vault.debtOf(ALICE), 1_500e6, "1,500 left");
        vault.executeWithdrawal(id); // 1,500 at 500 = 3 of the pending 5 weth
        assertEq(vault.debtOf(ALICE), 0, "debt covered");
        assertEq(vault.balanceOf(FUND, WETH), 8 * WETH_UNIT, "fund got 8 weth");
        assertEq(weth.balanceOf(alice), 2 * WETH_UNIT, "alice got 2 weth");
    }
}
