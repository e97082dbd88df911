// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {VaultHandler} from "./VaultHandler.sol";

/// @notice The vault's invariants under random sequences of every external action (see VaultHandler),
/// checked after every call:
///  - solvency, per asset: Σ balances (members and system accounts) + pending withdrawals == totalOwed
///    <= token.balanceOf(vault), the excess being exactly the tokens sent straight to the vault;
///  - the batch chain: sequence and last hash move by exactly the applied batches;
///  - debt: Σ members' debt == Σ advanced − Σ repaid − Σ covered by wind-down seizures (<= Σ advanced),
///    system accounts never owe, and a member that owes holds no cash (repaid first);
///  - debt also falls by exactly Σ WaterfallDraw values of the COVER/ASSESS rows (ghostWaterfallCover);
///  - the pool: value == Σ members' contributionOf within rounding (Σ <= value < Σ + members), no contribution
///    return while a default is open, at most the handler's one default open;
///  - the pool's backing until wind-down: the fund's cash + advances of members not in an open default >=
///    the pool's value, and cash + all advances - pool value == the ghost (moved only by the fund's own
///    cash rows and L1 draws);
///  - every handler-level check (zero-sum of each applied batch, invalid batches rejected with their own
///    error and no effect, withdrawals never leaving free collateral negative, each COVER's draws in layer
///    order from the capacities before the batch, summing to the debt reduction and moving those balances,
///    invalid default rows and payouts into the pool's backing rejected with their own error and no effect
///    on balances or default state…) held.
/// `forge test` (default profile) runs 200 × 500 = 100,000 calls; `FOUNDRY_PROFILE=deep` a million.
contract VaultInvariantTest is VaultFixture {
    VaultHandler internal handler;
    MockERC20 internal wbtc;
    uint16 internal constant WBTC = 2;

    function setUp() public override {
        super.setUp();
        wbtc = new MockERC20("Wrapped Bitcoin", "WBTC", 8);
        vm.prank(governor);
        vault.listAsset(IERC20(address(wbtc)), uint128(60_000 * USD_UNIT), 1500); // as the first batch marks it

        // Starting book: every member holds cash and collateral, the default fund and operator capital
        // are funded, both collateral assets are marked, and members have margin requirements.
        address[4] memory ms = [alice, bob, carol, dave];
        for (uint256 i; i < ms.length; ++i) {
            _deposit(ms[i], USD, 200_000 * USD_UNIT);
            _deposit(ms[i], WETH, 50 * WETH_UNIT);
            _deposit(ms[i], WBTC, 2e8);
        }
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -100_000e6);
        b.transfers[1] = _t(BOB, USD, -100_000e6);
        b.transfers[2] = _t(FUND, USD, 150_000e6);
        b.transfers[3] = _t(OPCAP, USD, 50_000e6);
        b.marks = _two(_mk(WETH, 2000, 2000 * USD_UNIT), _mk(WBTC, 1500, 60_000 * USD_UNIT));
        b.requirements = _two(_req(ALICE, 50_000e6, 30_000e6), _req(CAROL, 20_000e6, 10_000e6));
        // every member contributes to the default fund: pool 80,000
        b.contributions = new bytes32[](4);
        for (uint32 i; i < 4; ++i) {
            b.contributions[i] = Batch.packContribution(ALICE + i, 20_000e6);
        }
        _settle(b);
        // outflow budgets for instant releases: about a fifth of a member's largest deposit per day, so a
        // run meets both instant and budget-skipped approvals
        vm.startPrank(governor);
        vault.setOutflowBudget(0, uint112(100_000 * USD_UNIT));
        vault.setOutflowBudget(1, uint112(40 * WETH_UNIT));
        vault.setOutflowBudget(2, uint112(2e8));
        vm.stopPrank();
        vm.warp(block.timestamp + vault.OUTFLOW_PERIOD());

        VaultHandler.Config memory c;
        c.vault = vault;
        c.tokens = new IERC20[](3);
        (c.tokens[0], c.tokens[1], c.tokens[2]) = (IERC20(address(usd)), IERC20(address(weth)), IERC20(address(wbtc)));
        c.members = new address[](4);
        c.memberKeys = new uint256[](4);
        (c.members[0], c.members[1], c.members[2], c.members[3]) = (alice, bob, carol, dave);
        (c.memberKeys[0], c.memberKeys[1], c.memberKeys[2], c.memberKeys[3]) = (ALICE_KEY, BOB_KEY, CAROL_KEY, DAVE_KEY);
        c.signerKeys = signerKeys;
        c.governor = governor;
        c.guardian = guardian;
        c.maxDeposit = new uint256[](3);
        (c.maxDeposit[0], c.maxDeposit[1], c.maxDeposit[2]) = (500_000 * USD_UNIT, 200 * WETH_UNIT, 10e8);
        c.maxPrice = new uint128[](3);
        (c.maxPrice[0], c.maxPrice[1], c.maxPrice[2]) = (uint128(USD_UNIT), uint128(5000 * USD_UNIT), uint128(150_000 * USD_UNIT));
        handler = new VaultHandler(c);

        targetContract(address(handler));
    }

    // ------------------------------------------------------------------ invariants

    /// @dev One invariant function, so that forge runs one campaign of runs × depth calls (each
    /// `invariant_*` function gets a campaign of its own) and checks everything after every call.
    function invariant_vault() public view {
        _solvency();
        _batchChain();
        _debt();
        _pool();
        _backing();
        _estate();
        _handlerChecks();
    }

    /// @dev After wind-down, every claimant of the default fund's estate can be paid: per asset, Σ of what the
    /// members may still claim (estateClaimOf) <= what the estate holds; nothing of it is burnt (the solvency
    /// check keeps the tokens >= totalOwed, and governance cannot take it while shares exist).
    function _estate() internal view {
        if (!vault.woundDown()) return;
        for (uint16 a; a < vault.assetCount(); ++a) {
            uint256 due;
            for (uint32 acct = FIRST_MEMBER_ACCOUNT; acct <= vault.accountCount(); ++acct) {
                due += vault.estateClaimOf(acct, a);
            }
            assertLe(due, vault.balanceOf(2, a), "the estate owes its claimants more than it holds");
        }
    }

    /// @dev The pool's value == Σ members' contribution values, within rounding: each contributionOf is a
    /// floor of shares × value / Σ shares, so the sum is at most the value and short of it by less than one
    /// base unit per member (with 4 members: value - Σ <= 3). A pool drawn to zero is worth zero to all.
    function _pool() internal view {
        (uint256 value, uint256 shares) = vault.defaultFundPool();
        uint256 sum;
        uint256 n;
        for (uint32 acct = FIRST_MEMBER_ACCOUNT; acct <= vault.accountCount(); ++acct) {
            sum += vault.contributionOf(acct);
            ++n;
        }
        assertLe(sum, value, "sum of contributions > pool value");
        assertLt(value - sum, n == 0 ? 1 : n, "pool value - sum of contributions >= one unit per member");
        if (shares == 0) assertEq(value, 0, "pool value without shares");
        assertEq(handler.ghostReturnsWhileOpen(), 0, "contribution returned while a default was open");
        if (handler.ghostDefaulter() != 0) assertTrue(vault.inDefault(handler.ghostDefaulter()), "ghost default not open");
        assertLe(vault.openDefaults(), 1, "the handler opens one default at a time");
    }

    /// @dev Until wind-down: (1) the default fund's cash + outstanding advances of members not in an open
    /// default >= the pool's value; (2) its cash + all advances - the pool's value is exactly what the
    /// ghost followed (moved only by the fund's own cash rows and by L1 draws). (1) is not a property of the
    /// vault alone: a DECLARE of a member whose advance came from the pool's cash breaks it; the vault
    /// refuses only payouts by the fund (PoolUnderfunded), and the handler, as the engine, declares a member
    /// and advances to a defaulter only within the slack. After wind-down contributions are paid out of the
    /// fund's cash as far as it goes and debts are seized as collateral, so neither holds.
    function _backing() internal view {
        if (vault.woundDown()) return;
        (int256 notInDefault, int256 all) = handler.fundSlack();
        if (!handler.ghostBackingWaived()) {
            assertTrue(notInDefault >= 0, "fund cash + advances of members not in default < pool value");
        }
        assertEq(all, handler.ghostFundEquity(), "fund cash + advances - pool != ghost");
    }

    function _solvency() internal view {
        uint32 accounts = vault.accountCount();
        assertEq(uint256(accounts), uint256(handler.accountCount()), "account count");
        for (uint16 a; a < vault.assetCount(); ++a) {
            uint256 sum;
            for (uint32 acct = 1; acct <= accounts; ++acct) {
                sum += vault.balanceOf(acct, a);
            }
            uint256 owed = vault.totalOwed(a);
            uint256 held = handler.tokenOf(a).balanceOf(address(vault));
            assertEq(sum + handler.ghostPending(a), owed, "balances + pending == totalOwed");
            assertLe(owed, held, "totalOwed <= tokens held");
            assertEq(held - owed, handler.ghostDonated(a), "excess == direct transfers");
        }
    }

    function _batchChain() internal view {
        assertEq(uint256(vault.lastSequence()), uint256(handler.ghostSequence()), "sequence == applied batches");
        assertEq(vault.lastBatchHash(), handler.ghostLastHash(), "last batch hash");
        assertEq(uint256(vault.lastAsOf()), uint256(handler.ghostLastAsOf()), "last asOf");
        assertLe(vault.lastAsOf(), block.timestamp, "asOf never in the future");
    }

    function _debt() internal view {
        uint256 total;
        for (uint32 acct = 1; acct <= vault.accountCount(); ++acct) {
            uint256 d = vault.debtOf(acct);
            total += d;
            if (acct < FIRST_MEMBER_ACCOUNT) assertEq(d, 0, "a system account owes");
            if (d != 0) assertEq(vault.balanceOf(acct, USD), 0, "a member that owes holds cash (not repaid first)");
        }
        assertEq(vault.totalDebt(), total, "the running debt total != the sum of debts");
        uint256 advanced = handler.ghostAdvanced();
        assertEq(
            total + handler.ghostRepaid() + handler.ghostSeizedCover() + handler.ghostWaterfallCover(),
            advanced,
            "debt == advanced - repaid - covered"
        );
        assertLe(total, advanced, "debt <= advanced");
    }

    function _handlerChecks() internal view {
        string memory v = handler.violation();
        if (bytes(v).length != 0) fail(v);
    }

    uint32 internal constant FIRST_MEMBER_ACCOUNT = 4;


    /// @dev A plain test that exercises each handler action once, so a broken action shows up as a unit
    /// failure rather than as silent reverts inside the campaign.
    function test_handlerSmoke() public {
        handler.deposit(0, 0, 1000e6);
        handler.deposit(1, 1, 1e18);
        handler.requestWithdrawal(1, 0, 10e6, false);
        handler.requestWithdrawal(2, 1, 1e18, true);
        handler.settleValid(12345);
        handler.settleValid(777);
        for (uint256 k; k < 19; ++k) {
            handler.settleInvalid(1000 + k, k);
        }
        handler.executeWithdrawal(0, 1);
        handler.cancelWithdrawal(0, true);
        handler.cancelWithdrawal(0, false);
        handler.donate(2, 5e8);
        handler.togglePause(0);
        handler.deposit(0, 0, 1000e6);
        handler.togglePause(0);
        handler.contribute(0, 5_000e6, false);
        handler.contribute(1, 3_000e6, true);
        handler.marginCall(2, 7e6, 1e9, false);
        handler.marginCall(2, 7e6, 1e9, true);
        for (uint256 k; k < 9; ++k) {
            handler.defaultInvalid(31 + k, k);
        }
        for (uint256 k; k < 40; ++k) {
            handler.defaultStep(k * 7919);
        }
        for (uint256 k; k < 8; ++k) {
            handler.requestWithdrawal(k, k, 5e6, k % 2 == 0);
            handler.settleAdversarial(4242 + k, k);
        }
        assertGt(handler.count("settle.adversarial"), 0, "no adversarial batch landed");
        handler.requestExit(0);
        handler.vetoWithdrawal(0);
        handler.forceWindDown(0, 1);
        assertEq(handler.count("requestExit"), 1, "requestExit");
        handler.warpAndWindDown(128);
        handler.windDownWithdraw(0, 1);
        handler.windDownWithdrawSystem(1, 0);
        invariant_vault();
    }

    /// @dev The forced-exit actions end to end: a flat member's exit, served, becomes unserved by the guardian's
    /// veto of its withdrawal; E later a forceWindDown arms, one WIND_DOWN_GRACE after opens the wind-down.
    function test_handlerSmokeForcedExit() public {
        handler.deposit(3, 0, 1000e6);
        handler.requestExit(3);
        handler.forceWindDown(3, 1); // served (IM 0): ExitServed
        handler.requestWithdrawal(3, 0, 5e6, false);
        assertEq(handler.pendingCount(), 1, "one pending");
        handler.vetoWithdrawal(0);
        assertEq(handler.count("veto"), 1, "vetoed");
        handler.forceWindDown(3, 1); // unserved since the veto: not overdue
        vm.warp(block.timestamp + vault.escapePeriod());
        handler.forceWindDown(3, 1);
        assertEq(handler.count("forceWindDown.armed"), 1, "armed");
        vm.warp(block.timestamp + 1 days);
        handler.forceWindDown(3, 1);
        assertEq(handler.count("forceWindDown"), 1, "forced wind-down");
        assertEq(handler.count("forceWindDown.reverted"), 2, "ExitServed, then ExitNotOverdue");
        handler.windDownWithdraw(3, 0);
        assertEq(handler.count("windDownWithdraw"), 1, "paid out");
    }

    /// @dev closeDefaultAfterWindDown through the handler: refused before the wind-down and for a member not
    /// in default; after it, the handler's open default closes by the waterfall's order and operator capital
    /// (no longer DefaultsOpen) is paid out.
    function test_handlerSmokeCloseDefaultAfterWindDown() public {
        for (uint256 k; k < 200 && handler.ghostDefaulter() == 0; ++k) {
            handler.defaultStep(k * 7919);
        }
        uint32 x = handler.ghostDefaulter();
        assertTrue(x != 0, "a default opened");
        uint256 m = x - FIRST_MEMBER_ACCOUNT;
        handler.closeDefaultAfterWindDown(m); // NotWoundDown
        handler.warpAndWindDown(128);
        handler.closeDefaultAfterWindDown(m + 1); // NotInDefault (another member)
        handler.closeDefaultAfterWindDown(m);
        assertEq(handler.count("closeAfterWindDown"), 1, "closed");
        assertEq(handler.count("closeAfterWindDown.reverted"), 2, "NotWoundDown, NotInDefault");
        assertEq(vault.openDefaults(), 0, "none open");
        handler.windDownWithdrawSystem(2, 0); // operator capital (account 3)
        assertEq(handler.count("windDownSystem"), 1, "operator capital paid");
        invariant_vault();
    }

    /// @dev A contribution beyond the member's cash recalls its pending cash withdrawals (finding 7's rule).
    function test_handlerSmokeContributionRecall() public {
        handler.deposit(0, 0, 10_000e6);
        handler.requestWithdrawal(0, 0, 9_000e6, false);
        for (uint256 k; k < 64 && handler.count("contribute.recalled") == 0; ++k) {
            handler.contribute(0, 8 * (1_000e6 + k * 977e6), false);
        }
        assertGt(handler.count("contribute.recalled"), 0, "a contribution recalled a pending withdrawal");
        invariant_vault();
    }

    /// @dev An armed exit left unused past WIND_DOWN_GRACE + WIND_DOWN_WINDOW lapses (ExitLapsed): the handler's
    /// model clears the request, and the member's new one waits E again.
    function test_handlerSmokeForcedExitLapses() public {
        handler.deposit(3, 0, 1000e6);
        handler.requestExit(3);
        handler.requestWithdrawal(3, 0, 5e6, false);
        handler.vetoWithdrawal(0); // unserved from now
        vm.warp(block.timestamp + vault.escapePeriod());
        handler.forceWindDown(3, 1);
        assertEq(handler.count("forceWindDown.armed"), 1, "armed");
        vm.warp(block.timestamp + 2 days);
        handler.forceWindDown(3, 1);
        assertEq(handler.count("forceWindDown.lapsed"), 1, "lapsed");
        assertFalse(vault.woundDown(), "not wound down");
        handler.requestExit(3);
        handler.forceWindDown(3, 1); // a fresh request (IM 0, no veto): served
        assertEq(handler.count("forceWindDown.reverted"), 1, "ExitServed");
        invariant_vault();
    }

    /// @dev A campaign's shrunk failure (CI profile, run 68): kind 14 of settleInvalid (a cash debit beyond the
    /// member's cash and the whole fund) left out the member's pending cash withdrawals, which the debit now
    /// recalls first (issue 11, finding 7), so the "invalid" batch landed.
    function test_handlerInvalidCashDebitCountsRecalledWithdrawals() public {
        handler.defaultStep(2051);
        handler.defaultStep(256);
        handler.defaultStep(670893289385759);
        handler.settleAdversarial(5196713915603, 258993981446);
        handler.settleValid(21207405437459743023569298014748203802110742701809477961438639528939874810223);
        handler.settleAdversarial(
            143902537873745821912669974451313302003018668485342867,
            3691864922553046294898760962517098937372327049631703914160382055963166
        );
        handler.settleValid(1103084657925);
        handler.settleValid(20208);
        handler.defaultStep(316569);
        handler.requestWithdrawal(21107, 1411065423579, 321821336492, true);
        handler.settleAdversarial(449091922096, 1037006729100);
        handler.requestWithdrawal(603063151154, 660, 561185880298, true);
        handler.settleInvalid(35769536739614955028654773145802032923414958967368859149584446878, type(uint256).max - 1);
        invariant_vault();
    }
}
