// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {ICrossclearVault} from "../../src/interfaces/ICrossclearVault.sol";

/// @notice The escape hatch: if no batch lands for `escapePeriod`, anyone winds the vault down and every
/// account can take its balance (less collateral seized for an outstanding advance).
contract VaultWindDownTest is VaultFixture {
    function setUp() public override {
        super.setUp();
        _fundDefaultFund(500e6);
        _deposit(alice, USD, 100e6);
        _deposit(alice, WETH, 1e18);
        _markWeth(); // weth at 2000
    }

    function _windDown() internal {
        vm.warp(vault.lastSettledAt() + ESCAPE_PERIOD);
        vault.triggerWindDown();
    }

    function test_trigger_onlyAfterTheEscapePeriod() public {
        uint64 opensAt = vault.lastSettledAt() + ESCAPE_PERIOD;
        vm.warp(opensAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.EscapeHatchNotOpen.selector, opensAt));
        vault.triggerWindDown();
        vm.warp(opensAt);
        vm.expectEmit();
        emit IVault.WindDownTriggered(vault.lastSequence(), vault.lastSettledAt());
        vm.prank(address(0xCAFE)); // anyone
        vault.triggerWindDown();
        assertTrue(vault.woundDown(), "wound down");
    }

    function test_trigger_clockStartsAtDeployment() public {
        ICrossclearVault fresh = _deployVault(usd, signerAddrs, 2);
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        fresh.triggerWindDown();
        assertTrue(fresh.woundDown(), "no batch ever");
    }

    function test_trigger_aBatchResetsTheClock() public {
        vm.warp(block.timestamp + ESCAPE_PERIOD - 1);
        _settle(_nextBatch());
        vm.warp(block.timestamp + 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.EscapeHatchNotOpen.selector, vault.lastSettledAt() + ESCAPE_PERIOD));
        vault.triggerWindDown();
    }

    /// @dev Attack (issue 11): pause time counted toward the escape period. Now the hatch opens only after
    /// escapePeriod of unpaused time. A pause holds wind-down payouts until it ends (issue 11, third review,
    /// finding 3: the guardian can check how the wind-down opened), never for longer than MAX_PAUSE.
    function test_trigger_pauseTimeDoesNotCount() public {
        vm.prank(guardian);
        vault.pause();
        vm.warp(block.timestamp + 3 days);
        vm.prank(governor);
        vault.unpause();
        uint64 opensAt = vault.lastSettledAt() + ESCAPE_PERIOD + 3 days;
        vm.warp(opensAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.EscapeHatchNotOpen.selector, opensAt));
        vault.triggerWindDown();
        vm.warp(opensAt);
        vault.triggerWindDown();
        vm.prank(guardian);
        vault.pause();
        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.windDownWithdraw(USD, alice);
        vm.warp(block.timestamp + vault.MAX_PAUSE()); // the pause lapses by itself
        vm.prank(alice);
        vault.windDownWithdraw(USD, alice);
        assertEq(usd.balanceOf(alice), 100e6, "paid once the pause lapsed");
    }

    /// @dev Attack (issue 11): setEscapePeriod applied retroactively (a shorter period opened the hatch at
    /// once, a longer one kept waiting members locked). It now applies from the next batch.
    function test_setEscapePeriod_notRetroactive() public {
        uint64 start = vault.lastSettledAt();
        vm.prank(governor);
        vault.setEscapePeriod(30 days);
        assertEq(uint256(vault.escapePeriod()), ESCAPE_PERIOD, "current window keeps its period");
        assertEq(uint256(vault.nextEscapePeriod()), 30 days, "scheduled");
        vm.warp(start + ESCAPE_PERIOD);
        vault.triggerWindDown(); // the window that started before the change opens on its own terms
        assertTrue(vault.woundDown(), "wound down at the old period");
    }

    function test_setEscapePeriod_appliesFromTheNextBatch() public {
        vm.prank(governor);
        vault.setEscapePeriod(1 days);
        _settle(_nextBatch());
        assertEq(uint256(vault.escapePeriod()), 1 days, "in force");
        assertEq(uint256(vault.nextEscapePeriod()), 0, "nothing pending");
        uint64 opensAt = vault.lastSettledAt() + 1 days;
        vm.warp(opensAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.EscapeHatchNotOpen.selector, opensAt));
        vault.triggerWindDown();
    }

    function test_afterWindDown_settleDepositRequestAndTriggerRevert() public {
        _windDown();
        Batch.Data memory b = _nextBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(IVault.WoundDown.selector);
        vault.settle(b, sigs);
        vm.expectRevert(IVault.WoundDown.selector);
        vault.deposit(alice, USD, 1);
        vm.prank(alice);
        vm.expectRevert(IVault.WoundDown.selector);
        vault.requestWithdrawal(USD, 1, alice);
        vm.expectRevert(IVault.WoundDown.selector);
        vault.triggerWindDown();
    }

    function test_withdraw_revertsBeforeWindDown() public {
        vm.prank(alice);
        vm.expectRevert(IVault.NotWoundDown.selector);
        vault.windDownWithdraw(USD, alice);
        vm.prank(governor);
        vm.expectRevert(IVault.NotWoundDown.selector);
        vault.windDownWithdrawSystem(FUND, USD, governor);
    }

    function test_withdraw_paysTheWholeBalance() public {
        _windDown();
        vm.expectEmit();
        emit IVault.WindDownWithdrawal(ALICE, WETH, carol, 1e18, 0);
        vm.prank(alice);
        vault.windDownWithdraw(WETH, carol);
        assertEq(weth.balanceOf(carol), 1e18, "weth");
        assertEq(vault.balanceOf(ALICE, WETH), 0, "balance");
        assertEq(vault.totalOwed(WETH), 0, "owed");
        _assertSolvent();
    }

    function test_withdraw_revertsForNonMemberAndZeroRecipient() public {
        _windDown();
        vm.prank(address(0xAB));
        vm.expectRevert(abi.encodeWithSelector(IVault.NotMember.selector, address(0xAB)));
        vault.windDownWithdraw(USD, address(0xAB));
        vm.prank(alice);
        vm.expectRevert(IVault.ZeroAddress.selector);
        vault.windDownWithdraw(USD, address(0));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAsset.selector, uint16(5)));
        vault.windDownWithdraw(5, alice);
    }

    function test_withdraw_seizesCollateralForDebt() public {
        _loseCash(ALICE, 100e6 + 1000e6 + 1); // debt 1000e6 + 1
        _windDown();
        // ceil((1000e6 + 1) * 1e18 / 2000e6) = 0.5e18 + 5e8 wei; it covers floor(that * 2000e6 / 1e18) >= debt.
        uint256 seized = 0.5e18 + 5e8;
        vm.expectEmit();
        emit IVault.WindDownWithdrawal(ALICE, WETH, alice, 1e18 - seized, seized);
        vm.prank(alice);
        vault.windDownWithdraw(WETH, alice);
        assertEq(vault.debtOf(ALICE), 0, "debt covered");
        assertEq(vault.balanceOf(FUND, WETH), seized, "fund got the collateral");
        assertEq(weth.balanceOf(alice), 1e18 - seized, "member got the rest");
        _assertSolvent();
        // The fund's share comes out through the governor.
        vm.prank(governor);
        vault.windDownWithdrawSystem(FUND, WETH, governor);
        assertEq(weth.balanceOf(governor), seized, "fund paid out");
        assertEq(vault.totalOwed(WETH), 0, "nothing owed");
    }

    function test_withdraw_seizureCappedAtBalance() public {
        _loseCash(ALICE, 100e6 + 490e6); // debt 490
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 0, 400e6)); // weth crashes to 400: 1 weth covers only 400
        _settle(b);
        _windDown();
        vm.prank(alice);
        vault.windDownWithdraw(WETH, alice);
        assertEq(vault.balanceOf(FUND, WETH), 1e18, "all seized");
        assertEq(vault.debtOf(ALICE), 90e6, "the rest stays recorded");
        assertEq(weth.balanceOf(alice), 0, "nothing paid");
    }

    function test_withdraw_unpricedCollateralSeizedWhole() public {
        _loseCash(ALICE, 101e6); // debt 1
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 0, 0));
        _settle(b);
        _windDown();
        vm.prank(alice);
        vault.windDownWithdraw(WETH, alice);
        assertEq(vault.balanceOf(FUND, WETH), 1e18, "all seized at price zero");
        assertEq(vault.debtOf(ALICE), 1e6, "nothing covered");
    }

    function test_pendingWithdrawal_executesAtOnceWithoutMarginCheck() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(WETH, 1e18, alice);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 1e12, 1e12)); // would fail the margin check
        _settle(b);
        _windDown();
        vault.executeWithdrawal(id); // no delay (the hatch opened later than readyAt anyway), no check
        assertEq(weth.balanceOf(alice), 1e18, "paid");
    }

    function test_system_governorOnlyAndSystemAccountsOnly() public {
        _windDown();
        bytes32 role = vault.GOVERNOR_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        vault.windDownWithdrawSystem(FUND, USD, alice);
        vm.startPrank(governor);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAccount.selector, ALICE));
        vault.windDownWithdrawSystem(ALICE, USD, governor);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAccount.selector, uint32(0)));
        vault.windDownWithdrawSystem(0, USD, governor);
        vault.windDownWithdrawSystem(FUND, USD, governor);
        vm.stopPrank();
        assertEq(usd.balanceOf(governor), 500e6, "fund paid out");
    }

    function _loseCash(uint32 account, uint256 amount) internal {
        // The default fund (500) may be too small for the advance: top it up with bob's cash first.
        _deposit(bob, USD, amount);
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(BOB, USD, -int256(amount));
        b.transfers[1] = _t(FUND, USD, int256(amount));
        b.transfers[2] = _t(account, USD, -int256(amount));
        b.transfers[3] = _t(CAROL, USD, int256(amount));
        _settle(b);
    }
}
