// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IVault} from "../interfaces/IVault.sol";
import {Ledger} from "./Ledger.sol";
import {Margin} from "./Margin.sol";
import {DefaultFund} from "./DefaultFund.sol";

/// @title Waterfall
/// @notice The default waterfall the vault applies itself when a batch COVERs part of a defaulter's debt
/// (its liquidity advance outstanding). Layers are drawn in order, each only once the one before is
/// exhausted, so a batch cannot reach a later layer while an earlier one has funds:
///  1. the defaulter's collateral (non-settlement assets, in asset order), seized into the default fund's
///     balance of that asset, valued at the last mark with haircut (seized quantity rounded up);
///  2. its default-fund contribution, written off;
///  3. operator capital: account 3's settlement cash moved to the default fund's cash;
///  4. the survivors' contributions, pro rata (the pool's value falls);
///  5. assessments of survivors: not drawn here but by ASSESS rows, which `assess` checks.
/// Every draw emits `WaterfallDraw`; the debt falls by exactly the sum of the draws' values.
library Waterfall {
    using Ledger for mapping(uint256 => uint256);

    uint8 internal constant L1_COLLATERAL = 1;
    uint8 internal constant L2_CONTRIBUTION = 2;
    uint8 internal constant L3_OPERATOR = 3;
    uint8 internal constant L4_POOL = 4;
    uint8 internal constant L5_ASSESSMENT = 5;

    /// @notice Cover `amount` (<= debt, checked by the caller) of `defaulter`'s debt from layers 1 to 4.
    /// @return remaining What layers 1-4 could not cover (to be assessed in the same batch).
    function cover(
        mapping(uint256 => uint256) storage ledger,
        Margin.Mark[32] storage marks,
        uint256 assets,
        DefaultFund.State storage fund,
        uint32 defaulter,
        uint256 amount
    ) internal returns (uint256 remaining) {
        remaining = amount;
        // L1: collateral, asset by asset
        for (uint256 a = 1; a < assets && remaining != 0; ++a) {
            uint256 k = Ledger.key(defaulter, a);
            uint256 balance = ledger[k]; // collateral words carry no debt half
            if (balance == 0) continue;
            (uint256 seized, uint256 value) = Margin.haircutSeizure(remaining, balance, Margin.effective(marks[a]));
            if (value == 0) continue;
            ledger[k] = balance - seized;
            ledger.add(Ledger.DEFAULT_FUND, a, seized);
            remaining -= value;
            // forge-lint: disable-next-line(unsafe-typecast)
            emit IVault.WaterfallDraw(defaulter, L1_COLLATERAL, defaulter, uint16(a), seized, value); // a < 32
        }
        // L2: its own contribution
        if (remaining != 0) {
            uint256 d = _min(remaining, DefaultFund.valueOf(fund, defaulter));
            if (d != 0) {
                uint256 left = DefaultFund.remove(fund, defaulter, d);
                remaining -= d;
                emit IVault.ContributionChanged(defaulter, -int256(d), left);
                emit IVault.WaterfallDraw(defaulter, L2_CONTRIBUTION, defaulter, Ledger.SETTLEMENT_ASSET, d, d);
            }
        }
        // L3: operator capital
        if (remaining != 0) {
            uint256 k = Ledger.key(Ledger.OPERATOR_CAPITAL, Ledger.SETTLEMENT_ASSET);
            uint256 capital = ledger[k]; // a system account: no debt half
            uint256 d = _min(remaining, capital);
            if (d != 0) {
                ledger[k] = capital - d;
                ledger.add(Ledger.DEFAULT_FUND, Ledger.SETTLEMENT_ASSET, d);
                remaining -= d;
                emit IVault.WaterfallDraw(
                    defaulter, L3_OPERATOR, Ledger.OPERATOR_CAPITAL, Ledger.SETTLEMENT_ASSET, d, d
                );
            }
        }
        // L4: the survivors' pool, pro rata
        if (remaining != 0) {
            uint256 d = _min(remaining, fund.value);
            if (d != 0) {
                DefaultFund.draw(fund, d);
                remaining -= d;
                emit IVault.WaterfallDraw(defaulter, L4_POOL, Ledger.DEFAULT_FUND, Ledger.SETTLEMENT_ASSET, d, d);
            }
        }
        _reduceDebt(ledger, defaulter, amount - remaining);
    }

    /// @notice Layer 5: `member` pays `amount` towards `defaulter`'s debt, within its cap: its settlement cash
    /// first, and what its cash does not cover becomes its own debt (a LiquidityAdvanced: the default fund
    /// carries the claim, repaid first from the member's next cash, counted in every margin check). So an
    /// assessment reaches the member's pending withdrawals too (they execute only with margin for that
    /// debt, and a cancel repays it), and a survivor emptying its cash between signing and inclusion cannot
    /// make the batch revert. The caller checks the layer order and the remainder.
    function assess(
        mapping(uint256 => uint256) storage ledger,
        DefaultFund.State storage fund,
        uint32 defaulter,
        uint32 member,
        uint256 amount
    ) internal {
        if (fund.value != 0) revert IVault.LayerNotExhausted(L4_POOL);
        if (member == defaulter || DefaultFund.isOpen(fund, member)) revert IVault.MemberInDefault(member);
        DefaultFund.assess(fund, defaulter, member, amount);
        uint256 k = Ledger.key(member, Ledger.SETTLEMENT_ASSET);
        uint256 word = ledger[k];
        uint256 paid = _min(word & Ledger.MASK128, amount);
        uint256 owed = amount - paid;
        if (owed != 0) {
            uint256 debt = (word >> 128) + owed;
            if (debt > Ledger.MASK128) revert IVault.AmountTooLarge(debt);
            word = debt << 128; // its cash (all of it) is paid below
            ledger[Ledger.DEBT_TOTAL] += owed;
            // forge-lint: disable-next-line(unsafe-typecast)
            emit IVault.LiquidityAdvanced(member, uint128(owed)); // owed <= amount < 2**128
        } else {
            word -= paid;
        }
        ledger[k] = word;
        if (paid != 0) ledger.add(Ledger.DEFAULT_FUND, Ledger.SETTLEMENT_ASSET, paid);
        _reduceDebt(ledger, defaulter, amount);
        emit IVault.WaterfallDraw(defaulter, L5_ASSESSMENT, member, Ledger.SETTLEMENT_ASSET, amount, amount);
    }

    function _reduceDebt(mapping(uint256 => uint256) storage ledger, uint32 account, uint256 covered) private {
        ledger.reduceDebt(account, covered);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
