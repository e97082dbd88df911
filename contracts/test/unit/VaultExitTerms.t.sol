// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "../utils/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {DefaultFund} from "../../src/libraries/DefaultFund.sol";

/// @notice Issue 11, fourth review, findings 9 and 6: the terms of a forced exit. A veto unserves an exit only
/// until a withdrawal of the member executes after it (finding 9: one veto no longer dooms the vault once the
/// member was let out); only the first veto may restart the clock. An exit is timed by the escape period in
/// force when its clock started, never by a later `setEscapePeriod` (finding 6).
contract VaultExitTermsTest is VaultFixture {
    uint64 internal constant GRACE = 1 days; // VaultStorage.WIND_DOWN_GRACE

    event ExitRequested(uint32 indexed account);
    event ExitVetoCleared(uint32 indexed account);

    function setUp() public override {
        super.setUp();
        _deposit(alice, USD, 10_000 * USD_UNIT);
        _deposit(bob, USD, 500_000 * USD_UNIT);
    }

    function _vetoAliceOnce() internal returns (uint256 vetoedAt) {
        vm.prank(alice);
        vault.requestExit(); // flat, IM never posted: served from the start
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(10_000 * USD_UNIT), alice);
        vm.expectEmit(true, false, false, false);
        emit ExitRequested(ALICE); // served for the delay: the first veto restarts the clock
        vm.prank(guardian);
        vault.vetoWithdrawal(id);
        return block.timestamp;
    }

    /// The PoC of finding 9: alice baits a veto, then is paid all she has. The withdrawal executed after the
    /// veto clears it (ExitVetoCleared): her exit is served again and nobody can wind the vault down through it.
    function test_withdrawalExecutedAfterAVeto_servesTheExitAgain() public {
        _vetoAliceOnce();
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(block.timestamp + ESCAPE_PERIOD)));
        vault.forceWindDown(ALICE); // vetoed: unserved, its clock from the veto
        vm.prank(alice);
        uint256 id2 = vault.requestWithdrawal(USD, uint128(10_000 * USD_UNIT), alice);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vm.expectEmit(true, false, false, false);
        emit ExitVetoCleared(ALICE);
        vault.executeWithdrawal(id2);
        for (uint256 i; i < 7; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
        vault.forceWindDown(ALICE);
        assertFalse(vault.woundDown(), "bob's book goes on");
    }

    /// A veto after the clear flags the exit again but does not restart its clock: the guardian cannot hold an
    /// exiting member in by letting one small withdrawal go between vetoes. The wind-down arms E after the
    /// first veto.
    function test_laterVetoFlagsAgainWithoutRestart() public {
        uint256 firstVeto = _vetoAliceOnce();
        vm.prank(alice);
        uint256 small = vault.requestWithdrawal(USD, uint128(1 * USD_UNIT), alice);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vault.executeWithdrawal(small); // let out: the veto is cleared
        vm.warp(block.timestamp + 2 days);
        _settle(_nextBatch());
        vm.prank(alice);
        uint256 big = vault.requestWithdrawal(USD, uint128(9_999 * USD_UNIT), alice);
        vm.recordLogs();
        vm.prank(guardian);
        vault.vetoWithdrawal(big);
        assertEq(vm.getRecordedLogs().length, 2, "WithdrawalVetoed and WithdrawalCancelled only: no restart");
        vm.warp(firstVeto + ESCAPE_PERIOD - 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, ALICE, uint64(firstVeto + ESCAPE_PERIOD)));
        vault.forceWindDown(ALICE);
        vm.warp(firstVeto + ESCAPE_PERIOD);
        vault.forceWindDown(ALICE); // armed
        vm.warp(block.timestamp + GRACE);
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "held by vetoes: the forced exit opens");
    }

    /// The PoC of finding 6, lengthened: an exit requested under E = 7 days keeps 7 days when governance sets
    /// 365 days (in force from the next batch) while it waits.
    function test_lengthenedEscapePeriodDoesNotHoldAWaitingExit() public {
        _holdDave();
        vm.prank(dave);
        vault.requestExit();
        uint256 requested = block.timestamp;
        vm.warp(block.timestamp + 6 days);
        vm.prank(governor);
        vault.setEscapePeriod(365 days);
        _settle(_nextBatch());
        assertEq(vault.escapePeriod(), 365 days, "in force for the hatch");
        vm.warp(requested + ESCAPE_PERIOD);
        vault.forceWindDown(DAVE); // armed at the period of its request
    }

    /// Shortened: an old request is not made overdue early; a request made after the change uses the new one.
    function test_shortenedEscapePeriodAppliesToLaterRequestsOnly() public {
        _holdDave();
        vm.prank(dave);
        vault.requestExit();
        uint256 requested = block.timestamp;
        vm.warp(block.timestamp + 2 days);
        vm.prank(governor);
        vault.setEscapePeriod(1 days);
        _settle(_nextBatch());
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(requested + ESCAPE_PERIOD)));
        vault.forceWindDown(DAVE);
        // a fresh request (after cancelling) runs on the period in force now
        vm.prank(dave);
        vault.cancelExit();
        vm.prank(dave);
        vault.requestExit();
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + 1 days)));
        vault.forceWindDown(DAVE);
        vm.warp(block.timestamp + 1 days);
        vault.forceWindDown(DAVE); // armed
    }

    /// A restart (an IM rise of a served exit) takes the period in force at the restart.
    function test_restartTakesThePeriodInForceThen() public {
        vm.prank(dave);
        vault.requestExit(); // flat: served
        vm.prank(governor);
        vault.setEscapePeriod(3 days);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        _settle(_nextBatch()); // 3 days in force
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 1, 0));
        _settle(b); // restart at 3 days
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(block.timestamp + 3 days)));
        vault.forceWindDown(DAVE);
    }

    function _holdDave() internal {
        _deposit(dave, USD, 10_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 2_000 * USD_UNIT, 1_000 * USD_UNIT)); // kept above 0: unserved
        _settle(b);
    }
}

