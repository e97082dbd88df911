// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 3: a contribution leaves the pool (layer 4) in the very batch that DECLAREs and
/// COVERs, so the waterfall's capacities are not those at the start of the batch.
/// docs/contracts.md: "contributions cannot leave during a default (ContributionLocked), so layer 2 and the pool
/// need no rule here", and the trust model's quorum "cannot ... move a waterfall capacity in a COVER's batch".
/// But `settle` applies contribution rows before default-action rows, and `ContributionLocked` reads
/// `_fund.open` when the contribution row runs: before the same batch's DECLARE. `_refuseCapacityMovesBesideCover`
/// looks at marks and transfers only.
/// Worked example of DefaultsFixture (alice owes 40,000; L1 8,000, L2 10,000, L3 5,000; pool: bob 6,000, carol
/// 4,000). A COVER of 27,000 leaves 4,000 for L4. Control: the pool pays it pro rata, bob 2,400, carol 1,600.
/// Attack: the same batch first returns bob's whole contribution (a row the engine itself emits when a member's
/// contribution target falls); carol's contribution pays the whole 4,000, bob pays nothing.
contract Rev11R4ContributionLeavesInTheDeclaresBatch is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _setUpDefault(); // alice not yet declared
    }

    function _declareAndCover() internal pure returns (bytes32[] memory) {
        return _two(_a(ALICE, Batch.DECLARE, 0), _a(ALICE, Batch.COVER, 27_000e6));
    }

    function test_control_poolPaysProRata() public {
        Batch.Data memory b = _nextBatch();
        b.defaultActions = _declareAndCover();
        _settle(b);
        assertEq(vault.contributionOf(BOB), 3_600e6, "bob pays 2,400");
        assertEq(vault.contributionOf(CAROL), 2_400e6, "carol pays 1,600");
    }

    function test_harm_survivorTakesItsContributionOutInTheDeclaresBatch() public {
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(BOB, -6_000e6)); // applied before the DECLARE: not ContributionLocked
        b.defaultActions = _declareAndCover();
        _settle(b);
        assertTrue(vault.inDefault(ALICE), "declared in this batch");
        assertEq(vault.contributionOf(BOB), 0, "bob's 6,000 left the pool ahead of the loss");
        assertEq(vault.balanceOf(BOB, USD), 20_000e6, "bob: 14,000 cash + 6,000 returned, nothing lost");
        assertEq(vault.contributionOf(CAROL), 0, "carol's whole 4,000 paid the loss (1,600 pro rata)");
        assertEq(vault.debtOf(ALICE), 13_000e6, "27,000 covered");
    }

    /// The other direction, in a COVER batch of an open default: a positive contribution row is not locked and
    /// runs before the COVER, so a member's cash (the quorum can contribute any member's cash) joins the pool
    /// and pays a loss that predates it. Control (worked example, VaultCoverCapacity): L4 10,000 and 7,000
    /// assessed, all on bob and carol. With dave's 10,000 contributed in the same batch: L4 draws 17,000 of a
    /// 20,000 pool, dave loses 8,500 of the 10,000 he put in, bob and carol 8,500 together instead of 17,000.
    function test_harm_contributionAddedInTheCoversBatchPaysAnOlderLoss() public {
        _declareAlice();
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(DAVE, 10_000e6));
        b.defaultActions = _one(_a(ALICE, Batch.COVER, 40_000e6));
        _settle(b);
        assertEq(vault.debtOf(ALICE), 0, "covered without any ASSESS");
        assertEq(vault.contributionOf(DAVE), 1_500e6, "dave: 10,000 in, 1,500 left");
        assertEq(vault.contributionOf(BOB) + vault.contributionOf(CAROL), 1_500e6, "bob + carol: 10,000 -> 1,500");
    }
}
