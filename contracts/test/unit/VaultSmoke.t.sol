// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {Batch} from "../../src/libraries/Batch.sol";

contract VaultSmokeTest is VaultFixture {
    function test_fixture_settlesATransfer() public {
        _deposit(alice, USD, 1000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -100e6), _t(BOB, USD, 100e6));
        _settle(b);
        assertEq(vault.balanceOf(ALICE, USD), 900e6, "alice");
        assertEq(vault.balanceOf(BOB, USD), 100e6, "bob");
        assertEq(uint256(vault.lastSequence()), 1, "seq");
        _assertSolvent();
    }
}
