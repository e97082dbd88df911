// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 11: the pool's backing rule (`PoolUnderfunded`) looks at the default fund's
/// settlement cash only, so transfer rows can pay out the collateral the waterfall seized into account 2 with
/// no check at all, while a cash payout of one unit is refused. docs/contracts.md, threat model: "Transfer rows
/// can still debit the default fund's cash, but not into the members' contributions". The seized collateral
/// replaced the advance the fund's cash paid: it is the pool's backing until sold, and the rule forgets it.
contract Rev11R4SeizedCollateralPaidOutUnchecked is DefaultsFixture {
    function setUp() public override {
        super.setUp();
        _setUpDefault(); // fund cash 30,000 (70,000 less alice's 40,000 advance), pool 20,000
        // the fund's cash pays 30,000 to the fee account: allowed (alice's 40,000 debt counts as backing)
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(FUND, USD, -30_000e6), _t(FEE, USD, 30_000e6));
        _settle(b);
        // alice is declared, and layer 1 seizes her 5 weth (8,000) into the fund
        b = _nextBatch();
        b.defaultActions = _two(_a(ALICE, Batch.DECLARE, 0), _a(ALICE, Batch.COVER, 8_000e6));
        _settle(b);
        assertEq(vault.balanceOf(FUND, WETH), 5 * WETH_UNIT, "seized");
        assertEq(vault.balanceOf(FUND, USD), 0, "no cash");
        (uint256 value,) = vault.defaultFundPool();
        assertEq(value, 20_000e6, "pool 20,000, backed now by the weth and alice's remaining debt");
    }

    function test_control_aCashPayoutIsRefused() public {
        _deposit(dave, USD, 1e6);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(DAVE, USD, -1e6), _t(FUND, USD, 1e6));
        _settle(b); // 1 usd into the fund
        b = _nextBatch();
        b.transfers = _two(_t(FUND, USD, -1e6), _t(DAVE, USD, 1e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.PoolUnderfunded.selector, 0, 0, 20_000e6));
        vault.settle(b, sigs);
    }

    function test_harm_theSeizedCollateralLeavesUnchecked() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(FUND, WETH, -int256(5 * WETH_UNIT)), _t(DAVE, WETH, int256(5 * WETH_UNIT)));
        _settle(b);
        assertEq(vault.balanceOf(DAVE, WETH), 5 * WETH_UNIT, "8,000 of the pool's backing paid to dave");
        assertEq(vault.balanceOf(FUND, WETH), 0, "nothing left behind the 20,000 pool but a defaulter's debt");
    }
}
