// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {MockERC1271Wallet} from "../utils/MockERC1271Wallet.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Deposits, withdrawal requests (direct and signed), execution with the margin check, cancellation.
contract VaultWithdrawalsTest is VaultFixture {
    function setUp() public override {
        super.setUp();
        _deposit(alice, USD, 1000e6);
    }

    // ---------------------------------------------------------------- deposits

    function test_deposit_creditsAndTracksTotalOwed() public {
        usd.mint(carol, 50e6);
        vm.startPrank(carol);
        usd.approve(address(vault), 50e6);
        vm.expectEmit();
        emit IVault.Deposited(ALICE, USD, carol, 50e6);
        vault.deposit(alice, USD, 50e6); // anyone may pay for a member
        vm.stopPrank();
        assertEq(vault.balanceOf(ALICE, USD), 1050e6, "balance");
        assertEq(vault.totalOwed(USD), 1050e6, "owed");
        _assertSolvent();
    }

    function test_deposit_revertsForNonMember() public {
        vm.expectRevert(abi.encodeWithSelector(IVault.NotMember.selector, address(0x1234)));
        vault.deposit(address(0x1234), USD, 1);
    }

    function test_deposit_revertsOnZeroAmount() public {
        vm.expectRevert(IVault.ZeroAmount.selector);
        vault.deposit(alice, USD, 0);
    }

    function test_deposit_revertsAbove128Bits() public {
        uint256 amount = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(IVault.AmountTooLarge.selector, amount));
        vault.deposit(alice, USD, amount);
    }

    /// @dev Attack (issue 11): a pause stopped deposits, so a member could not cure a margin call.
    function test_deposit_allowedWhenPaused() public {
        vm.prank(guardian);
        vault.pause();
        _deposit(alice, USD, 1e6);
        assertEq(vault.balanceOf(ALICE, USD), 1000e6 + 1e6, "cured while paused");
    }

    // ---------------------------------------------------------------- requests

    function test_request_movesBalanceToPending() public {
        uint64 readyAt = uint64(block.timestamp) + WITHDRAWAL_DELAY;
        vm.expectEmit();
        emit IVault.WithdrawalRequested(1, ALICE, USD, 300e6, carol, readyAt);
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 300e6, carol);
        assertEq(id, 1, "id");
        assertEq(vault.balanceOf(ALICE, USD), 700e6, "balance");
        assertEq(vault.totalOwed(USD), 1000e6, "pending still owed");
        IVault.Withdrawal memory w = vault.withdrawal(id);
        assertEq(uint256(w.account), ALICE, "account");
        assertEq(uint256(w.amount), 300e6, "amount");
        assertEq(w.to, carol, "to");
        assertEq(uint256(w.readyAt), readyAt, "readyAt");
        assertEq(uint256(w.status), 1, "pending");
    }

    function test_request_revertsForNonMember() public {
        vm.prank(address(0x1234));
        vm.expectRevert(abi.encodeWithSelector(IVault.NotMember.selector, address(0x1234)));
        vault.requestWithdrawal(USD, 1, carol);
    }

    function test_request_revertsOnZeroAmount() public {
        vm.prank(alice);
        vm.expectRevert(IVault.ZeroAmount.selector);
        vault.requestWithdrawal(USD, 0, alice);
    }

    function test_request_revertsOnZeroRecipient() public {
        vm.prank(alice);
        vm.expectRevert(IVault.ZeroAddress.selector);
        vault.requestWithdrawal(USD, 1, address(0));
    }

    function test_request_revertsOnUnknownAsset() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAsset.selector, uint16(9)));
        vault.requestWithdrawal(9, 1, alice);
    }

    function test_request_revertsAboveBalance() public {
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.InsufficientBalance.selector, ALICE, USD, uint256(1000e6), uint256(1001e6))
        );
        vault.requestWithdrawal(USD, 1001e6, alice);
    }

    function test_request_revertsBelowInitialMargin() public {
        _setIm(ALICE, 400e6);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, -int256(1e6)));
        vault.requestWithdrawal(USD, 601e6, alice);
        vm.prank(alice);
        vault.requestWithdrawal(USD, 600e6, alice); // exactly at IM is fine
    }

    function test_margin_countsHaircutCollateral() public {
        _deposit(alice, WETH, 1e18); // listed at 2000 usd, 20% haircut
        assertEq(vault.freeCollateral(ALICE), int256(1000e6 + 1600e6), "valued at the listing mark");
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 5000, 1000 * USD_UNIT));
        _settle(b);
        assertEq(vault.freeCollateral(ALICE), int256(1000e6 + 500e6), "valued at the last mark");
        _markWeth(); // 2000 usd, 20% haircut
        assertEq(vault.freeCollateral(ALICE), int256(1000e6 + 1600e6), "haircut value");
        _setIm(ALICE, 2000e6);
        // The cash may go down to 400: 400 + 1600 = IM.
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, -int256(1)));
        vault.requestWithdrawal(USD, 600e6 + 1, alice);
        vm.prank(alice);
        vault.requestWithdrawal(USD, 600e6, alice);
    }

    function test_margin_roundsDownAgainstTheMember() public {
        _deposit(alice, WETH, 1); // 1 wei at 2000 usd/eth with 20% haircut is worth 0.0000000000016 usd
        _markWeth();
        assertEq(vault.freeCollateral(ALICE), int256(1000e6), "rounds down to zero");
    }

    // ---------------------------------------------------------------- execution

    function test_execute_afterDelay() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 300e6, carol);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.WithdrawalNotReady.selector, id, uint64(block.timestamp) + WITHDRAWAL_DELAY)
        );
        vault.executeWithdrawal(id);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.expectEmit();
        emit IVault.WithdrawalExecuted(id);
        vault.executeWithdrawal(id); // anyone may execute
        assertEq(usd.balanceOf(carol), 300e6, "paid to `to`");
        assertEq(vault.totalOwed(USD), 700e6, "owed");
        assertEq(uint256(vault.withdrawal(id).status), 2, "executed");
        _assertSolvent();
    }

    function test_execute_revertsForUnknownId() public {
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotFound.selector, uint256(7)));
        vault.executeWithdrawal(7);
    }

    function test_execute_revertsTwice() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 1e6, alice);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vault.executeWithdrawal(id);
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotPending.selector, id));
        vault.executeWithdrawal(id);
    }

    function test_execute_rechecksMarginAgainstNewRequirements() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 500e6, alice);
        _setIm(ALICE, 600e6); // positions grew meanwhile: the remaining 500 no longer cover IM
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, -int256(100e6)));
        vault.executeWithdrawal(id);
        // The member cancels, or tops up; here it tops up and the withdrawal goes through.
        _deposit(alice, USD, 100e6);
        vault.executeWithdrawal(id);
    }

    /// @dev Attack (issue 11): withdrawal execution went on through a pause (which stopped the batches that
    /// record losses). Now executions wait for the pause's end plus the delay left when it began.
    function test_execute_heldByPause() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 1e6, alice);
        vm.prank(guardian);
        vault.pause();
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.executeWithdrawal(id);
        vm.prank(alice);
        vault.requestWithdrawal(USD, 1e6, alice); // requests are not blocked
        vm.prank(governor);
        vault.unpause(); // after exactly one delay of pause: one delay still to wait
        vm.expectRevert(
            abi.encodeWithSelector(IVault.WithdrawalNotReady.selector, id, uint64(block.timestamp + WITHDRAWAL_DELAY))
        );
        vault.executeWithdrawal(id);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vault.executeWithdrawal(id);
    }

    // ---------------------------------------------------------------- cancellation

    function test_cancel_returnsTheAmount() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 300e6, alice);
        vm.expectEmit();
        emit IVault.WithdrawalCancelled(id);
        vm.prank(alice);
        vault.cancelWithdrawal(id);
        assertEq(vault.balanceOf(ALICE, USD), 1000e6, "balance");
        assertEq(uint256(vault.withdrawal(id).status), 3, "cancelled");
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotPending.selector, id));
        vault.executeWithdrawal(id);
    }

    function test_cancel_ownerOnly() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 300e6, alice);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IVault.NotWithdrawalOwner.selector, id, bob));
        vault.cancelWithdrawal(id);
    }

    function test_cancel_revertsForUnknownId() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotFound.selector, uint256(3)));
        vault.cancelWithdrawal(3);
    }

    // ---------------------------------------------------------------- by signature

    function _req(uint256 nonce, uint64 deadline) internal view returns (IVault.WithdrawalRequest memory) {
        return IVault.WithdrawalRequest(alice, USD, 100e6, dave, nonce, deadline);
    }

    function test_bySig_relayedRequest() public {
        IVault.WithdrawalRequest memory r = _req(0, uint64(block.timestamp + 1 hours));
        bytes memory sig = _withdrawalSig(ALICE_KEY, r);
        vm.prank(bob); // any relayer
        uint256 id = vault.requestWithdrawalBySig(r, sig);
        assertEq(vault.withdrawalNonce(alice), 1, "nonce");
        assertEq(vault.withdrawal(id).to, dave, "to");
        assertEq(vault.balanceOf(ALICE, USD), 900e6, "balance");
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidNonce.selector, uint256(1), uint256(0)));
        vault.requestWithdrawalBySig(r, sig); // no replay
    }

    function test_bySig_revertsWhenExpired() public {
        IVault.WithdrawalRequest memory r = _req(0, uint64(block.timestamp - 1));
        bytes memory sig = _withdrawalSig(ALICE_KEY, r);
        vm.expectRevert(abi.encodeWithSelector(IVault.SignatureExpired.selector, r.deadline));
        vault.requestWithdrawalBySig(r, sig);
    }

    function test_bySig_revertsOnWrongNonce() public {
        IVault.WithdrawalRequest memory r = _req(5, uint64(block.timestamp));
        bytes memory sig = _withdrawalSig(ALICE_KEY, r);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidNonce.selector, uint256(0), uint256(5)));
        vault.requestWithdrawalBySig(r, sig);
    }

    function test_bySig_revertsOnWrongSigner() public {
        IVault.WithdrawalRequest memory r = _req(0, uint64(block.timestamp));
        bytes memory sig = _withdrawalSig(BOB_KEY, r);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidMemberSignature.selector, alice));
        vault.requestWithdrawalBySig(r, sig);
    }

    function test_bySig_revertsForNonMember() public {
        IVault.WithdrawalRequest memory r = _req(0, uint64(block.timestamp));
        r.member = address(0xAB);
        vm.expectRevert(abi.encodeWithSelector(IVault.NotMember.selector, address(0xAB)));
        vault.requestWithdrawalBySig(r, "");
    }

    function test_bySig_contractMemberViaEIP1271() public {
        MockERC1271Wallet safe = new MockERC1271Wallet(vm.addr(0x5AFE));
        vm.prank(operator);
        vault.admitMember(address(safe));
        _deposit(address(safe), USD, 10e6);
        IVault.WithdrawalRequest memory r =
            IVault.WithdrawalRequest(address(safe), USD, 10e6, address(safe), 0, uint64(block.timestamp));
        uint256 id = vault.requestWithdrawalBySig(r, _withdrawalSig(0x5AFE, r));
        assertEq(uint256(vault.withdrawal(id).amount), 10e6, "amount");
    }

    // ---------------------------------------------------------------- helpers

    function _setIm(uint32 account, uint256 im) internal {
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(account, im, im / 2));
        _settle(b);
    }
}