/// @notice Issue 11, fourth review, finding 5 (vault side): a contribution an exiting member still has counts
/// as unserved while no default is open (then it is only the signers' to return); while one is open the
/// return is locked (ContributionLocked) and the contribution does not count.
contract VaultExitContributionTest is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _deposit(bob, USD, 50_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(BOB, 30_000e6));
        b.requirements = _one(_req(BOB, 10_000 * USD_UNIT, 5_000 * USD_UNIT));
        _settle(b);
        vm.prank(bob);
        vault.requestExit();
        b = _nextBatch();
        b.requirements = _one(_req(BOB, 0, 0)); // closed out, flat
        _settle(b);
    }

    /// The PoC of finding 5: IM 0, cash paid, the 30,000 stake never returned: E + the grace later the
    /// forced exit opens.
    function test_heldContributionIsUnserved() public {
        uint256 requested = block.timestamp;
        vm.prank(bob);
        uint256 id = vault.requestWithdrawal(USD, uint128(20_000 * USD_UNIT), bob);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vault.executeWithdrawal(id);
        for (uint256 i; i < 6; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        vm.warp(requested + ESCAPE_PERIOD);
        vault.forceWindDown(BOB); // armed: not ExitServed
        vm.warp(block.timestamp + 1 days);
        vault.forceWindDown(BOB);
        assertTrue(vault.woundDown(), "his stake is paid by the wind-down");
    }

    /// Returned: served.
    function test_returnedContributionServes() public {
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(BOB, -30_000e6));
        _settle(b);
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, BOB));
        vault.forceWindDown(BOB);
    }

    /// While a default is open the return is locked, so the contribution does not unserve the exit (finding 4
    /// of this review, the open default's own clock, is another rule).
    function test_contributionDuringAnOpenDefaultDoesNotCount() public {
        _deposit(alice, USD, 1_000 * USD_UNIT);
        _settleActions(_one(_a(ALICE, Batch.DECLARE, 0)));
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, BOB));
        vault.forceWindDown(BOB);
    }
}

/// @notice Issue 11, fourth review, finding 10: a pool drawn to dust starts a new epoch at the next
/// contribution instead of minting past 2^128 (its dust stays in the pool, for the new epoch).
contract VaultPoolDustTest is DefaultsFixture {
    MockERC20 internal dai;
    uint256 internal constant DAI = 1e18;

    function setUp() public override {
        super.setUp();
        dai = new MockERC20("Dai", "DAI", 18);
        vault = _deployVault(IERC20(address(dai)), signerAddrs, 2);
        vm.startPrank(operator);
        vault.admitMember(alice);
        vault.admitMember(bob);
        vault.admitMember(carol);
        vault.admitMember(dave);
        vm.stopPrank();
        _deposit(bob, USD, 10_000_000 * DAI);
        _deposit(carol, USD, 1_000_000 * DAI);
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(BOB, int256(10_000_000 * DAI)));
        _settle(b);
        b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -int256(10_000_000 * DAI - 1)), _t(DAVE, USD, int256(10_000_000 * DAI - 1)));
        _settle(b);
        _settleActions(
            _three(_a(ALICE, Batch.DECLARE, 0), _a(ALICE, Batch.COVER, 10_000_000 * DAI - 1), _a(ALICE, Batch.CLOSE, 0))
        );
    }

    /// The PoC of finding 10: the 1 M contribution lands, in a new epoch holding the 1 wei of dust.
    function test_contributionAfterADustDrawStartsANewEpoch() public {
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(CAROL, int256(1_000_000 * DAI)));
        _settle(b);
        (uint256 value, uint256 shares) = vault.defaultFundPool();
        assertEq(value, 1_000_000 * DAI + 1, "the dust stays in the pool");
        assertEq(shares, 1_000_000 * DAI, "new epoch: one share per unit");
        assertEq(vault.contributionOf(CAROL), 1_000_000 * DAI + 1, "carol holds the pool");
        assertEq(vault.contributionOf(BOB), 0, "the old epoch's shares count for nothing");
    }
}

