// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 4: a DECLARE that is never CLOSEd holds an exiting member in for ever, whatever
/// batches land ("never settling its close-out", issue 11 item 2; "empty batches cannot keep an unserved exit
/// from the hatch", Done when).
/// A DECLARE row needs nothing (no debt, no margin call, amount 0). From then on the member can neither request
/// nor execute a withdrawal (`MemberInDefault`), its pending ones are recalled, and `forceWindDown` judges the
/// exit by the IM in force alone: with IM 0 posted it reverts `ExitServed`, although the member cannot take
/// anything out. Batches keep landing, so the escape hatch stays shut too.
contract Rev11R4FakeDeclareHoldsAnExitForever is DefaultsFixture {
    uint256 internal constant ALICE_CASH = 100_000 * USD_UNIT;

    function setUp() public override {
        super.setUp();
        _deposit(alice, USD, ALICE_CASH);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 10_000 * USD_UNIT, 5_000 * USD_UNIT)); // alice trades
        _settle(b);
    }

    function test_harm_declaredHealthyMemberCanNeverLeave() public {
        vm.prank(alice);
        vault.requestExit();
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(50_000 * USD_UNIT), alice); // within margin

        // the (compromised) quorum "serves" the exit on paper and declares alice, who owes nothing
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 0, 0));
        b.defaultActions = _one(_a(ALICE, Batch.DECLARE, 0));
        _settle(b);
        assertEq(vault.debtOf(ALICE), 0, "alice owes nothing");
        assertEq(vault.withdrawal(id).status, 4, "her pending withdrawal was recalled");

        // 120 days of empty batches: 17 escape periods
        for (uint256 i; i < 120; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        vm.expectRevert(abi.encodeWithSelector(IVault.MemberInDefault.selector, ALICE));
        vm.prank(alice);
        vault.requestWithdrawal(USD, 1, alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
        vault.forceWindDown(ALICE);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.EscapeHatchNotOpen.selector, uint64(block.timestamp + ESCAPE_PERIOD))
        );
        vault.triggerWindDown();
        assertEq(vault.balanceOf(ALICE, USD), ALICE_CASH, "all of it still held in");
        assertEq(usd.balanceOf(alice), 0, "nothing ever left");
        assertFalse(vault.woundDown(), "and no wind-down either");
    }
}
