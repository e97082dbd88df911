// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Issue 11 review, finding 7: a debit beyond free cash reaches the member's pending withdrawals, so a
/// request made (or relayed) between the signing and the inclusion of the batch booking its loss cannot make
/// that batch revert.
contract VaultDebitRecallTest is VaultFixture {
    function setUp() public override {
        super.setUp();
        _fundDefaultFund(20_000 * USD_UNIT);
        _deposit(alice, USD, 100_000 * USD_UNIT);
        _deposit(alice, WETH, 10 * WETH_UNIT);
        _markWeth();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 10_000 * USD_UNIT, 5_000 * USD_UNIT));
        _settle(b);
    }

    function test_loserRequestsWithdrawal_debitRecallsIt() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -95_000e6), _t(BOB, USD, 95_000e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(90_000 * USD_UNIT), alice);
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(id);
        vault.settle(b, sigs);
        assertEq(vault.balanceOf(ALICE, USD), 5_000 * USD_UNIT, "alice usd");
        assertEq(vault.balanceOf(BOB, USD), 95_000 * USD_UNIT, "bob usd");
    }

    function test_requestOfDebitedCollateral_debitRecallsIt() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, WETH, -int256(1 * WETH_UNIT)), _t(BOB, WETH, int256(1 * WETH_UNIT)));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(WETH, uint128(10 * WETH_UNIT), alice);
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(id);
        vault.settle(b, sigs);
        assertEq(vault.balanceOf(ALICE, WETH), 9 * WETH_UNIT, "alice weth");
        assertEq(vault.balanceOf(BOB, WETH), 1 * WETH_UNIT, "bob weth");
    }

    function test_relayedSignedRequest_debitRecallsIt() public {
        IVault.WithdrawalRequest memory r =
            IVault.WithdrawalRequest(alice, USD, uint128(90_000 * USD_UNIT), alice, 0, uint64(block.timestamp + 1 days));
        bytes memory sig = _withdrawalSig(ALICE_KEY, r);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -95_000e6), _t(BOB, USD, 95_000e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(address(0xBAD));
        vault.requestWithdrawalBySig(r, sig);
        vault.settle(b, sigs);
        assertEq(vault.balanceOf(BOB, USD), 95_000 * USD_UNIT, "bob usd");
    }

    /// A debit beyond cash + pending + what the fund can advance still reverts as before.
    function test_debitBeyondCashAndPending_stillReverts() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -125_000e6), _t(BOB, USD, 125_000e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(alice);
        vault.requestWithdrawal(USD, uint128(90_000 * USD_UNIT), alice);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.DefaultFundExhausted.selector, 20_000 * USD_UNIT, 25_000 * USD_UNIT)
        );
        vault.settle(b, sigs);
    }

    /// Only as many requests as the debit needs come back, newest first; other assets' requests stay pending.
    function test_recallsOnlyWhatTheDebitNeeds() public {
        vm.startPrank(alice);
        uint256 older = vault.requestWithdrawal(USD, uint128(30_000 * USD_UNIT), alice);
        uint256 weth = vault.requestWithdrawal(WETH, uint128(1 * WETH_UNIT), alice);
        uint256 newer = vault.requestWithdrawal(USD, uint128(20_000 * USD_UNIT), alice);
        vm.stopPrank();
        Batch.Data memory b = _nextBatch(); // a 60,000 loss against 50,000 free cash
        b.transfers = _two(_t(ALICE, USD, -60_000e6), _t(BOB, USD, 60_000e6));
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(newer);
        _settle(b);
        assertEq(uint256(vault.withdrawal(newer).status), 4, "newer recalled");
        assertEq(uint256(vault.withdrawal(older).status), 1, "older still pending");
        assertEq(uint256(vault.withdrawal(weth).status), 1, "weth still pending");
        assertEq(vault.balanceOf(ALICE, USD), 10_000 * USD_UNIT, "alice usd");
        assertEq(vault.debtOf(ALICE), 0, "no advance");
    }

    /// An approval, in the same batch, of a request the batch's debit recalled is skipped (RowAdjusted), not
    /// an error: transfers run before approvals, and the request is no longer pending.
    function test_approvalOfARequestTheBatchRecalls_skipped() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(90_000 * USD_UNIT), alice);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -95_000e6), _t(BOB, USD, 95_000e6));
        b.approvedWithdrawals = _approval(id);
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(id);
        vm.expectEmit();
        emit IVault.RowAdjusted(Batch.ROWS_APPROVALS, 0, bytes32(b.approvedWithdrawals[0]), 0);
        _settle(b);
        assertEq(uint256(vault.withdrawal(id).status), 4, "recalled");
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotPending.selector, id));
        vault.executeWithdrawal(id);
    }

    /// Refused (the review's PoC): a third party's deposit or the owner's cancel does not break a signed batch.
    function test_depositAndCancelBetweenSigningAndInclusion_batchLands() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(1_000 * USD_UNIT), alice);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -50_000e6), _t(BOB, USD, 50_000e6));
        b.approvedWithdrawals = _approval(id);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        _deposit(carol, USD, 1);
        vm.prank(alice);
        vault.cancelWithdrawal(id);
        vm.expectEmit();
        emit IVault.RowAdjusted(Batch.ROWS_APPROVALS, 0, bytes32(b.approvedWithdrawals[0]), 0);
        vault.settle(b, sigs);
    }
}
