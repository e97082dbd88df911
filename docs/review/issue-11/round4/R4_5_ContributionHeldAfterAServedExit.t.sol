// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 5: a member's default-fund contribution is outside the forced exit. Only a batch's
/// contribution row can return it; `forceWindDown` counts the exit as served once the IM in force is 0, so a
/// quorum that posts IM 0 and never returns the contribution holds it for ever, while batches land (no hatch).
contract Rev11R4ContributionHeldAfterAServedExit is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _deposit(bob, USD, 50_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(BOB, 30_000e6)); // bob's Cover-2 share
        b.requirements = _one(_req(BOB, 10_000 * USD_UNIT, 5_000 * USD_UNIT));
        _settle(b);
    }

    function test_harm_contributionNeverComesBack() public {
        vm.prank(bob);
        vault.requestExit();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(BOB, 0, 0)); // bob closed out, flat: "served"
        _settle(b);
        vm.prank(bob);
        vault.requestWithdrawal(USD, uint128(20_000 * USD_UNIT), bob); // his free cash
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vault.executeWithdrawal(1);
        for (uint256 i; i < 90; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch()); // no contribution row ever returns his stake
        }
        assertEq(vault.contributionOf(BOB), 30_000e6, "30,000 of bob's still in the pool");
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, BOB));
        vault.forceWindDown(BOB);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.EscapeHatchNotOpen.selector, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.triggerWindDown();
        assertEq(usd.balanceOf(bob), 20_000 * USD_UNIT, "bob got his cash out, not his 30,000 stake");
    }
}
