// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice The trust model's bound (docs/contracts.md, "Trust model"): before the guardian can react, a
/// compromised risk-signer quorum can take out of the vault at most, per asset a,
///     B_a × (ceil(D / P) + 1)
/// where B_a is the asset's outflow budget, P = OUTFLOW_PERIOD and D the withdrawal delay (the guardian's
/// reaction window): only batch approvals release value before the full delay, they release at most B_a per
/// period, and a window of length D touches at most ceil(D / P) + 1 periods. Everything else the quorum moves
/// to a colluder waits D, during which the guardian vetoes it back to the balance.
///
/// Here D = P = 1 day: the bound is 2 × B, taken as B at the last second of one period and B at the first of
/// the next; the attack of issue 11 (every balance to a colluder, its IM to 0, approvals in the next batch)
/// gets exactly that and no more.
contract VaultTrustModelTest is VaultFixture {
    uint256 internal constant BUDGET = 10_000 * USD_UNIT;

    function setUp() public override {
        super.setUp();
        _allowOutflow(USD, BUDGET);
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, USD, 200_000 * USD_UNIT);
        _deposit(carol, USD, 100_000 * USD_UNIT);
    }

    function test_compromisedQuorumTakesExactlyTheBoundAndNoMore() public {
        uint256 total = 600_000 * USD_UNIT;
        assertEq(vault.withdrawalDelay(), vault.OUTFLOW_PERIOD(), "D = P in this example");
        // batch 1 (signed by the compromised quorum): every member's cash to dave, dave's IM to 0
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(CAROL, USD, -100_000e6);
        b.transfers[3] = _t(DAVE, USD, int256(total));
        b.requirements = _one(_req(DAVE, 0, 0));
        _settle(b);

        // dave asks for everything in budget-sized pieces and a remainder; the quorum approves them all at the
        // last second of a period, then again at the first second of the next
        uint256 periodEnd = (block.timestamp / vault.OUTFLOW_PERIOD() + 1) * vault.OUTFLOW_PERIOD();
        vm.warp(periodEnd - 1);
        uint256[] memory ids = new uint256[](4);
        vm.startPrank(dave);
        for (uint256 i; i < 3; ++i) {
            ids[i] = vault.requestWithdrawal(USD, uint128(BUDGET), dave);
        }
        ids[3] = vault.requestWithdrawal(USD, uint128(total - 3 * BUDGET), dave);
        vm.stopPrank();
        uint256 taken = _approveAllAndExecute(ids);
        vm.warp(periodEnd);
        taken += _approveAllAndExecute(ids);
        assertEq(taken, 2 * BUDGET, "the bound: B x (ceil(D/P) + 1)");
        assertEq(usd.balanceOf(dave), 2 * BUDGET, "dave holds exactly the bound");

        // the guardian reacts within the delay: what is left pending goes back to dave's balance, where the
        // replaced signers' batch can return it to its owners; nothing more has left
        for (uint256 i; i < ids.length; ++i) {
            if (vault.withdrawal(ids[i]).status != 1) continue;
            vm.expectEmit();
            emit IVault.WithdrawalVetoed(ids[i]);
            vm.prank(guardian);
            vault.vetoWithdrawal(ids[i]);
        }
        vm.warp(block.timestamp + vault.withdrawalDelay());
        for (uint256 i; i < ids.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotPending.selector, ids[i]));
            vault.executeWithdrawal(ids[i]);
        }
        assertEq(vault.balanceOf(DAVE, USD), total - 2 * BUDGET, "the rest is still in the vault");
        assertEq(usd.balanceOf(address(vault)), total - 2 * BUDGET, "and so are its tokens");
    }

    /// @dev The bound on margin manipulation (docs/contracts.md, "Trust model"): with the loosening delay L at
    /// least D, within the guardian's window D a compromised quorum can free, by requirement, haircut and mark
    /// rows alone, at most Σ_a v_a × ((1 + b)^(ceil(D/P) + 1) − 1) of a member's collateral, v_a being the
    /// haircut value of its holding of asset a when the window opens and b the mark band. Here dave holds 100
    /// weth (160,000 at 2000 with a 20 % haircut) and 50,000 usd, all of it held as IM (210,000); the quorum
    /// sets its IM to 0, the haircut to 0 and the price to 10×: the IM and haircut cuts wait L, the 10× is
    /// refused, and the band's two steps (2000 → 2200 → 2420, one per period the window touches) free exactly
    /// 160,000 × (1.1² − 1) = 33,600, and no more. Released before D it still meets the outflow budget.
    function test_compromisedQuorumFreesAtMostTheBandByMarginManipulation() public {
        uint64 looseningDelay = 2 days; // >= D
        uint16 band = 1_000;
        vm.startPrank(governor);
        vault.setLooseningDelay(looseningDelay);
        vault.setMarkBand(band);
        vm.stopPrank();
        _deposit(dave, WETH, 100 * WETH_UNIT);
        _deposit(dave, USD, 50_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 2000, 2000 * USD_UNIT));
        b.requirements = _one(_req(DAVE, 210_000e6, 150_000e6));
        _settle(b);
        assertEq(vault.freeCollateral(DAVE), 0, "all of dave's collateral is held");

        uint256 periodEnd = (block.timestamp / vault.OUTFLOW_PERIOD() + 1) * vault.OUTFLOW_PERIOD();
        vm.warp(periodEnd - 1); // the window opens at the last second of a period: it touches two
        uint256 opened = block.timestamp;
        b = _nextBatch();
        b.requirements = _one(_req(DAVE, 0, 0));
        b.marks = _one(_mk(WETH, 0, 20_000 * USD_UNIT));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, WETH, uint128(20_000 * USD_UNIT), 2200 * USD_UNIT)
        );
        vault.settle(b, sigs);
        b.marks = _one(_mk(WETH, 0, 2200 * USD_UNIT));
        _settle(b);
        vm.warp(periodEnd);
        b = _nextBatch();
        b.marks = _one(_mk(WETH, 0, 2420 * USD_UNIT));
        _settle(b);
        assertLt(block.timestamp, opened + vault.withdrawalDelay(), "inside the guardian's window");

        uint256 bound = 160_000e6 * 21 / 100; // v × ((1 + b)^2 − 1)
        assertEq(vault.freeCollateral(DAVE), int256(bound), "freed: exactly the bound");
        vm.prank(dave);
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, DAVE, int256(-1)));
        vault.requestWithdrawal(USD, uint128(bound + 1), dave);
        vm.prank(dave);
        uint256 id = vault.requestWithdrawal(USD, uint128(bound), dave);
        // beyond this period's outflow budget, the approval is skipped: the withdrawal keeps its delay D, in which
        // the guardian vetoes it
        uint256 paid = _approveAllAndExecute(_oneId(id));
        assertEq(paid, 0, "nothing leaves before D");
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        assertEq(usd.balanceOf(dave), 0, "dave took nothing");
        // only after L (past the guardian's window) do the IM and haircut cuts count
        vm.warp(opened + looseningDelay);
        (uint112 im,) = vault.requirementOf(DAVE);
        assertEq(uint256(im), 0, "the IM cut counts after L");
    }

    function _oneId(uint256 id) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](1);
        ids[0] = id;
    }

    /// @dev Approve every listed withdrawal in one batch and execute the ones that became ready.
    function _approveAllAndExecute(uint256[] memory ids) internal returns (uint256 paid) {
        Batch.Data memory b = _nextBatch();
        b.approvedWithdrawals = new uint256[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            IVault.Withdrawal memory w = vault.withdrawal(ids[i]);
            b.approvedWithdrawals[i] = Batch.packApproval(uint64(ids[i]), w.account, w.asset, w.amount);
        }
        _settle(b);
        for (uint256 i; i < ids.length; ++i) {
            IVault.Withdrawal memory w = vault.withdrawal(ids[i]);
            if (w.status != 1 || w.readyAt > block.timestamp) continue;
            vault.executeWithdrawal(ids[i]);
            paid += w.amount;
        }
    }

    function test_approvalBeyondTheBudget_skippedAndKeepsItsDelay() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(BUDGET + 1), alice);
        uint64 readyAt = vault.withdrawal(id).readyAt;
        Batch.Data memory b = _nextBatch();
        b.approvedWithdrawals = _approval(id);
        vm.expectEmit();
        emit IVault.RowAdjusted(Batch.ROWS_APPROVALS, 0, bytes32(b.approvedWithdrawals[0]), 0);
        _settle(b);
        assertEq(uint256(vault.withdrawal(id).readyAt), readyAt, "full delay kept");
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotReady.selector, id, readyAt));
        vault.executeWithdrawal(id);
    }

    /// @dev A budget change is never retroactive: it applies from the next period.
    function test_setOutflowBudget_fromTheNextPeriod() public {
        vm.prank(governor);
        vault.setOutflowBudget(USD, uint112(10 * BUDGET));
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(2 * BUDGET), alice);
        Batch.Data memory b = _nextBatch();
        b.approvedWithdrawals = _approval(id);
        _settle(b);
        assertTrue(vault.withdrawal(id).readyAt > block.timestamp, "the raise is not in force this period");
        vm.warp((block.timestamp / vault.OUTFLOW_PERIOD() + 1) * vault.OUTFLOW_PERIOD());
        b = _nextBatch();
        b.approvedWithdrawals = _approval(id);
        _settle(b);
        assertEq(uint256(vault.withdrawal(id).readyAt), block.timestamp, "in force from the next period");
    }

    /// @dev Only the guardian vetoes, only a pending withdrawal, never after the wind-down; the owner keeps
    /// the amount (back in its balance).
    function test_veto_guardianOnly() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 1e6, alice);
        vm.expectRevert();
        vm.prank(governor);
        vault.vetoWithdrawal(id);
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        assertEq(vault.balanceOf(ALICE, USD), 300_000 * USD_UNIT, "back in the balance");
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotPending.selector, id));
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        vm.prank(alice);
        uint256 id2 = vault.requestWithdrawal(USD, 1e6, alice);
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
        vm.expectRevert(IVault.WoundDown.selector);
        vm.prank(guardian);
        vault.vetoWithdrawal(id2);
        vault.executeWithdrawal(id2); // the wind-down pays it, whatever the guardian does
        assertEq(usd.balanceOf(alice), 1e6, "paid");
    }

    /// @dev Empty batches keep the escape hatch shut only while they land; a paused vault's hatch still
    /// opens (the pause lapses), so withholding settlement forever ends in the wind-down.
    function test_pausedVaultStillReachesTheWindDown() public {
        vm.prank(guardian);
        vault.pause();
        Batch.Data memory b = _nextBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.settle(b, sigs);
        vm.warp(vault.lastSettledAt() + ESCAPE_PERIOD + vault.MAX_PAUSE());
        vault.triggerWindDown();
        assertTrue(vault.woundDown(), "wound down");
    }

    // ------------------------------------------------------------------ forced exit

    /// @dev Attack (issue 11): the quorum kept the escape hatch shut forever with empty batches while holding
    /// a member in (requirements raised without cause, its close-out never settled). Its exit request opens
    /// the wind-down after the escape period, whatever batches land.
    function test_emptyBatchesCannotHoldAnExitShut() public {
        _settle(_withRequirement(_req(ALICE, 300_000e6, 200_000e6))); // all of alice's cash held as IM
        vm.prank(alice);
        vault.requestExit();
        uint64 opensAt = uint64(block.timestamp + ESCAPE_PERIOD);
        for (uint256 day; day < 7; ++day) {
            vm.warp(block.timestamp + 1 days - 1);
            _settle(_nextBatch()); // the quorum keeps the chain alive with empty batches
        }
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, opensAt));
        vault.forceWindDown(ALICE);
        vm.warp(opensAt);
        _settle(_nextBatch());
        vm.expectEmit();
        emit IVault.WindDownArmed(ALICE, opensAt + 1 days);
        vault.forceWindDown(ALICE); // anyone: armed, the wind-down opens WIND_DOWN_GRACE later
        assertFalse(vault.woundDown(), "armed only");
        vm.warp(opensAt + 1 days);
        _settle(_nextBatch()); // batches landing in the grace change nothing while the exit stays unserved
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "wound down");
        vm.prank(alice);
        vault.windDownWithdraw(USD, alice);
        assertEq(usd.balanceOf(alice), 300_000 * USD_UNIT, "alice is out");
    }

    /// @dev A served exit (positions closed out: IM 0) cannot open the wind-down, so a member cannot grief it
    /// open; paused time does not count; no request, no forced wind-down.
    function test_servedExitCannotOpenTheWindDown() public {
        vm.expectRevert(abi.encodeWithSelector(IVault.NoExitRequest.selector, BOB));
        vault.forceWindDown(BOB);
        _settle(_withRequirement(_req(BOB, 1_000e6, 500e6)));
        vm.prank(bob);
        vault.requestExit();
        uint256 requested = block.timestamp;
        vm.prank(guardian);
        vault.pause();
        vm.warp(requested + 2 days);
        vm.prank(governor);
        vault.unpause();
        uint64 opensAt = uint64(requested + ESCAPE_PERIOD + 2 days);
        vm.warp(opensAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, BOB, opensAt));
        vault.forceWindDown(BOB);
        _settle(_withRequirement(_req(BOB, 0, 0))); // the engine closes bob out
        vm.warp(opensAt);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, BOB));
        vault.forceWindDown(BOB);
        vm.prank(bob);
        vault.cancelExit();
        vm.expectRevert(abi.encodeWithSelector(IVault.NoExitRequest.selector, BOB));
        vault.forceWindDown(BOB);
    }

    function _withRequirement(bytes32 row) internal view returns (Batch.Data memory b) {
        b = _nextBatch();
        b.requirements = _one(row);
    }
}
