// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 6: `setEscapePeriod` is retroactive for forced exits. docs/contracts.md: "Governance
/// changes are never retroactive: setEscapePeriod schedules the period, in force from the next batch: the
/// window since the last batch keeps the period it started with (... a longer one cannot hold waiting
/// members)" (issue 11 item 5). That holds for the hatch only: `VaultDefaults.forceWindDown` computes an exit's
/// opensAt with the `_escapePeriod` in force at the call, so a request made under E = 7 days is re-timed by a
/// later change: lengthened to 365 days (a member held in for a year) or shortened (an old request overdue at
/// once).
contract Rev11R4EscapePeriodRetroactiveForExits is VaultFixture {
    function setUp() public override {
        super.setUp();
        _deposit(dave, USD, 10_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 2_000 * USD_UNIT, 1_000 * USD_UNIT)); // kept above 0: unserved
        _settle(b);
    }

    function test_control_exitArmsAfterE() public {
        vm.prank(dave);
        vault.requestExit();
        vm.warp(block.timestamp + ESCAPE_PERIOD);
        _settle(_nextBatch());
        vault.forceWindDown(DAVE); // armed
    }

    function test_harm_lengthenedPeriodHoldsAWaitingMemberForAYear() public {
        vm.prank(dave);
        vault.requestExit();
        uint256 requested = block.timestamp;
        vm.warp(block.timestamp + 6 days); // one day before his exit would be overdue
        vm.prank(governor);
        vault.setEscapePeriod(365 days);
        _settle(_nextBatch()); // the next batch puts it in force
        vm.warp(requested + ESCAPE_PERIOD + 1 days);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.ExitNotOverdue.selector, DAVE, uint64(requested + 365 days))
        );
        vault.forceWindDown(DAVE);
    }

    function test_harm_shortenedPeriodMakesAnOldRequestOverdueAtOnce() public {
        vm.prank(dave);
        vault.requestExit();
        vm.warp(block.timestamp + 2 days); // under E = 7 days, due in 5 more
        vm.prank(governor);
        vault.setEscapePeriod(1 days);
        _settle(_nextBatch());
        vault.forceWindDown(DAVE); // armed 5 days early: due under the new period, counted from the old request
    }
}
