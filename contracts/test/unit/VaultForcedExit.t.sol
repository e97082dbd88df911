// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Vm} from "../utils/Vm.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {VaultDefaults} from "../../src/VaultDefaults.sol";

/// @notice The forced exit's clock (issue 11, third review, findings 1, 2 and 5): it runs from when an exit
/// request became unserved, and "served" is judged by the IM in force. A request served for a withdrawal delay
/// restarts its clock when the member's IM rises again, so it cannot open the wind-down in the block of the
/// batch that raised it; a request the signers never served keeps its clock whatever rows cycle its IM.
/// Findings 3 and 6: an overdue exit is armed first and opens the wind-down only WIND_DOWN_GRACE later, a pause
/// stops it, and a guardian's veto counts as unserved.
contract VaultForcedExitTest is VaultFixture {
    uint256 internal constant BUDGET = 10_000 * USD_UNIT;
    uint256 internal constant TOTAL = 600_000 * USD_UNIT;
    uint256 internal constant IM = 50_000 * USD_UNIT;
    uint64 internal constant L = 2 days; // loosening delay
    uint64 internal constant GRACE = 1 days; // VaultStorage.WIND_DOWN_GRACE

    event ExitRequested(uint32 indexed account);

    function setUp() public override {
        super.setUp();
        _allowOutflow(USD, BUDGET);
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, USD, 200_000 * USD_UNIT);
        _deposit(carol, USD, 100_000 * USD_UNIT);
    }

    /// Finding 1: a compromised quorum plus a colluder whose (costless) exit request, made at IM 0, is older
    /// than E. The batch that moves every member's cash to it and posts its IM 1 restarts its clock, so
    /// forceWindDown waits E from that block and the stolen cash can leave only through the outflow budget,
    /// the withdrawal delay and the guardian's veto.
    function test_staleServedRequest_cannotOpenTheWindDownInTheBlockOfARaise() public {
        vm.prank(dave);
        vault.requestExit();
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        vm.prank(governor);
        vault.setLooseningDelay(30 days);
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(CAROL, USD, -100_000e6);
        b.transfers[3] = _t(DAVE, USD, int256(TOTAL));
        b.requirements = _one(_req(DAVE, 1, 0));
        vm.expectEmit(true, false, false, false);
        emit ExitRequested(DAVE); // the clock starts again
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.forceWindDown(DAVE);
        assertFalse(vault.woundDown(), "not wound down");
        // what it asks to withdraw now waits the delay, within which the guardian can send it back
        vm.prank(dave);
        uint256 id = vault.requestWithdrawal(USD, uint128(TOTAL - 1), dave);
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        assertEq(usd.balanceOf(dave), 0, "nothing left the vault");
    }

    /// Finding 2 (honest signers): a member that asked to leave while flat, waited E and trades again cannot
    /// open the wind-down for everyone: its new IM restarts the clock.
    function test_flatMemberTradingAgainRestartsItsClock() public {
        vm.prank(dave);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD + 1);
        _settle(_nextBatch());
        _deposit(dave, USD, 1_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 100 * USD_UNIT, 50 * USD_UNIT));
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.forceWindDown(DAVE);
        vm.warp(block.timestamp + ESCAPE_PERIOD); // unserved for E since the rise: now it opens
        _forceOpen(DAVE);
    }

    /// Finding 5: served on paper (posted IM 0) but held in force by a loosening floor that rows (1, 0), (0, 0)
    /// renew before each delay ends. The IM in force is what counts: the forced exit opens E after the request.
    function test_floorRenewedEveryDelayDoesNotHoldTheExit() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        uint256 requested = block.timestamp;
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0)); // "served": posted 0, in force only after L
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(requested + ESCAPE_PERIOD))
        );
        vault.forceWindDown(ALICE); // not ExitServed: the IM in force is still IM
        while (block.timestamp < requested + ESCAPE_PERIOD) {
            vm.warp(block.timestamp + L - 1);
            b = _nextBatch();
            b.requirements = _two(_req(ALICE, 1, 0), _req(ALICE, 0, 0)); // the renewal: no restart either
            _settle(b);
        }
        _forceOpen(ALICE);
        assertTrue(vault.woundDown(), "the held member forced its exit");
    }

    /// Finding 5, one batch: (huge, 0) then (0, 0) locks the whole balance in force for L while posting 0. Not
    /// served: an overdue request opens the wind-down.
    function test_hugeThenZeroIsNotServed() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD + 1);
        Batch.Data memory b = _nextBatch();
        b.requirements = _two(_req(ALICE, 1e30, 0), _req(ALICE, 0, 0));
        _settle(b);
        _forceOpen(ALICE);
    }

    /// Served for less than a withdrawal delay (IM 0 in force, then raised again before what the member asked
    /// to withdraw could execute): not served, the clock keeps running from the request.
    function test_servedForLessThanTheWithdrawalDelayKeepsTheClock() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        uint256 requested = block.timestamp;
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0));
        _settle(b);
        vm.warp(block.timestamp + L + WITHDRAWAL_DELAY - 1); // in force 0 since L: one second short of D
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
        vault.forceWindDown(ALICE); // served now: IM 0 in force
        b = _nextBatch();
        b.requirements = _one(_req(ALICE, IM, IM / 2));
        _settle(b);
        vm.warp(requested + ESCAPE_PERIOD);
        _forceOpen(ALICE); // the raise did not restart the clock
    }

    /// Served for a whole withdrawal delay, then raised: the clock restarts at the raise.
    function test_servedForTheWithdrawalDelayRestartsTheClock() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0));
        _settle(b);
        vm.warp(block.timestamp + L + WITHDRAWAL_DELAY);
        b = _nextBatch();
        b.requirements = _one(_req(ALICE, IM, IM / 2));
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.forceWindDown(ALICE);
    }

    /// An IM raised without cause on an exiting member (never served) opens the forced exit after E.
    function test_raisedRequirementOpensTheForcedExitAfterE() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            Batch.Data memory b = _nextBatch();
            b.requirements = _one(_req(ALICE, IM + i, IM / 2));
            _settle(b);
        }
        _forceOpen(ALICE);
    }

    /// The default rows' module cannot be reached through the vault's fallback (the extension has no such
    /// selector) nor by calling the module directly (OnlyDelegated).
    function test_defaultsModuleNotReachableFromOutside() public {
        bytes32[] memory none = new bytes32[](0);
        bytes memory call = abi.encodeCall(VaultDefaults.applyRows, (none, none, none, true));
        (bool ok,) = address(vault).call(call);
        assertFalse(ok, "vault fallback -> extension: unknown selector");
        address defaults = vault.defaultsModule();
        vm.expectRevert(VaultDefaults.OnlyDelegated.selector);
        VaultDefaults(defaults).seizeForDebt(ALICE, USD, 1);
    }

    /// Finding 3 (the review's memberEscapesItsLossByWindingDown): a loser whose exit is overdue cannot wind the
    /// vault down ahead of the batch booking its loss. A pause stops forceWindDown, the first call only arms
    /// it, and the signed batch lands within the grace; the member leaves with its post-loss cash.
    function test_overdueExit_lossBatchLandsBeforeTheWindDown() public {
        _deposit(dave, USD, 100_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 20_000 * USD_UNIT, 10_000 * USD_UNIT)); // dave trades
        _settle(b);
        vm.prank(dave);
        vault.requestExit();
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        b = _nextBatch();
        b.transfers = _two(_t(DAVE, USD, -50_000e6), _t(BOB, USD, 50_000e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(guardian);
        vault.pause(); // a guardian that sees it coming holds it
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.forceWindDown(DAVE);
        vm.prank(governor);
        vault.unpause();

        vm.expectEmit();
        emit IVault.WindDownArmed(DAVE, uint64(block.timestamp + GRACE));
        vm.prank(dave);
        vault.forceWindDown(DAVE);
        assertFalse(vault.woundDown(), "armed, not wound down");
        vm.prank(dave);
        vm.expectRevert(IVault.NotWoundDown.selector);
        vault.windDownWithdraw(USD, dave);
        vault.settle(b, sigs); // the loss lands
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + GRACE)));
        vault.forceWindDown(DAVE);
        vm.warp(block.timestamp + GRACE);
        vault.forceWindDown(DAVE);
        assertTrue(vault.woundDown(), "wound down after the grace");
        vm.prank(dave);
        vault.windDownWithdraw(USD, dave);
        assertEq(usd.balanceOf(dave), 50_000 * USD_UNIT, "dave leaves with his post-loss cash");
        assertEq(vault.balanceOf(BOB, USD), 250_000 * USD_UNIT, "bob's gain booked");
    }

    /// Finding 3: the grace counts unpaused time only; a pause in it moves the opening by its length.
    function test_graceCountsUnpausedTimeOnly() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        vault.forceWindDown(ALICE); // arms
        uint256 armed = block.timestamp;
        vm.warp(armed + 1 hours);
        vm.prank(guardian);
        vault.pause();
        vm.warp(armed + 4 hours);
        vm.prank(governor);
        vault.unpause(); // 3 hours paused
        vm.warp(armed + GRACE);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(armed + GRACE + 3 hours)));
        vault.forceWindDown(ALICE);
        vm.warp(armed + GRACE + 3 hours);
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "wound down");
    }

    /// An armed exit the signers serve within the grace does not open the wind-down.
    function test_armedExitServedInTheGrace_doesNotOpen() public {
        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        vault.forceWindDown(ALICE); // arms
        vm.prank(governor);
        vault.setLooseningDelay(0);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0)); // served, in force at once
        _settle(b);
        vm.warp(block.timestamp + GRACE);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
        vault.forceWindDown(ALICE);
        assertFalse(vault.woundDown(), "served: no wind-down");
    }

    /// Finding 3: a pause also holds wind-down payouts.
    function test_windDownWithdraw_refusedWhilePaused() public {
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
        vm.prank(guardian);
        vault.pause();
        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.windDownWithdraw(USD, alice);
    }

    /// A fresh exit request, IM raised at once, cannot open the wind-down before E of unpaused time.
    function test_freshExitRequest_waitsE() public {
        vm.prank(dave);
        vault.requestExit();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 1, 0));
        _settle(b);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.forceWindDown(DAVE);
    }

    /// Finding 6 (the review's guardianVetoesEveryWithdrawalForever): the guardian's vetoes cannot keep an
    /// exiting member in. Alice (flat: served) asks to exit; her first vetoed withdrawal makes the exit
    /// unserved and restarts its clock (ExitRequested); later vetoes change nothing, and E + the grace later
    /// anyone opens the wind-down, which pays her out.
    function test_guardianVetoesCountAsUnserved() public {
        vm.prank(alice);
        vault.requestExit();
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
        vault.forceWindDown(ALICE);
        vm.warp(block.timestamp + 3 days);
        uint256 firstVeto;
        for (uint256 i; i < 20; ++i) {
            vm.prank(alice);
            uint256 id = vault.requestWithdrawal(USD, uint128(300_000 * USD_UNIT), alice);
            vm.warp(block.timestamp + WITHDRAWAL_DELAY - 1);
            if (i == 0) {
                firstVeto = block.timestamp;
                vm.expectEmit(true, false, false, false);
                emit ExitRequested(ALICE); // the clock starts at the first veto
            }
            vm.prank(guardian);
            vault.vetoWithdrawal(id);
            _settle(_nextBatch()); // the signers keep settling
            vm.warp(block.timestamp + 1);
            if (block.timestamp >= firstVeto + ESCAPE_PERIOD) break;
        }
        vm.warp(firstVeto + ESCAPE_PERIOD - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(firstVeto + ESCAPE_PERIOD))
        );
        vault.forceWindDown(ALICE); // unserved (vetoed) although IM 0: not ExitServed, and later vetoes kept the clock
        vm.warp(firstVeto + ESCAPE_PERIOD);
        _forceOpen(ALICE);
        vm.prank(alice);
        vault.windDownWithdraw(USD, alice);
        assertEq(usd.balanceOf(alice), 300_000 * USD_UNIT, "alice got out");
    }

    /// Finding 6: a vetoed exit stays unserved whatever the signers post: an IM rise does not restart its clock
    /// and a posted 0 does not serve it.
    function test_vetoedExit_signersCannotRestartOrServeIt() public {
        vm.prank(alice);
        vault.requestExit();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(1_000 * USD_UNIT), alice);
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        uint256 vetoed = block.timestamp;
        vm.warp(vetoed + WITHDRAWAL_DELAY + 1 days);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, IM, IM / 2)); // would restart a served exit's clock
        vm.recordLogs();
        _settle(b);
        assertEq(vm.getRecordedLogs().length, 1, "BatchSettled only: no restart");
        b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0)); // served on paper and in force (no loosening delay)
        _settle(b);
        vm.warp(vetoed + ESCAPE_PERIOD);
        _forceOpen(ALICE);
    }

    /// A veto of a member without an exit request changes no exit; one of a member whose exit was never served
    /// (IM in force above 0) keeps its clock running from the request.
    function test_vetoOfAnUnservedExit_keepsItsClock() public {
        vm.prank(bob);
        uint256 id = vault.requestWithdrawal(USD, uint128(1_000 * USD_UNIT), bob);
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        vm.expectRevert(abi.encodeWithSelector(IVault.NoExitRequest.selector, BOB));
        vault.forceWindDown(BOB);

        _holdAlice();
        vm.prank(alice);
        vault.requestExit();
        uint256 requested = block.timestamp;
        vm.warp(requested + 3 days);
        vm.prank(alice);
        id = vault.requestWithdrawal(USD, uint128(1_000 * USD_UNIT), alice);
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        vm.warp(requested + ESCAPE_PERIOD);
        _forceOpen(ALICE);
    }

    /// forceWindDown's first overdue call arms (WindDownArmed), a second before the grace reverts, one after it
    /// opens the wind-down.
    function _forceOpen(uint32 account) private {
        vm.expectEmit();
        emit IVault.WindDownArmed(account, uint64(block.timestamp + GRACE));
        vault.forceWindDown(account);
        assertFalse(vault.woundDown(), "armed only");
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, account, uint64(block.timestamp + GRACE)));
        vault.forceWindDown(account);
        vm.warp(block.timestamp + GRACE);
        vault.forceWindDown(account);
        assertTrue(vault.woundDown(), "wound down");
    }

    /// Alice with an IM in force and a loosening delay of L, as a member with open positions.
    function _holdAlice() private {
        vm.prank(governor);
        vault.setLooseningDelay(L);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, IM, IM / 2));
        _settle(b);
    }
}

