// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Review of issue 11 (rev11): the guardian's veto has no bound in count or time.
contract Rev11GuardianVetoTest is VaultFixture {
    function setUp() public override {
        super.setUp();
        _deposit(alice, USD, 100_000 * USD_UNIT);
    }

    /// FINDING: the guardian alone keeps a member's money in the vault indefinitely. Alice has no positions
    /// (IM 0) and asked for an exit, which is therefore "served"; each withdrawal she requests is vetoed back
    /// to her balance within the delay. Honest batches keep landing, so the escape hatch stays shut, and
    /// forceWindDown reverts ExitServed: no path out while the guardian keeps vetoing. docs/contracts.md says the
    /// guardian cannot block requests or the escape hatch, and the issue asks that a member whose exit is
    /// blocked can force it after a governed time "whatever batches land".
    function test_FINDING_guardianVetoesEveryWithdrawalForever() public {
        vm.prank(alice);
        vault.requestExit();
        uint256 start = block.timestamp;
        for (uint256 i; i < 20; ++i) {
            vm.prank(alice);
            uint256 id = vault.requestWithdrawal(USD, uint128(100_000 * USD_UNIT), alice);
            vm.warp(block.timestamp + WITHDRAWAL_DELAY - 1);
            vm.prank(guardian);
            vault.vetoWithdrawal(id);
            _settle(_nextBatch()); // the signers keep settling
            vm.warp(block.timestamp + 1);
        }
        assertGt(block.timestamp, start + 2 * ESCAPE_PERIOD, "past twice the escape period");
        vm.expectRevert(abi.encodeWithSelector(IVault.ExitServed.selector, ALICE));
        vault.forceWindDown(ALICE);
        vm.expectRevert();
        vault.triggerWindDown();
        assertEq(usd.balanceOf(alice), 0, "alice never got anything out");
        assertEq(vault.balanceOf(ALICE, USD), 100_000 * USD_UNIT, "still in the vault");
    }
}
