// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";

/// @notice Round 4, finding 9: one guardian veto of an exiting member's withdrawal winds the whole vault down
/// E + WIND_DOWN_GRACE later, even after that member has taken everything out, and nobody (signers, member,
/// governance short of revoking the guardian before the veto) can serve the exit again.
/// `EXIT_VETOED` (finding 6 of the third review) is never cleared except by the member's own `cancelExit`, and
/// `forceWindDown` treats it as unserved "whatever its IM". The member here has IM 0, no debt, a zero
/// balance and no pending withdrawal: nothing is held in, yet anyone opens the wind-down for every member.
/// So the guardian (or a guardian mistake on a withdrawal that looked suspicious) plus any member that keeps
/// an old exit request open can end the clearing house, which the trust model lists for no role (issue 11
/// item 2: "without letting one member trigger a wind-down by griefing").
contract Rev11R4OneVetoWindsTheVaultDown is VaultFixture {
    function setUp() public override {
        super.setUp();
        _deposit(alice, USD, 10_000 * USD_UNIT);
        _deposit(bob, USD, 500_000 * USD_UNIT); // everyone else, who did not ask for a wind-down
    }

    function test_harm_vetoOfASatisfiedExitWindsEveryoneDown() public {
        vm.prank(alice);
        vault.requestExit(); // flat, IM never posted: served from the start
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(10_000 * USD_UNIT), alice);
        vm.prank(guardian);
        vault.vetoWithdrawal(id); // looked suspicious; the amount is back on her balance
        // she asks again and is paid in full: nothing of hers is held
        vm.prank(alice);
        uint256 id2 = vault.requestWithdrawal(USD, uint128(10_000 * USD_UNIT), alice);
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vault.executeWithdrawal(id2);
        assertEq(vault.balanceOf(ALICE, USD), 0, "alice has nothing left in the vault");
        (uint112 im,) = vault.requirementOf(ALICE);
        assertEq(im, 0, "IM 0");
        // honest batches keep landing; nothing can serve the exit any more
        for (uint256 i; i < 7; ++i) {
            vm.warp(block.timestamp + 1 days);
            _settle(_nextBatch());
        }
        vault.forceWindDown(ALICE); // anyone: armed
        vm.warp(block.timestamp + 1 days);
        _settle(_nextBatch()); // the grace: a batch lands, it changes nothing
        vault.forceWindDown(ALICE);
        assertTrue(vault.woundDown(), "the whole vault wound down for a member with nothing in it");
        assertEq(vault.balanceOf(BOB, USD), 500_000 * USD_UNIT, "bob's book ends with it");
    }
}