/// @notice Finding 4 (the review's survivorWindsDownBeforeTheCoverAndSkipsItsAssessment): the waterfall in a
/// forced wind-down. A survivor's overdue exit only arms within a default, so the signed COVER + ASSESS batch
/// lands first; and operator capital (layer 3) is not paid out while a default is open.
contract VaultForcedExitDefaultsTest is DefaultsFixture {
    function test_survivorCannotSkipItsAssessmentByWindingDown() public {
        vm.prank(bob);
        vault.requestExit();
        _setUpDefault();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(BOB, 1_000 * USD_UNIT, 500 * USD_UNIT)); // bob trades: the engine posts IM
        _settle(b);
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        _declareAlice();
        b = _nextBatch();
        b.defaultActions = _three(
            _a(ALICE, Batch.COVER, 40_000e6), _a(BOB, Batch.ASSESS, 4_200e6), _a(CAROL, Batch.ASSESS, 2_800e6)
        );
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(bob);
        vault.forceWindDown(BOB); // bob front-runs the cover: it only arms
        assertFalse(vault.woundDown(), "armed only");
        uint256 bobBefore = vault.balanceOf(BOB, USD);
        vault.settle(b, sigs);
        assertEq(vault.balanceOf(BOB, USD), bobBefore - 4_200e6, "bob assessed");
        assertEq(vault.operatorCapital(), 0, "layer 3 paid its 5,000 into the cover");
        _settleActions(_one(_a(ALICE, Batch.CLOSE, 0))); // covered: the engine closes the default
        vm.warp(block.timestamp + 1 days);
        vault.forceWindDown(BOB);
        assertTrue(vault.woundDown(), "wound down after the cover");
        vm.prank(governor);
        vault.windDownWithdrawSystem(OPCAP, USD, governor); // no default open any more
    }

    function test_operatorCapitalHeldWhileADefaultIsOpen() public {
        _setUpDefault();
        _declareAlice();
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
        vm.prank(governor);
        vm.expectRevert(abi.encodeWithSelector(IVault.DefaultsOpen.selector, uint256(1)));
        vault.windDownWithdrawSystem(OPCAP, USD, governor);
        vm.prank(governor);
        vault.windDownWithdrawSystem(1, USD, governor); // the fee account is not a layer: paid
    }
}

