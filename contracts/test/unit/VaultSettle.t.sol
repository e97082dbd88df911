// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice settle(): the header, marks, requirements, transfers, approvals and the record it leaves.
contract VaultSettleTest is VaultFixture {
    function setUp() public override {
        super.setUp();
        _deposit(alice, USD, 1000e6);
        _deposit(bob, USD, 1000e6);
    }

    // ---------------------------------------------------------------- happy path and record

    function test_settle_appliesTransfersAndRecordsTheChain() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](3);
        b.transfers[0] = _t(ALICE, USD, -150e6);
        b.transfers[1] = _t(BOB, USD, 149e6);
        b.transfers[2] = _t(FEE, USD, 1e6);
        bytes32 digest = vault.batchDigest(b);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());

        vm.expectEmit();
        emit IVault.BatchSettled(1, digest, b.fillsRoot, b.asOf, 3);
        vault.settle(b, sigs);

        assertEq(vault.balanceOf(ALICE, USD), 850e6, "alice");
        assertEq(vault.balanceOf(BOB, USD), 1149e6, "bob");
        assertEq(vault.balanceOf(FEE, USD), 1e6, "fee");
        assertEq(uint256(vault.lastSequence()), 1, "sequence");
        assertEq(vault.lastBatchHash(), digest, "hash chain");
        assertEq(uint256(vault.lastAsOf()), b.asOf, "asOf");
        assertEq(uint256(vault.lastSettledAt()), block.timestamp, "settledAt");
        assertEq(vault.totalOwed(USD), 2000e6, "zero-sum batch leaves totalOwed unchanged");
        _assertSolvent();
    }

    function test_settle_chainsBatches() public {
        _settle(_nextBatch());
        vm.warp(block.timestamp + 5);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(BOB, USD, -1e6), _t(ALICE, USD, 1e6));
        _settle(b);
        assertEq(uint256(vault.lastSequence()), 2, "sequence");
        assertEq(vault.balanceOf(ALICE, USD), 1001e6, "alice");
    }

    function test_settle_sameAccountManyRows() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -10e6);
        b.transfers[1] = _t(ALICE, USD, -10e6);
        b.transfers[2] = _t(BOB, USD, 15e6);
        b.transfers[3] = _t(BOB, USD, 5e6);
        _settle(b);
        assertEq(vault.balanceOf(ALICE, USD), 980e6, "alice");
        assertEq(vault.balanceOf(BOB, USD), 1020e6, "bob");
    }

    function test_settle_emptyBatchExtendsTheChain() public {
        _settle(_nextBatch());
        assertEq(uint256(vault.lastSequence()), 1, "sequence");
    }

    function test_settle_threeOfThreeSignaturesAccepted() public {
        Batch.Data memory b = _nextBatch();
        vault.settle(b, _sign(b, signerKeys));
        assertEq(uint256(vault.lastSequence()), 1, "sequence");
    }

    // ---------------------------------------------------------------- header

    function test_settle_revertsOnBadSequence() public {
        Batch.Data memory b = _nextBatch();
        b.sequence = 2;
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.BadSequence.selector, uint64(1), uint64(2)));
        vault.settle(b, sigs);
    }

    function test_settle_revertsOnBadPrevHash() public {
        Batch.Data memory b = _nextBatch();
        b.prevHash = keccak256("not the last batch");
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.BadPrevHash.selector, bytes32(0), b.prevHash));
        vault.settle(b, sigs);
    }

    function test_settle_revertsOnStaleAsOf() public {
        vm.warp(block.timestamp + 100);
        _settle(_nextBatch());
        Batch.Data memory b = _nextBatch();
        b.asOf = vault.lastAsOf() - 1;
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.StaleAsOf.selector, vault.lastAsOf(), b.asOf));
        vault.settle(b, sigs);
    }

    function test_settle_acceptsEqualAsOf() public {
        _settle(_nextBatch());
        _settle(_nextBatch()); // same block, same asOf
        assertEq(uint256(vault.lastSequence()), 2, "sequence");
    }

    function test_settle_revertsOnFutureAsOf() public {
        Batch.Data memory b = _nextBatch();
        b.asOf = uint64(block.timestamp + 1);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.FutureAsOf.selector, uint64(block.timestamp), b.asOf));
        vault.settle(b, sigs);
    }

    // ---------------------------------------------------------------- marks

    function test_marks_posted() public {
        Batch.Data memory b = _nextBatch();
        b.marks = _two(_mk(WETH, 1500, 2500e6), _mk(USD, 0, USD_UNIT));
        _settle(b);
        (uint128 price, uint16 haircut) = vault.markOf(WETH);
        assertEq(uint256(price), 2500e6, "weth price");
        assertEq(uint256(haircut), 1500, "weth haircut");
        (price,) = vault.markOf(USD);
        assertEq(uint256(price), USD_UNIT, "settlement asset at par (its price is fixed)");
    }

    /// A listed asset starts at governance's listing mark (issue 11, finding 9), never unpriced.
    function test_marks_newAssetStartsAtItsListingMark() public view {
        (uint128 price, uint16 haircut) = vault.markOf(WETH);
        assertEq(uint256(price), WETH_LIST_PRICE, "price");
        assertEq(uint256(haircut), WETH_LIST_HAIRCUT, "haircut");
        (price,) = vault.markOf(USD);
        assertEq(uint256(price), 1e6, "usd at one");
    }

    function test_marks_revertOnUnknownAsset() public {
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(7, 0, 1));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAsset.selector, uint16(7)));
        vault.settle(b, sigs);
    }

    function test_marks_revertOnInvalidHaircut() public {
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 10_001, 1));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidHaircut.selector, WETH, uint16(10_001)));
        vault.settle(b, sigs);
    }

    function test_marks_fullHaircutAllowed() public {
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 10_000, 1));
        _settle(b);
        (, uint16 haircut) = vault.markOf(WETH);
        assertEq(uint256(haircut), 10_000, "haircut");
    }

    function test_marks_revertOnReservedBits() public {
        Batch.Data memory b = _nextBatch();
        bytes32 row = _mk(WETH, 0, 1) | bytes32(uint256(1) << 200);
        b.marks = _one(row);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.MalformedRow.selector, row));
        vault.settle(b, sigs);
    }

    // ---------------------------------------------------------------- requirements

    function test_requirements_posted() public {
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 300e6, 200e6));
        _settle(b);
        (uint112 im, uint112 mm) = vault.requirementOf(ALICE);
        assertEq(uint256(im), 300e6, "im");
        assertEq(uint256(mm), 200e6, "mm");
        assertEq(vault.freeCollateral(ALICE), int256(700e6), "free collateral");
    }

    function test_requirements_revertForSystemAccount() public {
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(FUND, 1, 1));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidRequirement.selector, FUND, uint112(1), uint112(1)));
        vault.settle(b, sigs);
    }

    function test_requirements_revertForUnknownAccount() public {
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(99, 1, 1));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidRequirement.selector, uint32(99), uint112(1), uint112(1)));
        vault.settle(b, sigs);
    }

    function test_requirements_revertWhenMaintenanceAboveInitial() public {
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 1, 2));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidRequirement.selector, ALICE, uint112(1), uint112(2)));
        vault.settle(b, sigs);
    }

    // ---------------------------------------------------------------- transfers

    function test_transfers_revertOnNonZeroSum() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -10e6), _t(BOB, USD, 11e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.NonZeroSum.selector, USD, int256(1e6)));
        vault.settle(b, sigs);
    }

    function test_transfers_revertOnNonZeroSumOfSecondAsset() public {
        _deposit(alice, WETH, 1e18);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, WETH, -1e18), _t(BOB, USD, 0));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.NonZeroSum.selector, WETH, -int256(1e18)));
        vault.settle(b, sigs);
    }

    function test_transfers_sumIsPerAsset() public {
        _deposit(alice, WETH, 1e18);
        Batch.Data memory b = _nextBatch();
        // A usd credit cannot pay for a weth debit: each asset must net to zero on its own.
        b.transfers = _two(_t(ALICE, WETH, -1e18), _t(BOB, USD, 1e18));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.NonZeroSum.selector, USD, int256(1e18)));
        vault.settle(b, sigs);
    }

    function test_transfers_collateralConversion() public {
        _deposit(alice, WETH, 2e18);
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, WETH, -1e18);
        b.transfers[1] = _t(BOB, WETH, 1e18);
        b.transfers[2] = _t(BOB, USD, -500e6);
        b.transfers[3] = _t(ALICE, USD, 500e6);
        _settle(b);
        assertEq(vault.balanceOf(BOB, WETH), 1e18, "bob weth");
        assertEq(vault.balanceOf(ALICE, USD), 1500e6, "alice usd");
        _assertSolvent();
    }

    function test_transfers_revertOnAccountZero() public {
        _expectMalformed(_t(0, USD, 0));
    }

    function test_transfers_revertOnUnknownAccount() public {
        _expectMalformed(_t(vault.accountCount() + 1, USD, 0));
    }

    function test_transfers_revertOnUnknownAsset() public {
        _expectMalformed(_t(ALICE, 2, 0));
    }

    function test_transfers_revertOnReservedBits() public {
        _expectMalformed(_t(ALICE, USD, 0) | bytes32(uint256(1) << 128));
        _expectMalformed(_t(ALICE, USD, 0) | bytes32(uint256(1) << 207));
    }

    function test_transfers_lastAccountAccepted() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -1e6), _t(DAVE, USD, 1e6));
        _settle(b);
        assertEq(vault.balanceOf(DAVE, USD), 1e6, "dave");
    }

    function test_transfers_systemAccountCannotGoNegative() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(FEE, USD, -1), _t(ALICE, USD, 1));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientBalance.selector, FEE, USD, uint256(0), uint256(1)));
        vault.settle(b, sigs);
    }

    function test_transfers_collateralAssetCannotGoNegative() public {
        _deposit(alice, WETH, 1e18);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, WETH, -2e18), _t(BOB, WETH, 2e18));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(
            abi.encodeWithSelector(IVault.InsufficientBalance.selector, ALICE, WETH, uint256(1e18), uint256(2e18))
        );
        vault.settle(b, sigs);
    }

    function test_transfers_revertOnBalanceOverflow() public {
        // Credits of 2**127 - 1 to one word overflow its 128-bit balance at the second row, before the
        // (non-zero) sum is ever checked.
        Batch.Data memory b = _nextBatch();
        int256 big = int256(uint256(type(uint128).max >> 1));
        b.transfers = new bytes32[](3);
        b.transfers[0] = _t(BOB, USD, big);
        b.transfers[1] = _t(BOB, USD, big);
        b.transfers[2] = _t(BOB, USD, big);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        uint256 expected = 1000e6 + 2 * uint256(big); // the second credit overflows
        vm.expectRevert(abi.encodeWithSelector(IVault.AmountTooLarge.selector, expected));
        vault.settle(b, sigs);
    }

    // ---------------------------------------------------------------- approvals

    function test_approvals_makeAWithdrawalReadyNow() public {
        _allowOutflow(USD, 1_000e6);
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 100e6, alice);
        Batch.Data memory b = _nextBatch();
        b.approvedWithdrawals = _approval(id);
        vm.expectEmit();
        emit IVault.WithdrawalApproved(id);
        _settle(b);
        assertEq(uint256(vault.withdrawal(id).readyAt), block.timestamp, "ready now");
        vault.executeWithdrawal(id);
        assertEq(usd.balanceOf(alice), 100e6, "paid");
    }

    function test_approvals_revertOnUnknownWithdrawal() public {
        Batch.Data memory b = _nextBatch();
        b.approvedWithdrawals = _approval(42);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotFound.selector, uint256(42)));
        vault.settle(b, sigs);
    }

    /// @dev Attack (issue 11): the owner cancels a withdrawal the signed batch approves, to make the batch
    /// revert. The approval is skipped with RowAdjusted; the batch lands.
    function test_approvals_skipACancelledWithdrawal() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 100e6, alice);
        Batch.Data memory b = _nextBatch();
        b.approvedWithdrawals = _approval(id);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(alice);
        vault.cancelWithdrawal(id); // between signing and inclusion
        vm.expectEmit();
        emit IVault.RowAdjusted(Batch.ROWS_APPROVALS, 0, bytes32(b.approvedWithdrawals[0]), 0);
        vault.settle(b, sigs);
        assertEq(uint256(vault.lastSequence()), 1, "the batch landed");
        assertEq(uint256(vault.withdrawal(id).status), 3, "still cancelled");
    }

    /// @dev Attack (issue 11): anyone executes an approved withdrawal once its delay has passed, before the
    /// batch lands. Skipped likewise.
    function test_approvals_skipAnExecutedWithdrawal() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 100e6, alice);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        Batch.Data memory b = _nextBatch();
        b.approvedWithdrawals = _approval(id);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vault.executeWithdrawal(id);
        vm.expectEmit();
        emit IVault.RowAdjusted(Batch.ROWS_APPROVALS, 0, bytes32(b.approvedWithdrawals[0]), 0);
        vault.settle(b, sigs);
        assertEq(uint256(vault.lastSequence()), 1, "the batch landed");
    }

    /// @dev An approval binds (id, account, asset, amount): naming the id with any other field reverts.
    function test_approvals_bindAccountAssetAndAmount() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 100e6, alice);
        uint256[3] memory wrong = [
            Batch.packApproval(uint64(id), BOB, USD, 100e6),
            Batch.packApproval(uint64(id), ALICE, WETH, 100e6),
            Batch.packApproval(uint64(id), ALICE, USD, 100e6 + 1)
        ];
        for (uint256 k; k < wrong.length; ++k) {
            Batch.Data memory b = _nextBatch();
            b.approvedWithdrawals = new uint256[](1);
            b.approvedWithdrawals[0] = wrong[k];
            IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
            vm.expectRevert(abi.encodeWithSelector(IVault.ApprovalMismatch.selector, id));
            vault.settle(b, sigs);
        }
        Batch.Data memory c = _nextBatch();
        c.approvedWithdrawals = new uint256[](1);
        c.approvedWithdrawals[0] = Batch.packApproval(uint64(id), ALICE, USD, 100e6) | (uint256(1) << 130);
        IVault.SignerSignature[] memory sigs2 = _sign(c, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.MalformedRow.selector, bytes32(c.approvedWithdrawals[0])));
        vault.settle(c, sigs2);
    }

    // ---------------------------------------------------------------- expiry and the settlement mark

    /// @dev Attack (issue 11): signed batches never expired. One past its validUntil reverts.
    function test_expiredBatch_BatchExpired() public {
        Batch.Data memory b = _nextBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.warp(uint256(b.validUntil) + 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.BatchExpired.selector, b.validUntil, b.validUntil + 1));
        vault.settle(b, sigs);
        vm.warp(uint256(b.validUntil)); // the last second is still valid
        vault.settle(b, sigs);
    }

    /// @dev Attack (issue 11): the settlement asset could be re-marked. Its price is fixed; its haircut may
    /// be posted.
    function test_settlementAssetMark_SettlementMarkFixed() public {
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(USD, 0, 2 * USD_UNIT));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.SettlementMarkFixed.selector, uint128(2 * USD_UNIT)));
        vault.settle(b, sigs);
        b.marks = _one(_mk(USD, 100, USD_UNIT));
        _settle(b);
        (uint128 price, uint16 haircut) = vault.markOf(USD);
        assertEq(uint256(price), USD_UNIT, "price stays 1");
        assertEq(uint256(haircut), 100, "haircut posted");
    }

    // ---------------------------------------------------------------- helpers

    function _expectMalformed(bytes32 row) internal {
        Batch.Data memory b = _nextBatch();
        b.transfers = _one(row);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.MalformedRow.selector, row));
        vault.settle(b, sigs);
    }
}
