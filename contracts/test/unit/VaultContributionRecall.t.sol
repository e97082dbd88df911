// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Finding 7's rule for the rows of VaultDefaults that debit a member's cash: a contribution row (> 0)
/// and an ASSESS row debiting more than the member holds first recall its pending withdrawals of cash
/// (`_recallFor`, shared with transfer rows: newest first, `WithdrawalRecalled` each, an approval of a recalled
/// request later in the batch skipped with `RowAdjusted`). PoC (before the fix): a member asked to contribute
/// requested a withdrawal of its cash between the batch's signing and its inclusion, and the contribution row
/// reverted `InsufficientBalance(account, 0, balance, amount)`, so the whole signed batch failed; an assessed
/// survivor doing the same turned its assessment into a debt while its cash sat in a pending withdrawal.
contract VaultContributionRecallTest is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _fundDefaultFund(10_000 * USD_UNIT);
        _deposit(bob, USD, 20_000 * USD_UNIT);
        _markWeth();
        _deposit(bob, WETH, 1 * WETH_UNIT);
    }

    function _contributionBatch(int256 amount) internal view returns (Batch.Data memory b) {
        b = _nextBatch();
        b.contributions = _one(_c(BOB, amount));
    }

    /// The PoC: bob moves all his cash into a withdrawal request after the batch asking him for 6,000 is
    /// signed. The contribution row brings the request back and the batch lands.
    function test_contributorRequestsWithdrawal_contributionRecallsIt() public {
        Batch.Data memory b = _contributionBatch(6_000e6);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(bob);
        uint256 id = vault.requestWithdrawal(USD, uint128(20_000 * USD_UNIT), bob);
        assertEq(vault.balanceOf(BOB, USD), 0, "cash moved to the request");
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(id);
        vm.expectEmit();
        emit IVault.ContributionChanged(BOB, 6_000e6, 6_000e6);
        vault.settle(b, sigs);
        assertEq(uint256(vault.withdrawal(id).status), 4, "recalled");
        assertEq(vault.balanceOf(BOB, USD), 14_000 * USD_UNIT, "the rest is his cash again");
        assertEq(vault.contributionOf(BOB), 6_000 * USD_UNIT, "contributed");
        _assertSolvent();
    }

    /// Only as many requests as the contribution needs, newest first; a request of another asset stays.
    function test_recallsOnlyWhatTheContributionNeeds() public {
        Batch.Data memory b = _contributionBatch(12_000e6);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.startPrank(bob);
        uint256 older = vault.requestWithdrawal(USD, uint128(5_000 * USD_UNIT), bob);
        uint256 weth = vault.requestWithdrawal(WETH, uint128(1 * WETH_UNIT), bob);
        uint256 newer = vault.requestWithdrawal(USD, uint128(10_000 * USD_UNIT), bob);
        vm.stopPrank(); // cash 5,000 + the newer 10,000 cover 12,000
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(newer);
        vault.settle(b, sigs);
        assertEq(uint256(vault.withdrawal(newer).status), 4, "newer recalled");
        assertEq(uint256(vault.withdrawal(older).status), 1, "older still pending");
        assertEq(uint256(vault.withdrawal(weth).status), 1, "weth still pending");
        assertEq(vault.balanceOf(BOB, USD), 3_000 * USD_UNIT, "15,000 - 12,000");
        _assertSolvent();
    }

    /// An approval, later in the same batch, of a request the contribution recalled is skipped, not an error.
    function test_approvalOfARequestTheContributionRecalls_skipped() public {
        vm.prank(bob);
        uint256 id = vault.requestWithdrawal(USD, uint128(20_000 * USD_UNIT), bob);
        Batch.Data memory b = _contributionBatch(6_000e6);
        b.approvedWithdrawals = _approval(id);
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(id);
        vm.expectEmit();
        emit IVault.RowAdjusted(Batch.ROWS_APPROVALS, 0, bytes32(b.approvedWithdrawals[0]), 0);
        _settle(b);
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotPending.selector, id));
        vault.executeWithdrawal(id);
    }

    /// A contribution beyond cash + pending cash still reverts (a contribution is never advanced).
    function test_contributionBeyondCashAndPending_InsufficientBalance() public {
        Batch.Data memory b = _contributionBatch(25_000e6);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(bob);
        vault.requestWithdrawal(USD, uint128(20_000 * USD_UNIT), bob);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.InsufficientBalance.selector, BOB, USD, 20_000 * USD_UNIT, 25_000 * USD_UNIT)
        );
        vault.settle(b, sigs);
    }
}

/// @notice The ASSESS side of the same rule, on VaultDefaults.t.sol's worked example (bob is assessed 4,200).
contract VaultAssessRecallTest is DefaultsFixture {
    /// PoC (before the fix): bob moved his 14,000 of cash to a withdrawal request between signing and
    /// inclusion, and the 4,200 assessment became his debt (LiquidityAdvanced) while the cash sat pending. Now
    /// the request comes back first and pays it; no advance.
    function test_assessedSurvivorRequestsWithdrawal_assessRecallsIt() public {
        _setUpDefault();
        _declareAlice();
        Batch.Data memory b = _nextBatch();
        b.defaultActions =
            _three(_a(ALICE, Batch.COVER, 40_000e6), _a(BOB, Batch.ASSESS, 4_200e6), _a(CAROL, Batch.ASSESS, 2_800e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(bob);
        uint256 id = vault.requestWithdrawal(USD, 14_000e6, bob);
        vm.expectEmit();
        emit IVault.WithdrawalRecalled(id);
        vault.settle(b, sigs);
        assertEq(uint256(vault.withdrawal(id).status), 4, "recalled");
        assertEq(vault.debtOf(BOB), 0, "no advance");
        assertEq(vault.balanceOf(BOB, USD), 14_000e6 - 4_200e6, "assessed from the recalled cash");
        assertEq(vault.debtOf(ALICE), 0, "covered");
        _assertSolvent();
    }

    /// What the recalled requests and the cash do not cover still becomes the survivor's debt.
    function test_assessBeyondCashAndPending_restIsDebt() public {
        _setUpDefault();
        _declareAlice();
        vm.prank(bob); // bob keeps 10,000 of cash and 3,000 pending, then withdraws nothing else
        vault.requestWithdrawal(USD, 3_000e6, bob);
        Batch.Data memory b = _nextBatch(); // bob pays 11,000 away first: 0 cash left, 3,000 pending
        b.transfers = _two(_t(BOB, USD, -11_000e6), _t(DAVE, USD, 11_000e6));
        b.defaultActions =
            _three(_a(ALICE, Batch.COVER, 40_000e6), _a(BOB, Batch.ASSESS, 4_200e6), _a(CAROL, Batch.ASSESS, 2_800e6));
        vm.expectEmit();
        emit IVault.LiquidityAdvanced(BOB, 1_200e6);
        _settle(b);
        assertEq(vault.debtOf(BOB), 1_200e6, "4,200 - 3,000 recalled");
        assertEq(vault.balanceOf(BOB, USD), 0, "no cash");
        _assertSolvent();
    }
}