/// @notice Finding 8 (the review's debtorWithSharesThatNeverClaimsLocksItsPart): anyone nets a debtor's part of
/// the default fund's estate against its debt, so a debtor that never claims does not lock it from the other
/// shares. DefaultsFixture's example: shares alice 10,000, bob 6,000, carol 4,000 of 20,000; the fund's cash
/// 30,000; alice owes 40,000 (more than her whole part) and holds 5 weth at 2000.
contract VaultEstateNettingTest is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _setUpDefault();
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
    }

    function test_anyoneNetsADebtorsEstatePart() public {
        vault.seizeCollateralForDebt(ALICE, WETH); // anyone: 5 weth (10,000) into the estate
        assertEq(vault.debtOf(ALICE), 30_000e6, "debt after the seizure");
        vm.expectEmit();
        emit IVault.EstateClaimed(ALICE, USD, 15_000e6, 15_000e6);
        vm.prank(address(0xBEEF)); // anyone
        vault.netEstateForDebt(ALICE, USD);
        assertEq(vault.debtOf(ALICE), 15_000e6, "her part went to her debt");
        assertEq(vault.balanceOf(ALICE, USD), 0, "nothing left over for her");
        uint256 gotUsd;
        uint256 gotWeth;
        address[2] memory who = [bob, carol];
        for (uint256 round; round < 3; ++round) {
            vault.netEstateForDebt(ALICE, USD);
            vault.netEstateForDebt(ALICE, WETH);
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
        // without netting: 14,000 + 16,000 of their cash and only half of the estate's 30,000 (and 2.5 weth)
        assertGt(gotUsd, 14_000e6 + 16_000e6 + 15_000e6, "more than the half the never-claiming debtor left them");
        assertGt(gotWeth, 2.5e18, "and more than half of the seized weth");
        assertLt(vault.balanceOf(FUND, USD), 15_000e6, "alice's part no longer locked in the fund");
        assertEq(usd.balanceOf(address(vault)), vault.totalOwed(USD), "the vault holds what it owes");
    }

    /// Nothing to net: no debt, or no pool share; before the wind-down, NotWoundDown; an unknown asset, UnknownAsset.
    function test_netEstateForDebt_noOpsAndErrors() public {
        uint256 fund = vault.balanceOf(FUND, USD);
        vault.netEstateForDebt(BOB, USD); // bob has shares but no debt
        vault.netEstateForDebt(DAVE, USD); // dave has neither
        assertEq(vault.balanceOf(FUND, USD), fund, "nothing moved");
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAsset.selector, uint16(9)));
        vault.netEstateForDebt(ALICE, 9);
    }
}

