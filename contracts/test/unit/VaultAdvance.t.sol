// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice The default fund's liquidity advance: a member's cash debit beyond its cash becomes debt, repaid
/// first from its next cash (batch credit, deposit, cancelled withdrawal).
contract VaultAdvanceTest is VaultFixture {
    function setUp() public override {
        super.setUp();
        _fundDefaultFund(500e6);
        _deposit(alice, USD, 100e6);
        _deposit(alice, WETH, 1e18);
        _markWeth();
    }

    function _loseCash(uint32 account, uint256 amount) internal {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(account, USD, -int256(amount)), _t(BOB, USD, int256(amount)));
        _settle(b);
    }

    function test_advance_drawsFromTheDefaultFund() public {
        vm.expectEmit();
        emit IVault.LiquidityAdvanced(ALICE, 150e6);
        _loseCash(ALICE, 250e6);
        assertEq(vault.balanceOf(ALICE, USD), 0, "cash to zero");
        assertEq(vault.debtOf(ALICE), 150e6, "debt");
        assertEq(vault.balanceOf(FUND, USD), 350e6, "fund paid");
        assertEq(vault.balanceOf(BOB, USD), 250e6, "creditor paid in full");
        assertEq(vault.totalOwed(USD), 600e6, "owed unchanged");
        // Debt counts against the member: 1600 haircut weth - 150 debt.
        assertEq(vault.freeCollateral(ALICE), int256(1450e6), "free collateral");
        _assertSolvent();
    }

    function test_advance_revertsWhenTheFundCannotPay() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -701e6), _t(BOB, USD, 701e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.DefaultFundExhausted.selector, uint256(500e6), uint256(601e6)));
        vault.settle(b, sigs);
    }

    function test_advance_accumulates() public {
        _loseCash(ALICE, 150e6);
        _loseCash(ALICE, 70e6);
        assertEq(vault.debtOf(ALICE), 120e6, "debt");
        assertEq(vault.balanceOf(FUND, USD), 380e6, "fund");
    }

    function test_repay_byBatchCreditFirst() public {
        _loseCash(ALICE, 250e6); // debt 150
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(BOB, USD, -200e6), _t(ALICE, USD, 200e6));
        vm.expectEmit();
        emit IVault.AdvanceRepaid(ALICE, 150e6);
        _settle(b);
        assertEq(vault.debtOf(ALICE), 0, "debt repaid");
        assertEq(vault.balanceOf(ALICE, USD), 50e6, "rest to cash");
        assertEq(vault.balanceOf(FUND, USD), 500e6, "fund made whole");
        _assertSolvent();
    }

    function test_repay_partial() public {
        _loseCash(ALICE, 250e6); // debt 150
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(BOB, USD, -40e6), _t(ALICE, USD, 40e6));
        _settle(b);
        assertEq(vault.debtOf(ALICE), 110e6, "debt");
        assertEq(vault.balanceOf(ALICE, USD), 0, "cash");
    }

    function test_repay_byDeposit() public {
        _loseCash(ALICE, 250e6); // debt 150
        usd.mint(alice, 200e6);
        vm.startPrank(alice);
        usd.approve(address(vault), 200e6);
        vm.expectEmit();
        emit IVault.AdvanceRepaid(ALICE, 150e6);
        vault.deposit(alice, USD, 200e6);
        vm.stopPrank();
        assertEq(vault.debtOf(ALICE), 0, "debt");
        assertEq(vault.balanceOf(ALICE, USD), 50e6, "cash");
        assertEq(vault.balanceOf(FUND, USD), 500e6, "fund");
        assertEq(vault.totalOwed(USD), 800e6, "owed");
        _assertSolvent();
    }

    /// A loss beyond the cash first brings the pending request back (issue 11, finding 7): no advance.
    function test_loss_recallsPendingBeforeAdvance() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 100e6, alice);
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(id);
        _loseCash(ALICE, 60e6); // cash is pending: the request comes back, then pays the 60
        assertEq(vault.debtOf(ALICE), 0, "no advance");
        assertEq(vault.balanceOf(ALICE, USD), 40e6, "cash");
        assertEq(vault.balanceOf(FUND, USD), 500e6, "fund");
        assertEq(uint256(vault.withdrawal(id).status), 4, "recalled");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotPending.selector, id));
        vault.cancelWithdrawal(id);
    }

    function test_debt_blocksCollateralWithdrawal() public {
        _loseCash(ALICE, 1100e6 - 500e6); // debt 500
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 1000e6, 500e6));
        _settle(b);
        // 1600 haircut weth - 500 debt - 1000 IM = 100 free: 0.0625 weth at 1600.
        assertEq(vault.freeCollateral(ALICE), int256(100e6), "free");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, -int256(60e6)));
        vault.requestWithdrawal(WETH, 0.1e18, alice);
        vm.prank(alice);
        vault.requestWithdrawal(WETH, 0.0625e18, alice);
    }

    function test_advance_notForSystemAccounts() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(FUND, USD, -501e6), _t(BOB, USD, 501e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientBalance.selector, FUND, USD, uint256(500e6), uint256(501e6)));
        vault.settle(b, sigs);
    }
}
