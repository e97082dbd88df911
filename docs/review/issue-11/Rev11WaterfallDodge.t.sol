// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Review of issue 11 (rev11): can a survivor dodge its assessment, or the operator layer 3?
contract Rev11WaterfallDodgeTest is DefaultsFixture {
    /// FINDING: a survivor with a stale exit request (older than E, IM posted because it trades) winds the vault
    /// down between the DECLARE and the COVER + ASSESS batch (VaultDefaults.t.sol's worked example: bob would be
    /// assessed 4,200 and lose his 6,000 contribution; operator capital would pay 5,000 as layer 3). After the
    /// wind-down nothing is assessed (bob takes his 14,000 cash whole) and governance takes operator capital
    /// whole (5,000) while alice's debt is still open: the pool's shares bear what layer 3 and the assessments
    /// were to pay. Same effect with no exit request at all when the signers stop for E after a DECLARE.
    function test_FINDING_survivorWindsDownBeforeTheCoverAndSkipsItsAssessment() public {
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
        // the engine signs the COVER + ASSESS batch; bob front-runs it
        b = _nextBatch();
        b.defaultActions = _three(
            _a(ALICE, Batch.COVER, 40_000e6), _a(BOB, Batch.ASSESS, 4_200e6), _a(CAROL, Batch.ASSESS, 2_800e6)
        );
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(bob);
        vault.forceWindDown(BOB);
        vm.expectRevert(IVault.WoundDown.selector);
        vault.settle(b, sigs);

        vm.prank(bob);
        vault.windDownWithdraw(USD, bob);
        assertGe(usd.balanceOf(bob), 14_000e6, "bob's cash whole: no assessment");
        vm.prank(governor);
        vault.windDownWithdrawSystem(OPCAP, USD, governor);
        assertEq(usd.balanceOf(governor), 5_000e6, "layer 3 paid out whole to the operator");
        assertGt(vault.debtOf(ALICE), 0, "while the defaulter's debt is still uncovered");
    }
}