/// @notice netEstateForDebt: what exceeds the debt becomes the debtor's balance, paid by its own windDownWithdraw.
contract VaultEstateNettingRestTest is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _setUpDefault();
        _deposit(alice, USD, 35_000 * USD_UNIT); // repays 35,000 of her 40,000 debt
        vm.warp(vault.escapeHatchOpensAt());
        vault.triggerWindDown();
    }

    function test_netEstateForDebt_restBecomesItsBalance() public {
        assertEq(vault.debtOf(ALICE), 5_000e6, "5,000 left");
        uint256 owed = vault.totalOwed(USD);
        vm.expectEmit();
        // half of the fund's cash (30,000 + the 35,000 her deposit repaid); 5,000 of it to her debt
        emit IVault.EstateClaimed(ALICE, USD, 32_500e6, 5_000e6);
        vault.netEstateForDebt(ALICE, USD);
        assertEq(vault.debtOf(ALICE), 0, "covered");
        assertEq(vault.balanceOf(ALICE, USD), 27_500e6, "the rest is hers");
        assertEq(vault.totalOwed(USD), owed, "still owed: now as her balance");
        uint256 more = vault.estateClaimOf(ALICE, USD); // the 5,000 kept raised the estate for every share
        vm.prank(alice);
        vault.windDownWithdraw(USD, alice);
        assertEq(usd.balanceOf(alice), 27_500e6 + more, "paid by her own withdrawal");
    }
}

