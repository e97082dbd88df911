// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {Vault} from "../../src/Vault.sol";
import {VaultExtension} from "../../src/VaultExtension.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {ICrossclearVault} from "../../src/interfaces/ICrossclearVault.sol";

/// @notice The on-chain withdrawal check against a reference computation of free collateral, over random
/// token decimals, marks, haircuts, balances, debts and initial margins:
///   free = cash + Σ floor(balance × price × (10000 − haircut) / (10**decimals × 10000)) − debt − IM
/// (each asset's value rounded down, against the member). A request passes iff free after it is ≥ 0.
contract WithdrawalMarginFuzzTest is VaultFixture {
    struct Case {
        uint8[3] decimals; // settlement, collateral A, collateral B
        uint128[2] price;
        uint16[2] haircut;
        uint256 cash;
        uint256[2] bal;
        uint256 debt;
        uint256 im;
    }

    ICrossclearVault internal v;
    MockERC20[3] internal tok;

    function _build(Case memory c) internal {
        tok[0] = new MockERC20("S", "S", c.decimals[0]);
        tok[1] = new MockERC20("A", "A", c.decimals[1]);
        tok[2] = new MockERC20("B", "B", c.decimals[2]);
        v = ICrossclearVault(
            address(
                new Vault(
                    IERC20(address(tok[0])), governor, guardian, operator, signerAddrs, 2, WITHDRAWAL_DELAY, ESCAPE_PERIOD, 0, 0, new VaultExtension()
                )
            )
        );
        vault = v; // the fixture's batch helpers sign for `vault`
        vm.startPrank(governor);
        v.listAsset(IERC20(address(tok[1])), 1, 0); // the batch below posts the case's marks (no band, no delay)
        v.listAsset(IERC20(address(tok[2])), 1, 0);
        vm.stopPrank();
        vm.startPrank(operator);
        v.admitMember(alice);
        v.admitMember(bob);
        vm.stopPrank();

        // bob funds the default fund; alice deposits; the batch marks, sets IM and (maybe) advances alice.
        _depositTo(bob, 0, c.debt + 1);
        _depositTo(alice, 0, c.cash);
        _depositTo(alice, 1, c.bal[0]);
        _depositTo(alice, 2, c.bal[1]);
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](c.debt > 0 ? 4 : 2);
        b.transfers[0] = _t(BOB, USD, -int256(c.debt + 1));
        b.transfers[1] = _t(FUND, USD, int256(c.debt + 1));
        if (c.debt > 0) {
            // alice pays away all her cash and `debt` more, which the fund advances
            b.transfers[2] = _t(ALICE, USD, -int256(c.cash + c.debt));
            b.transfers[3] = _t(BOB, USD, int256(c.cash + c.debt));
            c.cash = 0;
        }
        b.marks = _two(_mk(1, c.haircut[0], c.price[0]), _mk(2, c.haircut[1], c.price[1]));
        b.requirements = _one(_req(ALICE, c.im, c.im / 2));
        vault.settle{gas: 15_000_000}(b, _sign(b, _quorum()));
    }

    function _depositTo(address who, uint16 asset, uint256 amount) internal {
        if (amount == 0) return;
        tok[asset].mint(who, amount);
        vm.startPrank(who);
        tok[asset].approve(address(v), amount);
        v.deposit(who, asset, amount);
        vm.stopPrank();
    }

    function _value(uint256 bal, uint256 price, uint256 hc, uint8 dec) internal pure returns (uint256) {
        return bal * price * (10_000 - hc) / (10 ** uint256(dec) * 10_000);
    }

    function _reference(Case memory c) internal pure returns (int256) {
        uint256 value = c.cash + _value(c.bal[0], c.price[0], c.haircut[0], c.decimals[1])
            + _value(c.bal[1], c.price[1], c.haircut[1], c.decimals[2]);
        return int256(value) - int256(c.debt) - int256(c.im);
    }

    function _randomCase(uint256[10] memory r) internal pure returns (Case memory c) {
        c.decimals[0] = uint8(bound(r[0], 0, 18));
        c.decimals[1] = uint8(bound(r[0] >> 8, 0, 36));
        c.decimals[2] = uint8(bound(r[0] >> 16, 0, 36));
        c.price[0] = uint128(bound(r[1], 0, 2 ** 96));
        c.price[1] = uint128(bound(r[2], 0, 2 ** 96));
        c.haircut[0] = uint16(bound(r[3], 0, 10_000));
        c.haircut[1] = uint16(bound(r[3] >> 16, 0, 10_000));
        c.cash = bound(r[4], 0, 2 ** 90);
        c.bal[0] = bound(r[5], 0, 2 ** 100);
        c.bal[1] = bound(r[6], 0, 2 ** 100);
        c.debt = r[7] % 3 == 0 ? bound(r[7] >> 2, 1, 2 ** 90) : 0;
        c.im = bound(r[8], 0, 2 ** 100);
        // small values as often as large ones, so that the check flips both ways
        if (r[9] % 2 == 0) {
            c.bal[0] %= 10 ** uint256(c.decimals[1]) * 1000 + 1;
            c.bal[1] %= 10 ** uint256(c.decimals[2]) * 1000 + 1;
            c.im %= 1e12;
            c.cash %= 1e12;
            c.debt %= 1e11;
        }
    }

    function testFuzz_freeCollateralMatchesReference(uint256[10] memory r) public {
        Case memory c = _randomCase(r);
        _build(c);
        assertEq(v.freeCollateral(ALICE), _reference(c), "freeCollateral");
        assertEq(v.debtOf(ALICE), c.debt, "debt");
    }

    function testFuzz_withdrawalCheckMatchesReference(uint256[10] memory r, uint256 which, uint256 amount) public {
        Case memory c = _randomCase(r);
        _build(c);
        uint16 asset = uint16(which % 3);
        uint256 bal = asset == 0 ? c.cash : c.bal[asset - 1];
        vm.assume(bal > 0);
        amount = bound(amount, 1, bal);
        if (asset == 0) c.cash -= amount;
        else c.bal[asset - 1] -= amount;
        int256 after_ = _reference(c);
        if (after_ < 0) {
            vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, after_));
            vm.prank(alice);
            v.requestWithdrawal(asset, uint128(amount), alice);
            return;
        }
        vm.prank(alice);
        uint256 id = v.requestWithdrawal(asset, uint128(amount), alice);
        assertEq(v.freeCollateral(ALICE), after_, "free after request");
        // executed after the delay against the same marks: it pays out exactly the amount
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        v.executeWithdrawal(id);
        assertEq(tok[asset].balanceOf(alice), amount, "paid");
        assertTrue(v.freeCollateral(ALICE) >= 0, "free after execution");
    }

    /// @dev A mark that falls between request and execution makes the execution fail the same check.
    function testFuzz_executionRechecksMargin(uint256[10] memory r, uint256 amount, uint128 newPrice) public {
        Case memory c = _randomCase(r);
        c.debt = 0;
        _build(c);
        vm.assume(c.bal[0] > 0);
        amount = bound(amount, 1, c.bal[0]);
        c.bal[0] -= amount;
        vm.assume(_reference(c) >= 0);
        vm.prank(alice);
        uint256 id = v.requestWithdrawal(1, uint128(amount), alice);
        c.price[0] = uint128(bound(newPrice, 0, c.price[0]));
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(1, c.haircut[0], c.price[0]));
        vault.settle(b, _sign(b, _quorum()));
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        int256 free = _reference(c);
        if (free < 0) {
            vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, free));
            v.executeWithdrawal(id);
        } else {
            v.executeWithdrawal(id);
            assertEq(tok[1].balanceOf(alice), amount, "paid");
        }
    }
}
