// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "../utils/Test.sol";
import {DefaultFund} from "../../src/libraries/DefaultFund.sol";

/// @notice The default fund's pool shares conserve value, at full width (values and shares up to 2^128, the
/// vault's cap): the nonlinear rules Halmos 0.3.3 cannot discharge in CI's time (docs/contracts.md,
/// "Symbolic proofs"), fuzzed on the library's own code over three members.
contract DefaultFundSharesFuzzTest is Test {
    using DefaultFund for DefaultFund.State;

    uint256 internal constant MAX = type(uint128).max;
    uint32 internal constant A = 4;
    uint32 internal constant B = 5;
    uint32 internal constant C = 6;

    DefaultFund.State internal s;

    /// @dev A reachable pool: A, B, C hold every share of epoch 0; a pool with shares has value or was drawn
    /// to zero, one with no shares has no value. Returns the pool's value.
    function _load(uint256 value, uint256 a, uint256 b, uint256 c) internal returns (uint256) {
        a = bound(a, 0, MAX);
        b = bound(b, 0, MAX - a);
        c = bound(c, 0, MAX - a - b);
        value = a + b + c == 0 ? 0 : bound(value, 0, MAX);
        // forge-lint: disable-next-line(unsafe-typecast)
        (s.value, s.shares) = (uint128(value), uint128(a + b + c));
        // forge-lint: disable-next-line(unsafe-typecast)
        s.stakes[A].shares = uint128(a);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.stakes[B].shares = uint128(b);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.stakes[C].shares = uint128(c);
        return value;
    }

    function _sum() internal view returns (uint256) {
        return s.valueOf(A) + s.valueOf(B) + s.valueOf(C);
    }

    function testFuzz_contributeGivesNoMoreThanPaidAndTakesFromNoOne(
        uint256 value,
        uint256 a,
        uint256 b,
        uint256 c,
        uint256 amount
    ) public {
        value = _load(value, a, b, c);
        amount = bound(amount, 0, MAX - value);
        (uint256 a0, uint256 b0, uint256 c0) = (s.valueOf(A), s.valueOf(B), s.valueOf(C));
        uint256 poolShares = s.shares;
        // the shares minted can overflow the 2^128 cap when the pool is worth far less than its shares
        if (value != 0 && poolShares + amount * poolShares / value > MAX) return;
        // A pool below 1 base unit per 10^6 shares starts a new epoch (round 4, finding 10): the old shares'
        // dust (< poolShares / 10^6 in all) stays in the pool and goes to the new epoch's first contributor.
        bool fresh = poolShares != 0 && value * 1e6 < poolShares;
        s.contribute(A, amount);
        if (fresh) {
            assertLe(s.valueOf(A), value + amount, "new epoch: more than it paid plus the old dust");
            assertLe(b0 + c0 + a0, value, "the dust the old shares give up is the pool's old value");
        } else {
            assertLe(s.valueOf(A), a0 + amount, "contributor got more than it paid");
            assertGe(s.valueOf(B), b0, "B's value fell");
            assertGe(s.valueOf(C), c0, "C's value fell");
        }
        assertLe(_sum(), s.value, "values above the pool");
    }

    function testFuzz_removeBurnsEnoughShares(uint256 value, uint256 a, uint256 b, uint256 c, uint256 amount) public {
        value = _load(value, a, b, c);
        uint256 poolShares = s.shares;
        amount = bound(amount, 0, s.valueOf(A));
        (uint256 b0, uint256 c0) = (s.valueOf(B), s.valueOf(C));
        s.remove(A, amount);
        assertEq(s.value, value - amount, "pool value != before - amount");
        assertGe(s.valueOf(B), b0, "B's value fell");
        assertGe(s.valueOf(C), c0, "C's value fell");
        assertLe(_sum(), s.value, "values above the pool");
        // every share burnt: what stays in the pool is dust, less than one share was worth
        if (s.shares == 0) assertLt(uint256(s.value) * poolShares, value == 0 ? 1 : value, "more than dust left");
    }

    function testFuzz_drawLowersEveryValueProRata(uint256 value, uint256 a, uint256 b, uint256 c, uint256 amount)
        public
    {
        value = _load(value, a, b, c);
        amount = bound(amount, 0, value);
        (uint256 a0, uint256 b0, uint256 c0) = (s.valueOf(A), s.valueOf(B), s.valueOf(C));
        s.draw(amount);
        uint256 total = s.shares;
        uint256 left = value - amount;
        assertEq(s.valueOf(A), total == 0 ? 0 : uint256(s.stakes[A].shares) * left / total, "A not pro rata");
        assertEq(s.valueOf(B), total == 0 ? 0 : uint256(s.stakes[B].shares) * left / total, "B not pro rata");
        assertLe(s.valueOf(A), a0, "A's value rose");
        assertLe(s.valueOf(B), b0, "B's value rose");
        assertLe(s.valueOf(C), c0, "C's value rose");
        assertLe(_sum(), s.value, "values above the pool");
    }

    /// @dev Each claimant took some part of what it was due when the estate had received `earlier`; now it has
    /// received `received`: what they took plus what they are still due sums to at most `received`.
    function testFuzz_estatePaysNoMoreThanItReceived(
        uint256 a,
        uint256 b,
        uint256 c,
        uint256 earlier,
        uint256 received,
        uint256[3] memory took
    ) public {
        _load(1, a, b, c);
        received = bound(received, 0, MAX);
        earlier = bound(earlier, 0, received);
        uint32[3] memory who = [A, B, C];
        uint256 paid;
        for (uint256 i; i < 3; ++i) {
            uint256 claimed = bound(took[i], 0, s.estateDue(who[i], earlier, 0));
            paid += claimed + s.estateDue(who[i], received, claimed);
        }
        assertLe(paid, received, "estate paid more than it received");
    }

    /// @notice Found while writing the proofs: a sole member removing all but less than one share's worth of its
    /// value gives up every share (the ceiling), leaving that dust in a pool with no shares; the next
    /// contribution then mints 1:1 and its contributor is credited the dust too.
    function test_removeCanLeaveDustWithNoShares() public {
        _load(100, 10, 0, 0); // one share is worth 10
        s.remove(A, 95); // ceil(95 * 10 / 100) = 10 shares: all of them
        assertEq(s.shares, 0, "shares left");
        assertEq(s.value, 5, "dust left");
        assertEq(s.contribute(B, 7), 12, "the next contributor gets the dust");
    }
}
