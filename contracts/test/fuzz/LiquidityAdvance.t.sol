// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice The variation-margin liquidity advance against a model: a member's cash debit beyond its cash
/// is paid by the default fund and recorded as debt (or refused when the fund cannot pay), credits and
/// deposits repay the debt first, and through it all no cash is created or destroyed.
contract LiquidityAdvanceFuzzTest is VaultFixture {
    uint256 internal constant MAX = 1e15; // a billion dollars in 6-decimal units
    uint256 internal constant SETTLE_GAS = 15_000_000;

    struct Model {
        uint256 cash; // alice's settlement-asset balance
        uint256 debt; // alice's debt
        uint256 fund; // the default fund's settlement-asset balance
    }

    function setUp() public override {
        super.setUp();
        _deposit(bob, USD, 100 * MAX); // the counterparty, deep enough for any credit
    }

    function testFuzz_advanceAndRepayment(uint256 cash0, uint256 fund0, uint256[8] memory ops) public {
        Model memory m;
        m.cash = bound(cash0, 0, MAX);
        m.fund = bound(fund0, 0, MAX);
        if (m.cash > 0) _deposit(alice, USD, m.cash);
        if (m.fund > 0) _fundDefaultFund(m.fund);
        _expect(m, "start");

        for (uint256 i; i < ops.length; ++i) {
            uint256 op = ops[i] % 3;
            uint256 x = bound(ops[i] >> 8, 1, MAX);
            if (op == 0) _debit(m, x);
            else if (op == 1) _credit(m, x);
            else _depositCash(m, x);
            _expect(m, string.concat("step ", vm.toString(i)));
        }
    }

    /// @dev Debit in the same batch as the credit that covers it: the order of rows decides whether the
    /// fund advances in between, but the end state (cash less debt) is the same, and cash is conserved.
    function testFuzz_advanceWithinOneBatch(uint256 cash0, uint256 fund0, uint256 debit, uint256 credit) public {
        uint256 cash = bound(cash0, 0, MAX);
        uint256 fund = bound(fund0, 1, MAX);
        if (cash > 0) _deposit(alice, USD, cash);
        _fundDefaultFund(fund);
        debit = bound(debit, 1, cash + fund);
        credit = bound(credit, 1, MAX);
        uint256 total = _totalCash();
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](4);
        b.transfers[0] = _t(ALICE, USD, -int256(debit));
        b.transfers[1] = _t(CAROL, USD, int256(debit));
        b.transfers[2] = _t(BOB, USD, -int256(credit));
        b.transfers[3] = _t(ALICE, USD, int256(credit));
        _settleCapped(b);
        int256 net = int256(vault.balanceOf(ALICE, USD)) - int256(vault.debtOf(ALICE));
        assertEq(net, int256(cash) - int256(debit) + int256(credit), "cash less debt");
        assertEq(_totalCash(), total, "cash conserved");
        // the advance (debit beyond cash) was repaid by the credit up to the credit's size
        uint256 advanced = debit > cash ? debit - cash : 0;
        uint256 repaid = advanced < credit ? advanced : credit;
        assertEq(vault.debtOf(ALICE), advanced - repaid, "debt");
        assertEq(vault.balanceOf(FUND, USD), fund - advanced + repaid, "fund");
    }

    // ------------------------------------------------------------------ steps

    function _debit(Model memory m, uint256 x) internal {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -int256(x)), _t(CAROL, USD, int256(x)));
        if (x <= m.cash) {
            m.cash -= x;
        } else {
            uint256 shortfall = x - m.cash;
            if (shortfall > m.fund) {
                IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
                vm.expectRevert(abi.encodeWithSelector(IVault.DefaultFundExhausted.selector, m.fund, shortfall));
                vault.settle{gas: SETTLE_GAS}(b, sigs);
                return;
            }
            m.fund -= shortfall;
            m.debt += shortfall;
            m.cash = 0;
        }
        _settleCapped(b);
    }

    function _credit(Model memory m, uint256 x) internal {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(BOB, USD, -int256(x)), _t(ALICE, USD, int256(x)));
        _settleCapped(b);
        _repay(m, x);
    }

    function _depositCash(Model memory m, uint256 x) internal {
        _deposit(alice, USD, x);
        _repay(m, x);
    }

    function _repay(Model memory m, uint256 x) internal pure {
        uint256 r = x < m.debt ? x : m.debt;
        m.debt -= r;
        m.fund += r;
        m.cash += x - r;
    }

    function _settleCapped(Batch.Data memory b) internal {
        vault.settle{gas: SETTLE_GAS}(b, _sign(b, _quorum()));
    }

    // ------------------------------------------------------------------ checks

    function _expect(Model memory m, string memory at) internal view {
        assertEq(vault.balanceOf(ALICE, USD), m.cash, string.concat(at, ": cash"));
        assertEq(vault.debtOf(ALICE), m.debt, string.concat(at, ": debt"));
        assertEq(vault.balanceOf(FUND, USD), m.fund, string.concat(at, ": fund"));
        assertTrue(m.debt == 0 || m.cash == 0, "debt and cash at once");
        assertEq(_totalCash(), vault.totalOwed(USD), string.concat(at, ": sum of cash == owed"));
        assertLe(vault.totalOwed(USD), usd.balanceOf(address(vault)), string.concat(at, ": owed <= held"));
    }

    function _totalCash() internal view returns (uint256 s) {
        for (uint32 a = 1; a <= vault.accountCount(); ++a) {
            s += vault.balanceOf(a, USD);
        }
    }
}
