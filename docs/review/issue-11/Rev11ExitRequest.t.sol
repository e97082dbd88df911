// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Review of issue 11 (rev11): the forced-exit path. Findings 1 and 2 (an old served request opening
/// the wind-down in the block of a later IM rise) are fixed: the clock restarts when a served member's IM
/// rises (contracts/test/unit/VaultForcedExit.t.sol). Left here: finding 3, a member whose exit the honest
/// engine leaves unserved (it has no notion of exit requests) holds a free option on the wind-down.
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
