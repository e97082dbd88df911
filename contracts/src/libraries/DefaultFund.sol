// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IVault} from "../interfaces/IVault.sol";

/// @title DefaultFund
/// @notice Members' default-fund contributions as shares of one pool, and the bookkeeping of defaults.
///
/// The contributions' tokens are settlement-asset cash of the default fund's account (account 2); this
/// library only keeps the claims on it. A member's contribution value is shares × pool value / pool
/// shares (floor), so drawing the survivors' layer (waterfall layer 4) is one subtraction from the pool
/// value: every contribution falls pro rata, in O(1).
///
/// A pool drawn to zero value, or to dust (below 1 unit per MAX_SHARES_PER_UNIT shares), while shares remain
/// is worthless; the next contribution starts a new epoch (old shares count for nothing; the dust is not
/// burnt: it stays in the pool and goes to the new epoch's contributors). A member's shares are reset lazily, when it is next touched.
///
/// Assessments (layer 5) are capped at ASSESSMENT_CAP_MULTIPLE × the member's contribution value as it stood
/// at the DECLARE: the pool's value and shares are stored at each DECLARE, and a member's stake is
/// snapshotted lazily on its first change after a DECLARE (O(1) per change). With several defaults declared
/// one after the other, a stake changed after a later DECLARE is read at that later DECLARE; since returns
/// are locked while any default is open, that can only be a larger stake (a looser cap), never a smaller one.
library DefaultFund {
    /// @notice Assessments for one default are capped at this multiple of a member's contribution value at
    /// the DECLARE (documented in docs/contracts.md; the Python waterfall uses the same constant).
    uint256 internal constant ASSESSMENT_CAP_MULTIPLE = 2;

    uint256 internal constant MASK128 = type(uint128).max;

    /// @notice At most this many defaults open at once: the pool's backing check sums their debts, so it stays
    /// O(1) in the member count (beyond this many simultaneous defaults the wind-down is the answer).
    uint256 internal constant MAX_OPEN_DEFAULTS = 32;

    /// @dev A member's pool shares, the pool epoch they belong to, and the DECLARE count at their last change.
    struct Stake {
        uint128 shares;
        uint32 epoch;
        uint32 touched;
    }

    /// @dev One member's default record: the pool at its DECLARE, that DECLARE's number, and flags.
    struct Default {
        uint128 poolValue;
        uint128 poolShares;
        uint32 index;
        uint32 epoch;
        bool open;
        bool defaulted;
    }

    struct State {
        uint128 value; // Σ contribution values
        uint128 shares; // Σ shares of the current epoch
        uint32 epoch;
        uint32 declares; // DECLAREs so far (numbers defaults from 1)
        uint32 open; // defaults declared and not closed
        mapping(uint32 account => Stake) stakes;
        mapping(uint32 account => Stake) snapshots; // the stake as it stood at DECLARE number `touched`
        mapping(uint32 account => Default) defaults;
        mapping(uint256 indexAndAccount => uint256) assessed; // (index << 32 | account) => Σ assessed
        uint32[] openAccounts; // the members in an open default (at most MAX_OPEN_DEFAULTS)
    }

    // ------------------------------------------------------------------ views

    /// @notice `account`'s contribution value now (floor).
    function valueOf(State storage s, uint32 account) internal view returns (uint256) {
        Stake memory k = s.stakes[account];
        uint256 total = s.shares;
        if (k.epoch != s.epoch || total == 0) return 0;
        return uint256(k.shares) * s.value / total;
    }

    /// @notice `account`'s pool shares of the current epoch (0 for shares of a past, worthless epoch).
    function sharesOf(State storage s, uint32 account) internal view returns (uint256) {
        Stake memory k = s.stakes[account];
        return k.epoch == s.epoch ? k.shares : 0;
    }

    /// @notice What `account` may still claim of an estate that has received `received` in all: its pro-rata
    /// part floor(received × shares / total shares), less `claimed` (what it already took).
    function estateDue(State storage s, uint32 account, uint256 received, uint256 claimed)
        internal
        view
        returns (uint256)
    {
        uint256 total = s.shares;
        if (total == 0) return 0;
        uint256 entitled = Math.mulDiv(received, sharesOf(s, account), total);
        return entitled > claimed ? entitled - claimed : 0;
    }

    /// @notice What `member` may still be assessed for `defaulter`'s default (0 when not open).
    function capOf(State storage s, uint32 defaulter, uint32 member) internal view returns (uint256) {
        Default memory d = s.defaults[defaulter];
        if (!d.open) return 0;
        uint256 cap = _cap(s, d, member);
        uint256 used = s.assessed[(uint256(d.index) << 32) | member];
        return cap > used ? cap - used : 0;
    }

    /// @dev ASSESSMENT_CAP_MULTIPLE × `member`'s contribution value as it stood at `d`'s DECLARE.
    function _cap(State storage s, Default memory d, uint32 member) private view returns (uint256) {
        if (d.poolShares == 0) return 0;
        Stake memory k = s.stakes[member];
        if (k.touched >= d.index) k = s.snapshots[member]; // changed since the DECLARE: read it as it stood
        if (k.epoch != d.epoch) return 0;
        return ASSESSMENT_CAP_MULTIPLE * (uint256(k.shares) * d.poolValue / d.poolShares);
    }

    // ------------------------------------------------------------------ contributions

    /// @dev Shares per unit of value below which the pool counts as drawn to dust (`contribute` then starts a
    /// new epoch). Shares start at 1 per unit, so this is a fall of the price to below 10^-6 of its start;
    /// minting at the floor gives at most 10^6 shares per unit, which fits 2^128 for any pool below
    /// 3.4 × 10^32 base units.
    uint256 private constant MAX_SHARES_PER_UNIT = 1e6;

    /// @notice Add `amount` of value to `account`'s contribution: it gets shares at the pool's price.
    /// @return value Its contribution value afterwards.
    function contribute(State storage s, uint32 account, uint256 amount) internal returns (uint256 value) {
        uint256 poolValue = s.value;
        uint256 poolShares = s.shares;
        if (poolShares != 0 && poolValue * MAX_SHARES_PER_UNIT < poolShares) { // value < 2^128: no overflow
            // The pool was drawn to zero or to dust (below 1 base unit per 10^6 shares): the old shares are
            // (about) worthless, start a new epoch, or minting at that price overflows 2^128 (round 4, finding 10).
            // Nothing is burnt: the dust value stays in the pool and goes to the new epoch's contributors.
            ++s.epoch;
            poolShares = 0;
        }
        Stake storage k = _touch(s, account);
        uint256 minted = poolShares == 0 ? amount : amount * poolShares / poolValue;
        poolValue += amount;
        poolShares += minted;
        if (poolValue > MASK128) revert IVault.AmountTooLarge(poolValue);
        if (poolShares > MASK128) revert IVault.AmountTooLarge(poolShares);
        // forge-lint: disable-next-line(unsafe-typecast)
        k.shares += uint128(minted); // <= poolShares
        // forge-lint: disable-next-line(unsafe-typecast)
        (s.value, s.shares) = (uint128(poolValue), uint128(poolShares));
        return valueOf(s, account);
    }

    /// @notice Take `amount` of value out of `account`'s contribution (a return to its cash, a write-off of
    /// a defaulter's contribution, a wind-down payout): it gives up ceil(amount × shares / value) shares (all
    /// of them for its whole value), so the value per share of everyone else never falls.
    /// @return value Its contribution value afterwards.
    function remove(State storage s, uint32 account, uint256 amount) internal returns (uint256 value) {
        uint256 available = valueOf(s, account);
        if (amount > available) revert IVault.OverDraw(available, amount);
        if (amount == 0) return available;
        Stake storage k = _touch(s, account);
        uint256 poolValue = s.value;
        uint256 poolShares = s.shares;
        uint256 shares = k.shares;
        uint256 burnt = shares;
        if (amount != available) {
            // ceil(amount * poolShares / poolValue): both factors < 2**128, so the product fits
            uint256 b = (amount * poolShares + poolValue - 1) / poolValue;
            if (b < shares) burnt = b;
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        k.shares = uint128(shares - burnt); // decreased
        // forge-lint: disable-next-line(unsafe-typecast)
        s.shares = uint128(poolShares - burnt);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.value = uint128(poolValue - amount);
        return valueOf(s, account);
    }

    /// @notice Draw `amount` from the whole pool (waterfall layer 4): every contribution falls pro rata.
    function draw(State storage s, uint256 amount) internal {
        // forge-lint: disable-next-line(unsafe-typecast)
        s.value -= uint128(amount); // amount <= value (checked by the caller), reverts otherwise
    }

    // ------------------------------------------------------------------ defaults

    /// @notice Open a default on `account`, storing the pool as it stands for the assessment caps.
    function declare(State storage s, uint32 account) internal {
        Default storage d = s.defaults[account];
        if (d.open) revert IVault.AlreadyInDefault(account);
        if (s.openAccounts.length >= MAX_OPEN_DEFAULTS) revert IVault.TooManyOpenDefaults(MAX_OPEN_DEFAULTS);
        s.openAccounts.push(account);
        uint32 index = ++s.declares;
        ++s.open;
        s.defaults[account] = Default({
            poolValue: s.value, poolShares: s.shares, index: index, epoch: s.epoch, open: true, defaulted: true
        });
    }

    /// @notice Close `account`'s default (it stays flagged as defaulted).
    function close(State storage s, uint32 account) internal {
        Default storage d = s.defaults[account];
        if (!d.open) revert IVault.NotInDefault(account);
        d.open = false;
        --s.open;
        uint32[] storage list = s.openAccounts;
        uint256 last = list.length - 1;
        for (uint256 i; i <= last; ++i) {
            if (list[i] == account) {
                list[i] = list[last];
                break;
            }
        }
        list.pop();
    }

    /// @notice Record an assessment of `member` for `defaulter`'s default, within the cap.
    function assess(State storage s, uint32 defaulter, uint32 member, uint256 amount) internal {
        Default memory d = s.defaults[defaulter];
        uint256 cap = _cap(s, d, member);
        uint256 key = (uint256(d.index) << 32) | member;
        uint256 total = s.assessed[key] + amount;
        if (total > cap) revert IVault.AssessmentAboveCap(member, total, cap);
        s.assessed[key] = total;
    }

    function isOpen(State storage s, uint32 account) internal view returns (bool) {
        return s.defaults[account].open;
    }

    /// @dev Before a stake changes: snapshot it on its first change since the last DECLARE, and drop shares
    /// of a past epoch.
    function _touch(State storage s, uint32 account) private returns (Stake storage k) {
        k = s.stakes[account];
        uint32 declares = s.declares;
        if (k.touched != declares) {
            Stake storage snap = s.snapshots[account];
            (snap.shares, snap.epoch) = (k.shares, k.epoch);
            k.touched = declares;
        }
        uint32 epoch = s.epoch;
        if (k.epoch != epoch) (k.shares, k.epoch) = (0, epoch);
    }
}
