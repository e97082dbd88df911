// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Wind-down distributes the default fund's whole estate pro rata to pool shares (issue 11): its cash,
/// collateral seized into it and later recoveries; nothing is burnt, anyone can seize a debtor's collateral,
/// and governance cannot take the fund's balances while a share claims them.
///
/// Set-up (DefaultsFixture's worked example, no DECLARE): shares alice 10,000, bob 6,000, carol 4,000 of
/// 20,000; the fund's cash 30,000 (its own 50,000 + the contributions 20,000 − the 40,000 advanced to alice);
/// alice owes 40,000 and holds 5 weth (marked 2000).
contract VaultWindDownEstateTest is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _setUpDefault();
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
    }

    function _withdraw(address member, uint16 asset) internal returns (uint256 got) {
        uint256 before = asset == USD ? usd.balanceOf(member) : weth.balanceOf(member);
        vm.prank(member);
        vault.windDownWithdraw(asset, member);
        got = (asset == USD ? usd.balanceOf(member) : weth.balanceOf(member)) - before;
    }

    function test_estateProRataToShares_laterRecoveriesIncluded() public {
        assertEq(vault.balanceOf(FUND, USD), 30_000e6, "the estate's cash");
        assertEq(vault.estateClaimOf(BOB, USD), 9_000e6, "bob: 6/20 of 30,000");
        assertEq(vault.estateClaimOf(CAROL, USD), 6_000e6, "carol: 4/20");
        assertEq(_withdraw(bob, USD), 14_000e6 + 9_000e6, "bob: his cash and his part");
        // anyone seizes alice's collateral for her debt: a recovery of the estate
        vm.expectEmit();
        emit IVault.DebtCollateralSeized(ALICE, WETH, 5 * WETH_UNIT);
        vm.prank(address(0xBEEF));
        vault.seizeCollateralForDebt(ALICE, WETH);
        assertEq(vault.debtOf(ALICE), 30_000e6, "5 weth at 2000 cover 10,000");
        assertEq(vault.balanceOf(FUND, WETH), 5 * WETH_UNIT, "in the estate");
        // alice's own part nets her debt first and stays in the estate, for every share
        vm.expectEmit();
        emit IVault.EstateClaimed(ALICE, USD, 15_000e6, 15_000e6);
        assertEq(_withdraw(alice, USD), 0, "alice's part of the cash goes to her debt");
        assertEq(vault.debtOf(ALICE), 15_000e6, "debt left");
        // bob's part grew with the recovery: 6/20 of (30,000 + 15,000) − 9,000 already taken
        assertEq(vault.estateClaimOf(BOB, USD), 4_500e6, "bob's part of the recovery");
        assertEq(_withdraw(bob, USD), 4_500e6, "paid");
        assertEq(_withdraw(carol, USD), 16_000e6 + 9_000e6, "carol: her cash and 4/20 of 45,000");
        // the seized weth: pro rata too
        assertEq(_withdraw(bob, WETH), 1.5e18, "bob: 6/20 of 5 weth");
        assertEq(_withdraw(carol, WETH), 1e18, "carol: 4/20");
        // nothing burnt: every token is paid out or still claimable by a share
        uint256 owedUsd = vault.totalOwed(USD);
        assertEq(usd.balanceOf(address(vault)), owedUsd, "usd held = usd owed");
        assertEq(vault.balanceOf(FUND, USD), owedUsd - vault.balanceOf(DAVE, USD) - vault.balanceOf(OPCAP, USD), "the rest is the estate's");
        assertEq(weth.balanceOf(address(vault)), vault.totalOwed(WETH), "weth held = weth owed");
        _assertSolvent();
    }

    function test_governanceCannotTakeTheEstateWhileSharesClaimIt() public {
        vm.expectRevert(abi.encodeWithSelector(IVault.ClaimantsRemain.selector, uint256(20_000e6)));
        vm.prank(governor);
        vault.windDownWithdrawSystem(FUND, USD, governor);
        vm.expectRevert(abi.encodeWithSelector(IVault.ClaimantsRemain.selector, uint256(20_000e6)));
        vm.prank(governor);
        vault.windDownWithdrawSystem(FUND, WETH, governor);
        // operator capital and the fee account are the operator's
        vm.prank(governor);
        vault.windDownWithdrawSystem(OPCAP, USD, governor);
        assertEq(usd.balanceOf(governor), 5_000e6, "operator capital paid");
    }

    function test_seizeCollateralForDebt_onlyAfterWindDown_noDebtNoOp() public {
        uint256 before = vault.balanceOf(BOB, USD);
        vault.seizeCollateralForDebt(BOB, USD); // no debt: nothing moves
        assertEq(vault.balanceOf(BOB, USD), before, "untouched");
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAsset.selector, uint16(9)));
        vault.seizeCollateralForDebt(ALICE, 9);
    }
}

/// @notice Before the wind-down there is no seizure, and with no share the estate is governance's.
contract VaultWindDownNoClaimantsTest is DefaultsFixture {
    function test_seizeBeforeWindDown_NotWoundDown() public {
        vm.expectRevert(IVault.NotWoundDown.selector);
        vault.seizeCollateralForDebt(ALICE, WETH);
    }

    function test_noShares_governanceTakesTheFund() public {
        _fundDefaultFund(1_000e6);
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
        vm.prank(governor);
        vault.windDownWithdrawSystem(FUND, USD, governor);
        assertEq(usd.balanceOf(governor), 1_000e6, "no claimant: the fund's own cash");
    }

    /// Property: whatever the contributions and the fund's own cash, and in any order of claims, every share is
    /// paid floor(estate × shares / total) and at most one base unit per claimant stays behind.
    function testFuzz_everyClaimantPaidProRata(uint64 a, uint64 b, uint64 c, uint64 own, uint8 order) public {
        uint256[3] memory amounts = [bound(a, 1, 1e15), bound(b, 1, 1e15), bound(c, 1, 1e15)];
        uint256 fundCash = bound(own, 0, 1e15);
        if (fundCash != 0) _fundDefaultFund(fundCash);
        address[3] memory who = [alice, bob, carol];
        bytes32[] memory rows = new bytes32[](3);
        for (uint256 i; i < 3; ++i) {
            _deposit(who[i], USD, amounts[i]);
            rows[i] = _c(uint32(ALICE + i), int256(amounts[i]));
        }
        Batch.Data memory batch = _nextBatch();
        batch.contributions = rows;
        _settle(batch);
        (, uint256 shares) = vault.defaultFundPool();
        uint256 estate = vault.balanceOf(FUND, USD);
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
        uint256 paid;
        for (uint256 k; k < 3; ++k) {
            uint256 i = (k + order) % 3;
            vm.prank(who[i]);
            vault.windDownWithdraw(USD, who[i]);
            uint256 due = estate * amounts[i] / shares; // shares minted 1:1, then at the pool's price
            assertGe(usd.balanceOf(who[i]) + 1, due, "paid its pro-rata part (floor of shares)");
            paid += usd.balanceOf(who[i]);
        }
        assertEq(paid + vault.balanceOf(FUND, USD), estate, "nothing burnt");
        assertLe(vault.balanceOf(FUND, USD), 3, "at most one base unit per claimant left");
        _assertSolvent();
    }
}