/// @notice netEstateForDebt before the wind-down.
contract VaultEstateNettingBeforeWindDownTest is DefaultsFixture {
    function test_refusedBeforeTheWindDown() public {
        vm.expectRevert(IVault.NotWoundDown.selector);
        vault.netEstateForDebt(ALICE, 0);
    }
}

/// @notice Issue 11, fourth review, finding 2 (R4_2_ArmedExitIsAStandingOption): an armed exit must be used
/// within WIND_DOWN_WINDOW (1 day of unpaused time) after it became due; a later forceWindDown clears the request
/// (ExitLapsed) instead of winding down, so a quorum compromised long after the arming cannot pair its batch with
/// it. The lapsed member asks again and waits the whole escape period.
contract VaultExitLapseTest is VaultFixture {
    uint256 internal constant BUDGET = 10_000 * USD_UNIT;
    uint256 internal constant VICTIMS = 600_000 * USD_UNIT;
    uint64 internal constant GRACE = 1 days; // VaultStorage.WIND_DOWN_GRACE
    uint64 internal constant WINDOW = 1 days; // VaultStorage.WIND_DOWN_WINDOW

    event ExitRequested(uint32 indexed account);

    function setUp() public override {
        super.setUp();
        _allowOutflow(USD, BUDGET);
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, USD, 200_000 * USD_UNIT);
        _deposit(carol, USD, 100_000 * USD_UNIT);
        _deposit(dave, USD, 10_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 2_000 * USD_UNIT, 1_000 * USD_UNIT)); // dave holds positions
        _settle(b);
    }

    /// The PoC, replayed: dave's exit armed on day 8, a month of honest batches, then the compromised quorum's
    /// batch moving every member's cash to dave. The forceWindDown in its block lapses the old arming instead
    /// of winding down; dave's new request waits E, and what he asks to withdraw waits the delay, in which the
    /// guardian vetoes it: nothing leaves.
    function test_armedExitLapses_aLaterCompromiseCannotUseIt() public {
        vm.prank(dave);
        vault.requestExit();
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        vault.forceWindDown(DAVE); // armed
        for (uint256 i; i < 30; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(CAROL, USD, -100_000e6);
        b.transfers[3] = _t(DAVE, USD, int256(VICTIMS));
        b.requirements = _one(_req(DAVE, 1, 0));
        _settle(b);
        vm.expectEmit();
        emit IVault.ExitLapsed(DAVE);
        vault.forceWindDown(DAVE); // returns: the clearing sticks
        assertFalse(vault.woundDown(), "the stale arming did not open the wind-down");
        vm.expectRevert(abi.encodeWithSelector(IVault.NoExitRequest.selector, DAVE));
        vault.forceWindDown(DAVE);

        vm.startPrank(dave);
        vm.expectEmit();
        emit ExitRequested(DAVE);
        vault.requestExit(); // asks again: the whole escape period
        uint256 id = vault.requestWithdrawal(USD, uint128(VICTIMS), dave);
        vm.stopPrank();
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.forceWindDown(DAVE);
        vm.prank(guardian);
        vault.vetoWithdrawal(id); // within the delay
        assertEq(usd.balanceOf(dave), 0, "nothing left the vault");
        assertEq(vault.totalOwed(USD), VICTIMS + 10_000 * USD_UNIT, "all still owed");
    }

    /// The window's edges: one second before windsAt + WINDOW the wind-down opens; at windsAt + WINDOW the call
    /// lapses the request, and the member's new request waits E again before it can arm.
    function test_windowEdges_andALapsedMemberWaitsEAgain() public {
        uint256 windsAt = _arm();
        uint256 s = vm.snapshotState();
        vm.warp(windsAt + WINDOW - 1);
        vault.forceWindDown(DAVE);
        assertTrue(vault.woundDown(), "inside the window: wound down");
        vm.revertToState(s);

        vm.warp(windsAt + WINDOW);
        vm.expectEmit();
        emit IVault.ExitLapsed(DAVE);
        vault.forceWindDown(DAVE);
        assertFalse(vault.woundDown(), "lapsed");
        vm.prank(dave);
        vault.requestExit();
        uint256 again = block.timestamp;
        vm.warp(again + ESCAPE_PERIOD - 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(again + ESCAPE_PERIOD)));
        vault.forceWindDown(DAVE);
        vm.warp(again + ESCAPE_PERIOD);
        vm.expectEmit();
        emit IVault.WindDownArmed(DAVE, uint64(block.timestamp + GRACE));
        vault.forceWindDown(DAVE);
        vm.warp(block.timestamp + GRACE);
        vault.forceWindDown(DAVE);
        assertTrue(vault.woundDown(), "the new request opened it");
    }

    /// The window counts unpaused time: a pause in it (which also holds forceWindDown) moves its end by its length.
    function test_pauseExtendsTheWindow() public {
        uint256 windsAt = _arm();
        vm.warp(windsAt + 6 hours);
        vm.prank(guardian);
        vault.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.forceWindDown(DAVE);
        vm.warp(windsAt + 9 hours);
        vm.prank(governor);
        vault.unpause(); // 3 hours paused
        uint256 s = vm.snapshotState();
        vm.warp(windsAt + WINDOW + 3 hours - 1);
        vault.forceWindDown(DAVE);
        assertTrue(vault.woundDown(), "still inside the window");
        vm.revertToState(s);
        vm.warp(windsAt + WINDOW + 3 hours);
        vm.expectEmit();
        emit IVault.ExitLapsed(DAVE);
        vault.forceWindDown(DAVE);
        assertFalse(vault.woundDown(), "lapsed once the unpaused window was over");
    }

    /// A served exit neither winds down nor lapses: ExitServed, and the request stays.
    function test_servedArmedExitPastTheWindow_isServedNotLapsed() public {
        uint256 windsAt = _arm();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 0, 0)); // L = 0: in force at once
        _settle(b);
        vm.warp(windsAt + WINDOW + 1 days);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, DAVE));
        vault.forceWindDown(DAVE);
        vm.prank(dave);
        vault.cancelExit(); // still there to cancel
    }

    /// dave asks to exit with IM in force; E later it is armed. Returns when the wind-down becomes due.
    function _arm() private returns (uint256 windsAt) {
        vm.prank(dave);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        windsAt = block.timestamp + GRACE;
        vm.expectEmit();
        emit IVault.WindDownArmed(DAVE, uint64(windsAt));
        vault.forceWindDown(DAVE);
    }
}