contract DefaultFundDustHarness {
    DefaultFund.State internal s;

    function contribute(uint32 account, uint256 amount) external returns (uint256) {
        return DefaultFund.contribute(s, account, amount);
    }

    function draw(uint256 amount) external {
        DefaultFund.draw(s, amount);
    }

    function pool() external view returns (uint256 value, uint256 shares) {
        return (s.value, s.shares);
    }

    function valueOf(uint32 account) external view returns (uint256) {
        return DefaultFund.valueOf(s, account);
    }
}

/// @notice Finding 10, fuzzed: after any sequence of draws, a contribution of up to 2^100 base units lands,
/// creates nothing, and is worth what it brought (less at most one share's worth of rounding).
contract DefaultFundDustFuzzTest is Test {
    DefaultFundDustHarness internal h;

    function setUp() public {
        h = new DefaultFundDustHarness();
    }

    function testFuzz_contributeAfterArbitraryDraws(uint96 first, uint256[4] memory draws, uint256 seconds_, uint96 late)
        public
    {
        uint256 a = bound(uint256(first), 1, type(uint96).max) << 4; // up to 2^100
        h.contribute(4, a);
        for (uint256 i; i < draws.length; ++i) {
            (uint256 v,) = h.pool();
            if (v == 0) break;
            h.draw(bound(draws[i], 0, v));
            if (seconds_ % 3 == i) h.contribute(5, bound(seconds_, 1, 1e30)); // refills between draws
        }
        (uint256 before, uint256 beforeShares) = h.pool();
        // minting floors to whole shares: the newcomer may lose up to one share's worth (to the others)
        uint256 oneShare = beforeShares == 0 ? 0 : before / beforeShares + 2;
        uint256 amount = bound(uint256(late), 1, type(uint96).max) << 4;
        uint256 got = h.contribute(6, amount);
        (uint256 value, uint256 shares) = h.pool();
        assertEq(value, before + amount, "value adds up: nothing burnt or created");
        assertLe(shares, type(uint128).max, "shares fit");
        assertGe(got + oneShare, amount, "the newcomer keeps what it brought, less one share's rounding");
        assertLe(got + h.valueOf(4) + h.valueOf(5), value, "claims never exceed the pool");
    }
}

/// @notice Issue 11, fourth review, finding 11: the pool's backing rule covers the default fund's cash only
/// (docs/contracts.md, Rules, "Defaults"): a cash payout below the pool's value is refused, while collateral
/// the waterfall seized into the fund is neither counted as backing nor checked when a row moves it (the
/// engine sells it during an open default, when the cash backing is short by design).
contract VaultFundBackingScopeTest is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _setUpDefault(); // fund cash 30,000, pool 20,000, alice owes 40,000
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(FUND, USD, -30_000e6), _t(FEE, USD, 30_000e6));
        _settle(b);
        _settleActions(_two(_a(ALICE, Batch.DECLARE, 0), _a(ALICE, Batch.COVER, 8_000e6))); // 5 weth seized
    }

    function test_cashPayoutRefused_seizedCollateralMovesUnchecked() public {
        _deposit(dave, USD, 1e6);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(DAVE, USD, -1e6), _t(FUND, USD, 1e6));
        _settle(b);
        b = _nextBatch();
        b.transfers = _two(_t(FUND, USD, -1e6), _t(DAVE, USD, 1e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.PoolUnderfunded.selector, 0, 0, 20_000e6));
        vault.settle(b, sigs);
        // a sale of the seized weth for cash (here at 1,600 a weth) lands although the cash stays short
        _deposit(dave, USD, 8_000e6);
        b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(FUND, WETH, -int256(5 * WETH_UNIT));
        b.transfers[1] = _t(DAVE, WETH, int256(5 * WETH_UNIT));
        b.transfers[2] = _t(DAVE, USD, -8_000e6);
        b.transfers[3] = _t(FUND, USD, 8_000e6);
        _settle(b);
        assertEq(vault.balanceOf(FUND, USD), 8_001e6, "sold for cash");
    }
}
