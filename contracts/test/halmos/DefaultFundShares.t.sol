// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Vm} from "../utils/Vm.sol";
import {DefaultFund} from "../../src/libraries/DefaultFund.sol";

/// @notice Halmos proofs of the default fund's pool shares (`DefaultFund`): a contribution or a removal moves
/// the pool's value by exactly its amount and only its member's shares. The library's own code runs on this
/// contract's storage; only the starting state is written here. Run by `tests/contracts/test_halmos.py`;
/// docs/contracts.md, "Symbolic proofs". Proved here: the bookkeeping (exact pool value, shares that add up),
/// over values, shares and amounts below 2^64 (token base units; the vault's cap is 2^128). The nonlinear
/// rules (no value created, no member's value lowered by another's contribution or removal, a draw pro rata,
/// an estate's dues) did not finish in Halmos 0.3.3 even over 8 bits: `test/fuzz/DefaultFundShares.t.sol`
/// fuzzes them at full width.
contract DefaultFundSharesTest {
    using DefaultFund for DefaultFund.State;

    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    DefaultFund.State internal s;

    // Three members, concrete (Halmos slows down on symbolic storage keys) but read from storage: with
    // compile-time constants the optimizer folds some of the stakes' mapping slots into constants, and
    // Halmos 0.3.3 then keeps a folded slot and the same slot hashed at run time apart (bogus counterexamples).
    uint32 internal A;
    uint32 internal B;
    uint32 internal C;

    constructor() {
        (A, B, C) = (4, 5, 6);
    }

    /// @dev A reachable pool: members A, B, C hold every share of the current epoch (epoch 0, no DECLARE yet,
    /// so no snapshot is taken), and a pool with no shares has no value (a pool drawn to zero value while
    /// shares remain is reachable and allowed). Fields are written one by one: Halmos 0.3.3 mis-modelled a
    /// struct literal written to a mapping.
    function _load(uint256 value, uint256 a, uint256 b, uint256 c) internal {
        uint256 total = a + b + c;
        vm.assume(total <= type(uint128).max); // the vault caps the pool's shares at 2^128
        vm.assume(total != 0 || value == 0);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.value = uint128(value);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.shares = uint128(total);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.stakes[A].shares = uint128(a);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.stakes[B].shares = uint128(b);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.stakes[C].shares = uint128(c);
    }

    function _sum() internal view returns (uint256) {
        return s.valueOf(A) + s.valueOf(B) + s.valueOf(C);
    }

    function _sharesAddUp() internal view returns (bool) {
        return s.sharesOf(A) + s.sharesOf(B) + s.sharesOf(C) == s.shares;
    }

    /// @dev A contribution by A of `amount`: the pool's value grows by exactly `amount` (a new
    /// epoch keeps the old dust), the shares minted go to A alone and still add up to the pool's, and the value returned is A's.
    function check_contributeKeepsThePoolsBooks(uint64 value, uint64 a, uint64 b, uint64 c, uint64 amount) public {
        _load(value, a, b, c);
        // a pool below 1 base unit per 10^6 shares (drawn to 0 or to dust) starts a new epoch; its value stays
        uint256 shares = uint256(a) + b + c;
        bool newEpoch = shares != 0 && uint256(value) * 1e6 < shares;
        uint256 returned = s.contribute(A, amount);
        assert(returned == s.valueOf(A));
        assert(s.value == uint256(value) + amount);
        assert(_sharesAddUp());
        assert(s.sharesOf(B) == (newEpoch ? 0 : b) && s.sharesOf(C) == (newEpoch ? 0 : c));
    }

    /// @dev A removal of `amount` from A: the pool's value falls by exactly `amount`, only A's shares fall
    /// and they still add up to the pool's, and the value returned is A's.
    function check_removeTakesExactlyTheAmount(uint64 value, uint64 a, uint64 b, uint64 c, uint64 amount) public {
        _load(value, a, b, c);
        uint256 returned = s.remove(A, amount);
        assert(returned == s.valueOf(A));
        assert(s.value == uint256(value) - amount);
        assert(s.sharesOf(A) <= a);
        assert(s.sharesOf(B) == b && s.sharesOf(C) == c);
        assert(_sharesAddUp());
    }
}