/// @notice Issue 11, fourth review, finding 4 (R4_4_FakeDeclareHoldsAnExitForever): an open default does not
/// serve an exit (the member can neither request nor execute a withdrawal), so a DECLARE never CLOSEd no longer
/// holds an exiting member in. A DECLARE restarts an unarmed exit's clock once per request (a real defaulter
/// cannot open the wind-down before the engine had E to close it out), so a quorum cycling DECLARE / CLOSE holds
/// an exit at most 2·E + WIND_DOWN_GRACE.
contract VaultExitDefaultTest is DefaultsFixture {
    uint256 internal constant ALICE_CASH = 100_000 * USD_UNIT;
    uint64 internal constant GRACE = 1 days;

    event ExitRequested(uint32 indexed account);

    function setUp() public override {
        super.setUp();
        _deposit(alice, USD, ALICE_CASH);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 10_000 * USD_UNIT, 5_000 * USD_UNIT)); // alice trades
        _settle(b);
    }

    /// The PoC, replayed: IM 0 posted and a DECLARE of a member owing nothing. The exit is not ExitServed; its
    /// clock restarted at the DECLARE; E + the grace later the wind-down opens and pays alice her whole balance.
    function test_openDefaultIsUnserved_theFakeDeclareNoLongerHoldsTheExit() public {
        vm.prank(alice);
        vault.requestExit();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(50_000 * USD_UNIT), alice);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0));
        b.defaultActions = _one(_a(ALICE, Batch.DECLARE, 0));
        vm.expectEmit(true, false, false, false);
        emit ExitRequested(ALICE); // the DECLARE restarts the clock
        _settle(b);
        uint256 declared = block.timestamp;
        assertEq(vault.withdrawal(id).status, 4, "recalled");
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(declared + ESCAPE_PERIOD)));
        vault.forceWindDown(ALICE); // not ExitServed: IM 0 but in default
        for (uint256 i; i < 7; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch()); // empty batches keep landing
        }
        vm.expectEmit();
        emit IVault.WindDownArmed(ALICE, uint64(block.timestamp + GRACE));
        vault.forceWindDown(ALICE);
        vm.warp(block.timestamp + GRACE);
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "the open default opened the hatch");
        vm.prank(alice);
        vault.windDownWithdraw(USD, alice);
        assertEq(usd.balanceOf(alice), ALICE_CASH, "all of it paid out");
    }

    /// The restart is once per request: a second DECLARE after a CLOSE emits no ExitRequested and keeps the
    /// clock from the first DECLARE.
    function test_declareRestartsTheClockOncePerRequest() public {
        vm.prank(alice);
        vault.requestExit();
        vm.warp(block.timestamp + 3 days);
        _settleActions(_one(_a(ALICE, Batch.DECLARE, 0)));
        uint256 declared = block.timestamp;
        vm.warp(block.timestamp + 1 days);
        _settleActions(_one(_a(ALICE, Batch.CLOSE, 0)));
        vm.warp(block.timestamp + 1 days);
        vm.recordLogs();
        _settleActions(_one(_a(ALICE, Batch.DECLARE, 0)));
        assertEq(vm.getRecordedLogs().length, 2, "DefaultDeclared and BatchSettled only: no restart");
        vm.warp(declared + ESCAPE_PERIOD - 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(declared + ESCAPE_PERIOD)));
        vault.forceWindDown(ALICE);
        vm.warp(declared + ESCAPE_PERIOD);
        vault.forceWindDown(ALICE); // arms
        vm.warp(block.timestamp + GRACE);
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "E + grace after the first DECLARE");
    }

    /// The bound: a quorum "serving" alice (IM 0) and cycling DECLARE / CLOSE, with a raise of her IM right
    /// after each CLOSE (which restarts a served exit's clock only after a withdrawal delay out of default),
    /// holds her exit at most 2·E + the grace from the request: its first DECLARE lands just before E.
    function test_declareCloseCyclesHoldAtMostTwoEPlusGrace() public {
        vm.prank(alice);
        vault.requestExit();
        uint256 requested = block.timestamp;
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0)); // "served" (L = 0: in force at once)
        _settle(b);
        vm.warp(requested + ESCAPE_PERIOD - 1);
        _settleActions(_one(_a(ALICE, Batch.DECLARE, 0))); // restarts the clock, once
        uint256 declared = block.timestamp;
        while (block.timestamp + 1 days < declared + ESCAPE_PERIOD) {
            vm.warp(block.timestamp + 1 days);
            _settleActions(_one(_a(ALICE, Batch.CLOSE, 0)));
            vm.warp(block.timestamp + 1 hours); // less than a withdrawal delay served out of default
            b = _nextBatch();
            b.requirements = _two(_req(ALICE, 1, 0), _req(ALICE, 0, 0)); // would restart a served exit
            b.defaultActions = _one(_a(ALICE, Batch.DECLARE, 0));
            vm.recordLogs();
            _settle(b);
            Vm.Log[] memory logs = vm.getRecordedLogs();
            for (uint256 i; i < logs.length; ++i) {
                assertTrue(logs[i].topics[0] != ExitRequested.selector, "no restart in the cycle");
            }
        }
        vm.warp(declared + ESCAPE_PERIOD);
        vault.forceWindDown(ALICE); // arms
        vm.warp(block.timestamp + GRACE);
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "opened");
        assertLe(block.timestamp - requested, 2 * ESCAPE_PERIOD + GRACE, "held at most 2E + grace");
    }

    /// A CLOSE starts the served time afresh: a raise a withdrawal delay after it restarts the clock (the member
    /// was out of default with IM 0 for D), one a second earlier does not.
    function test_raiseRestartsOnlyAfterADelayServedOutOfDefault() public {
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0));
        b.defaultActions = _one(_a(ALICE, Batch.DECLARE, 0));
        _settle(b);
        vm.prank(alice);
        vault.requestExit(); // in default: no DECLARE since the request, so a later DECLARE may restart it
        vm.warp(block.timestamp + 3 days);
        _settleActions(_one(_a(ALICE, Batch.CLOSE, 0)));
        uint256 closed = block.timestamp;
        uint256 s = vm.snapshotState();
        vm.warp(closed + WITHDRAWAL_DELAY - 1);
        b = _nextBatch();
        b.requirements = _one(_req(ALICE, 1, 0));
        vm.recordLogs();
        _settle(b);
        assertEq(vm.getRecordedLogs().length, 1, "BatchSettled only: no restart");
        vm.revertToState(s);
        vm.warp(closed + WITHDRAWAL_DELAY);
        b = _nextBatch();
        b.requirements = _one(_req(ALICE, 1, 0));
        vm.expectEmit(true, false, false, false);
        emit ExitRequested(ALICE); // served for D out of default: the clock restarts
        _settle(b);
    }

    /// An armed exit keeps its arming through a DECLARE (no restart, which would add a grace to the bound): the
    /// wind-down opens at the time WindDownArmed gave, the default open (unserved though IM 0).
    function test_declareDoesNotRestartAnArmedExit() public {
        vm.prank(alice);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        vault.forceWindDown(ALICE); // arms
        uint256 windsAt = block.timestamp + GRACE;
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0));
        b.defaultActions = _one(_a(ALICE, Batch.DECLARE, 0));
        vm.recordLogs();
        _settle(b);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != ExitRequested.selector, "no restart of an armed exit");
        }
        vm.warp(windsAt);
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "opened at the armed time");
    }
}
