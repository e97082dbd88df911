// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";

/// @notice Review of issue 11 (rev11): is the wind-down estate distributed whole?
/// DefaultsFixture's example: shares alice 10,000, bob 6,000, carol 4,000 of 20,000; the fund's cash 30,000;
/// alice owes 40,000 (more than her whole part of the estate) and holds 5 weth at 2000.
contract Rev11EstateTest is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _setUpDefault();
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
    }

    /// FINDING: a debtor holding pool shares that never calls windDownWithdraw locks its pro-rata part of the
    /// estate for ever. Its part would only go to its debt (it owes more than it is entitled to), i.e. belongs to
    /// the other shares, but the netting happens only inside the debtor's own `windDownWithdraw` (claimEstate is
    /// reachable from nowhere else; seizeCollateralForDebt seizes collateral, not the estate part), and
    /// governance cannot sweep it either: shares are never burnt, so ClaimantsRemain holds for ever.
    /// Here 15,000 usd and 2.5 weth stay in the vault; bob and carol get 15,000 + 2.5 weth instead of the
    /// 30,000 + 5 weth the estate holds beyond alice's debt. (Even when she does call, the others need one more
    /// round per call of hers to collect what her part returned: a geometric series, never exact.)
    function test_FINDING_debtorWithSharesThatNeverClaimsLocksItsPart() public {
        vault.seizeCollateralForDebt(ALICE, WETH); // anyone: 5 weth into the estate
        uint256 gotUsd;
        uint256 gotWeth;
        address[2] memory who = [bob, carol];
        for (uint256 round; round < 3; ++round) {
            for (uint256 i; i < 2; ++i) {
                uint256 u = usd.balanceOf(who[i]);
                uint256 w = weth.balanceOf(who[i]);
                vm.startPrank(who[i]);
                vault.windDownWithdraw(USD, who[i]);
                vault.windDownWithdraw(WETH, who[i]);
                vm.stopPrank();
                gotUsd += usd.balanceOf(who[i]) - u;
                gotWeth += weth.balanceOf(who[i]) - w;
            }
        }
        assertEq(gotUsd, 14_000e6 + 16_000e6 + 15_000e6, "their cash + only half of the estate's 30,000");
        assertEq(gotWeth, 2.5e18, "only half of the 5 seized weth");
        assertEq(vault.balanceOf(FUND, USD), 15_000e6, "alice's part sits in the fund");
        assertEq(vault.balanceOf(FUND, WETH), 2.5e18, "and its weth part");
        assertGt(vault.debtOf(ALICE), 15_000e6, "which would all go to her debt anyway");
        vm.prank(governor);
        vm.expectRevert(abi.encodeWithSelector(IVault.ClaimantsRemain.selector, uint256(20_000e6)));
        vault.windDownWithdrawSystem(FUND, USD, governor);
    }
}
