// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IVault} from "../interfaces/IVault.sol";

/// @title Ledger
/// @notice Balances and settlement-asset debt, one storage word per (account, asset):
/// key = (account << 16) | asset, word = debt << 128 | balance. Only a member's settlement-asset word ever
/// carries debt (the default fund's liquidity advance); every other word is a plain balance.
/// @dev The key is exactly bits [255..208] of a packed transfer row, which the settlement loop uses.
library Ledger {
    uint256 internal constant MASK128 = type(uint128).max;

    uint32 internal constant FEE_ACCOUNT = 1;
    uint32 internal constant DEFAULT_FUND = 2;
    uint32 internal constant OPERATOR_CAPITAL = 3;
    uint32 internal constant FIRST_MEMBER = 4;
    uint16 internal constant SETTLEMENT_ASSET = 0;

    /// @dev Key of the default fund's settlement-asset word, which pays and receives advances.
    uint256 internal constant DEFAULT_FUND_CASH = uint256(DEFAULT_FUND) << 16;
    /// @dev Key 0 (account 0, which no row can name): Σ debt of all members, kept with every debt change so
    /// that the pool's backing check needs no loop over members.
    uint256 internal constant DEBT_TOTAL = 0;

    /// @notice Lower `account`'s debt by `amount` (<= its debt), and the running total with it.
    function reduceDebt(mapping(uint256 => uint256) storage s, uint256 account, uint256 amount) internal {
        if (amount == 0) return;
        s[key(account, SETTLEMENT_ASSET)] -= amount << 128;
        s[DEBT_TOTAL] -= amount;
    }

    function key(uint256 account, uint256 asset) internal pure returns (uint256) {
        return (account << 16) | asset;
    }

    function balanceOf(mapping(uint256 => uint256) storage s, uint256 account, uint256 asset)
        internal
        view
        returns (uint256)
    {
        return s[key(account, asset)] & MASK128;
    }

    function debtOf(mapping(uint256 => uint256) storage s, uint256 account) internal view returns (uint256) {
        return s[key(account, SETTLEMENT_ASSET)] >> 128;
    }

    /// @notice Add `amount` to a balance, repaying the account's debt first (only a member's settlement
    /// asset can carry debt): the repaid part goes to the default fund.
    function credit(mapping(uint256 => uint256) storage s, uint256 account, uint256 asset, uint256 amount) internal {
        uint256 k = key(account, asset);
        uint256 word = s[k];
        uint256 debt = word >> 128;
        if (debt != 0) {
            uint256 repaid = amount < debt ? amount : debt;
            unchecked {
                debt -= repaid;
                amount -= repaid;
            }
            _add(s, DEFAULT_FUND_CASH, repaid);
            s[DEBT_TOTAL] -= repaid;
            // forge-lint: disable-next-line(unsafe-typecast)
            emit IVault.AdvanceRepaid(uint32(account), uint128(repaid)); // repaid <= debt < 2**128
        }
        uint256 balance = (word & MASK128) + amount;
        if (balance > MASK128) revert IVault.AmountTooLarge(balance);
        s[k] = (debt << 128) | balance;
    }

    /// @notice Add `amount` to a balance that carries no debt (system accounts, collateral assets).
    function add(mapping(uint256 => uint256) storage s, uint256 account, uint256 asset, uint256 amount) internal {
        _add(s, key(account, asset), amount);
    }

    /// @notice Take `amount` from a balance. With `advance`, a member's settlement-asset shortfall is paid by
    /// the default fund and recorded as the member's debt; otherwise (system accounts, collateral assets,
    /// withdrawals) a balance can never go below zero.
    function debit(
        mapping(uint256 => uint256) storage s,
        uint256 account,
        uint256 asset,
        uint256 amount,
        bool advance
    ) internal {
        uint256 k = key(account, asset);
        uint256 word = s[k];
        uint256 balance = word & MASK128;
        if (amount <= balance) {
            unchecked {
                s[k] = word - amount; // the debt half is untouched
            }
            return;
        }
        if (!advance || asset != SETTLEMENT_ASSET || account < FIRST_MEMBER) {
            // forge-lint: disable-next-line(unsafe-typecast)
            revert IVault.InsufficientBalance(uint32(account), uint16(asset), balance, amount); // from a 48-bit key
        }
        uint256 shortfall;
        unchecked {
            shortfall = amount - balance;
        }
        uint256 fund = s[DEFAULT_FUND_CASH]; // a system account: no debt half
        if (fund < shortfall) revert IVault.DefaultFundExhausted(fund, shortfall);
        unchecked {
            s[DEFAULT_FUND_CASH] = fund - shortfall;
        }
        uint256 debt = (word >> 128) + shortfall;
        if (debt > MASK128) revert IVault.AmountTooLarge(debt);
        s[k] = debt << 128; // balance is now zero
        s[DEBT_TOTAL] += shortfall; // <= Σ debts, each < 2**128
        // forge-lint: disable-next-line(unsafe-typecast)
        emit IVault.LiquidityAdvanced(uint32(account), uint128(shortfall)); // shortfall <= fund < 2**128
    }

    function _add(mapping(uint256 => uint256) storage s, uint256 k, uint256 amount) private {
        uint256 word = s[k];
        uint256 balance = (word & MASK128) + amount;
        if (balance > MASK128) revert IVault.AmountTooLarge(balance);
        s[k] = (word & ~MASK128) | balance;
    }
}
