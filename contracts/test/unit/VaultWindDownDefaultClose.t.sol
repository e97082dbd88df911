// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";

/// @notice A default still open at the wind-down (no batch, so no COVER or CLOSE, lands any more) used to keep
/// operator capital, waterfall layer 3, in the vault for good (`windDownWithdrawSystem(3, …)` reverts
/// `DefaultsOpen`). Anyone closes it with `closeDefaultAfterWindDown`, applying the waterfall's order to what
/// the defaulter still owes: its balances (as `seizeCollateralForDebt`), its part of the estate (as
/// `netEstateForDebt`), then operator capital's cash up to the debt left; the rest stays its debt (a loss of the
/// estate, which later recoveries still reduce); the default closes and operator capital's rest is payable.
///
/// Set-up (DefaultsFixture's worked example): alice, in default, owes 40,000 less what `repaid` repays before
/// the wind-down, holds 5 weth (last mark 2000: 10,000 at the wind-down's rule); shares alice 10,000 of 20,000;
/// the fund's cash (the estate) 30,000 + `repaid`; operator capital 5,000.
contract VaultWindDownDefaultCloseTest is DefaultsFixture {
    function _windDownWithAliceInDefault(uint256 repaid) internal {
        _setUpDefault();
        _declareAlice();
        if (repaid != 0) _deposit(alice, USD, repaid); // repays her advance first
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
    }

    /// PoC (before the fix): after the wind-down nothing closes the default, and operator capital stays locked.
    function test_openDefaultAtWindDown_locksOperatorCapital_untilClosed() public {
        _windDownWithAliceInDefault(40_000e6); // even with her debt repaid whole before the wind-down
        vm.prank(governor);
        vm.expectRevert(abi.encodeWithSelector(IVault.DefaultsOpen.selector, uint256(1)));
        vault.windDownWithdrawSystem(OPCAP, USD, governor);
        vm.expectEmit();
        emit IVault.DefaultClosed(ALICE);
        vm.prank(address(0xBEEF)); // anyone
        vault.closeDefaultAfterWindDown(ALICE);
        assertEq(vault.openDefaults(), 0, "closed");
        assertEq(vault.balanceOf(ALICE, WETH), 5 * WETH_UNIT, "nothing owed: her collateral stays hers");
        vm.prank(governor);
        vault.windDownWithdrawSystem(OPCAP, USD, governor);
        assertEq(usd.balanceOf(governor), 5_000e6, "operator capital paid whole");
        _assertSolvent();
    }

    /// The worked example with 4,000 repaid (debt 36,000, estate cash 34,000): L1 her 5 weth cover 10,000;
    /// L2 her half of the estate: 17,000 of its cash and 2.5 of its (just seized) weth, 5,000; L3 operator
    /// capital the 4,000 left. Debt 0, operator capital's 1,000 rest is payable.
    function test_closeAppliesTheWaterfallOrder() public {
        _windDownWithAliceInDefault(4_000e6);
        assertEq(vault.debtOf(ALICE), 36_000e6, "owes");
        vm.expectEmit();
        emit IVault.DebtCollateralSeized(ALICE, WETH, 5 * WETH_UNIT);
        vm.expectEmit();
        emit IVault.EstateClaimed(ALICE, USD, 17_000e6, 17_000e6);
        vm.expectEmit();
        emit IVault.EstateClaimed(ALICE, WETH, 2.5e18, 2.5e18);
        vm.expectEmit();
        emit IVault.WaterfallDraw(ALICE, 3, OPCAP, USD, 4_000e6, 4_000e6);
        vm.expectEmit();
        emit IVault.DefaultClosed(ALICE);
        vm.prank(address(0xBEEF));
        vault.closeDefaultAfterWindDown(ALICE);
        assertEq(vault.debtOf(ALICE), 0, "covered");
        assertEq(vault.operatorCapital(), 1_000e6, "its rest");
        assertEq(vault.balanceOf(FUND, USD), 34_000e6 + 4_000e6, "layer 3 paid into the estate");
        assertTrue(!vault.inDefault(ALICE) && vault.defaulted(ALICE), "closed, still flagged");
        vm.prank(governor);
        vault.windDownWithdrawSystem(OPCAP, USD, governor);
        assertEq(usd.balanceOf(governor), 1_000e6, "operator capital's rest paid");
        _assertSolvent();
    }

    /// Nothing repaid: every layer is drawn and 5,000 is still owed. It stays alice's debt (the estate's loss),
    /// and a later recovery (her shares' part of what the estate received since) still nets against it.
    function test_debtBeyondEveryLayer_restStaysDebt() public {
        _windDownWithAliceInDefault(0);
        vault.closeDefaultAfterWindDown(ALICE);
        assertEq(vault.debtOf(ALICE), 5_000e6, "40,000 - 10,000 weth - 15,000 - 5,000 (2.5 weth) - 5,000");
        assertEq(vault.operatorCapital(), 0, "drawn whole");
        assertEq(vault.openDefaults(), 0, "closed");
        uint256 due = vault.estateClaimOf(ALICE, USD); // her half of the 5,000 layer 3 paid in, among others
        assertGt(due, 0, "the estate grew since");
        vault.netEstateForDebt(ALICE, USD);
        assertEq(vault.debtOf(ALICE), 5_000e6 - (due < 5_000e6 ? due : 5_000e6), "a recovery");
        vm.prank(governor);
        vault.windDownWithdrawSystem(OPCAP, USD, governor); // no longer DefaultsOpen (nothing left to pay)
        _assertSolvent();
    }

    function test_closeBeforeWindDown_NotWoundDown() public {
        _setUpDefault();
        _declareAlice();
        vm.expectRevert(IVault.NotWoundDown.selector);
        vault.closeDefaultAfterWindDown(ALICE);
    }

    function test_closeOfAMemberNotInDefault_NotInDefault() public {
        _windDownWithAliceInDefault(0);
        vm.expectRevert(abi.encodeWithSelector(IVault.NotInDefault.selector, BOB));
        vault.closeDefaultAfterWindDown(BOB);
        vault.closeDefaultAfterWindDown(ALICE);
        vm.expectRevert(abi.encodeWithSelector(IVault.NotInDefault.selector, ALICE));
        vault.closeDefaultAfterWindDown(ALICE); // once
    }
}
