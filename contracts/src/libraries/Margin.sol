// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title Margin
/// @notice Collateral valuation at the last posted marks, and the withdrawal check. Every rounding goes
/// against the member: values round down, collateral seized for a debt rounds up.
library Margin {
    /// @notice An asset's last posted mark and its fixed decimals, packed in one storage slot.
    /// @dev `price` is the value, in settlement-asset base units, of one whole token (10**decimals base
    /// units); zero means "counts for nothing" (the state of a freshly listed asset).
    /// `haircutFloor` is the haircut in force before the last decrease: valuations use the higher of it and
    /// `haircutBps` until `floorUntil` (a decrease of a haircut waits the vault's loosening delay).
    struct Mark {
        uint128 price;
        uint16 haircutBps;
        uint8 decimals;
        uint16 haircutFloor;
        uint64 floorUntil;
    }

    uint256 internal constant BPS = 10_000;

    /// @notice The mark valuations use now: the posted haircut, or the one before its last decrease while that
    /// decrease waits (the higher of the two).
    function effective(Mark memory m) internal view returns (Mark memory) {
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
        if (block.timestamp < m.floorUntil && m.haircutFloor > m.haircutBps) m.haircutBps = m.haircutFloor;
        return m;
    }

    /// @notice floor(balance * price * (10000 - haircutBps) / (10**decimals * 10000)).
    /// @dev balance and price are both < 2**128, so their product fits in 256 bits; mulDiv keeps the full
    /// 512-bit intermediate for the haircut factor. decimals <= 36 (enforced at listing) keeps the
    /// denominator in range.
    function haircutValue(uint256 balance, Mark memory m) internal pure returns (uint256) {
        if (balance == 0 || m.price == 0) return 0;
        return Math.mulDiv(balance * m.price, BPS - m.haircutBps, 10 ** m.decimals * BPS);
    }

    /// @notice Haircut collateral value less debt less initial margin.
    function freeCollateral(uint256 value, uint256 debt, uint256 im) internal pure returns (int256) {
        return SafeCast.toInt256(value) - SafeCast.toInt256(debt + im);
    }

    /// @notice How much of a `balance` of a collateral asset is seized to cover `debt` at its mark, and how
    /// much debt that covers.
    /// @dev seized = ceil(debt * 10**decimals / price), capped at the balance; a zero price seizes the whole
    /// balance and covers nothing. covered = floor(seized * price / 10**decimals), capped at the debt.
    function seizure(uint256 debt, uint256 balance, Mark memory m)
        internal
        pure
        returns (uint256 seized, uint256 covered)
    {
        if (debt == 0 || balance == 0) return (0, 0);
        if (m.price == 0) return (balance, 0);
        uint256 unit = 10 ** m.decimals;
        seized = Math.min(Math.mulDiv(debt, unit, m.price, Math.Rounding.Ceil), balance);
        covered = Math.min(Math.mulDiv(seized, m.price, unit), debt);
    }

    /// @notice How much of a `balance` of a collateral asset the waterfall seizes to cover `need`, valued at
    /// its mark with haircut, and the value that covers.
    /// @dev seized = ceil(need * 10**decimals * 10000 / (price * (10000 - haircutBps))), so its haircut value is
    /// at least `need`, capped at the balance; value = haircutValue(seized), capped at `need`. An asset that
    /// counts for nothing (price 0 or a 100% haircut) is not seized: (0, 0).
    function haircutSeizure(uint256 need, uint256 balance, Mark memory m)
        internal
        pure
        returns (uint256 seized, uint256 value)
    {
        if (need == 0 || balance == 0 || m.price == 0 || m.haircutBps >= BPS) return (0, 0);
        uint256 num = uint256(m.price) * (BPS - m.haircutBps); // < 2**142
        uint256 den = 10 ** m.decimals * BPS; // < 2**134
        seized = Math.min(Math.mulDiv(need, den, num, Math.Rounding.Ceil), balance);
        value = Math.min(haircutValue(seized, m), need);
    }
}
