"""The engine's pool book (offchain/defaults/pool.py), exactly: minting and burning at the pool's price, epochs,
stakes at a DECLARE, caps, and every refusal the vault makes (the property test in test_pool.py compares it
with the auditor's mirror; this pins the numbers themselves)."""

from __future__ import annotations

import pytest

from offchain.core.waterfall import Pool
from offchain.defaults.pool import Declared, PoolBook, PoolError, Stake


def book(*contributions: tuple[int, int]) -> PoolBook:
    b = PoolBook()
    for account, amount in contributions:
        b.contribute(account, amount)
    return b


def test_contributions_mint_at_the_pools_price() -> None:
    b = book((5, 100))
    assert (b.value, b.shares, b.shares_of(5), b.value_of(5)) == (100, 100, 100, 100)
    b.draw(50)  # layer 4 lowers the value, not the shares
    assert (b.value, b.shares, b.value_of(5)) == (50, 100, 50)
    assert b.contribute(6, 50) == 50  # 50 × 100 / 50 = 100 shares
    assert (b.value, b.shares, b.shares_of(6)) == (100, 200, 100)
    assert b.contribute(7, 1) == 1  # 1 × 200 / 100 = 2 shares, worth floor(2 × 101 / 202) = 1
    assert (b.shares_of(7), b.value, b.shares) == (2, 101, 202)


def test_value_of_floors_and_an_empty_pool_is_worth_nothing() -> None:
    b = book((5, 2), (6, 1))
    b.draw(1)  # value 2 of 3 shares: 5 holds 2 → floor(4 / 3) = 1
    assert (b.value_of(5), b.value_of(6)) == (1, 0)
    assert PoolBook().value_of(5) == 0 and PoolBook().shares_of(5) == 0


def test_removing_burns_the_ceiling_of_the_shares_and_all_of_them_for_the_whole_value() -> None:
    b = book((5, 10), (6, 20))
    b.draw(3)  # value 27 of 30 shares: 5 is worth 9
    assert b.remove(5, 1) == 7  # burns ceil(1 × 30 / 27) = 2 shares: 8 left worth floor(8 × 26 / 28) = 7
    assert (b.shares_of(5), b.shares, b.value) == (8, 28, 26)
    assert b.value_of(5) == 7
    assert b.remove(5, 7) == 0  # the whole value: every share goes
    assert (b.shares_of(5), b.shares, b.value) == (0, 20, 19)
    assert b.remove(6, 0) == 19 and b.shares == 20  # nothing removed, nothing touched
    with pytest.raises(PoolError, match="removes 20 from a contribution worth 19"):
        b.remove(6, 20)


def test_a_draw_beyond_the_pool_is_refused_and_to_zero_is_allowed() -> None:
    b = book((5, 10))
    with pytest.raises(PoolError, match="layer 4 draws 11 from a pool worth 10"):
        b.draw(11)
    b.draw(10)
    assert b.value == 0 and b.shares == 10


def test_a_pool_drawn_to_zero_starts_a_new_epoch_at_the_next_contribution() -> None:
    b = book((5, 10))
    b.draw(10)
    assert b.epoch == 0
    b.contribute(6, 4)
    assert (b.epoch, b.value, b.shares, b.shares_of(6), b.shares_of(5), b.value_of(5)) == (1, 4, 4, 4, 0, 0)
    b.contribute(5, 4)  # the old stake is reset before minting
    assert b.shares_of(5) == 4 and b.stakes[5] == Stake(shares=4, epoch=1, touched=0)


def test_declare_close_and_their_refusals() -> None:
    b = book((5, 10), (6, 30))
    with pytest.raises(PoolError, match="account 7 was never declared in default on-chain"):
        b.close(7)
    b.declare(7)
    assert b.defaults[7] == Declared(pool_value=40, pool_shares=40, index=1, epoch=0, open=True)
    assert b.is_open(7) and not b.is_open(5) and b.pool_at_declare(7) == Pool(40, 40)
    with pytest.raises(PoolError, match="account 7 is already in default"):
        b.declare(7)
    b.close(7)
    assert not b.is_open(7) and b.defaults[7].open is False
    with pytest.raises(PoolError, match="account 7 is not in default"):
        b.close(7)
    b.declare(7)  # declared again after a close: a new DECLARE number
    assert b.defaults[7].index == 2 and b.declares == 2


def test_stakes_are_read_as_they_stood_at_the_declare() -> None:
    b = book((5, 10), (6, 30))
    b.declare(7)
    b.contribute(5, 10)  # after the DECLARE: the snapshot keeps 10 shares
    assert b.shares_of(5) == 20 and b.shares_at_declare(7, 5) == 10
    assert b.shares_at_declare(7, 6) == 30  # unchanged since: read as it is
    assert b.shares_at_declare(7, 8) == 0  # never contributed
    b.declare(9)
    assert b.shares_at_declare(9, 5) == 20  # at the later DECLARE it held 20
    assert b.cap(7, 5) == 20 and b.cap(9, 5) == 2 * (20 * 50 // 50)


def test_no_stake_at_a_declare_of_an_empty_pool_or_of_another_epoch() -> None:
    empty = PoolBook()
    empty.declare(7)
    assert empty.shares_at_declare(7, 5) == 0 and empty.cap(7, 5) == 0
    b = book((5, 10))
    b.declare(7)
    b.draw(10)
    b.contribute(6, 5)  # a new epoch after the DECLARE
    b.declare(8)
    assert b.shares_at_declare(7, 5) == 10 and b.shares_at_declare(8, 5) == 0


def test_assessments_within_the_cap_only_of_survivors() -> None:
    b = book((5, 10), (6, 30))
    b.declare(7)
    assert b.cap(7, 5) == 20 and b.cap_left(7, 5) == 20
    b.assess(7, 5, 15)
    b.assess(7, 5, 5)  # exactly up to the cap
    assert b.cap_left(7, 5) == 0 and b.assessed[(1, 5)] == 20
    with pytest.raises(PoolError, match="account 5 assessed 21 for this default, above its cap"):
        b.assess(7, 5, 1)
    with pytest.raises(PoolError, match="assessment of account 7, which is in default"):
        b.assess(7, 7, 1)
    b.declare(6)
    with pytest.raises(PoolError, match="assessment of account 6, which is in default"):
        b.assess(7, 6, 1)
    with pytest.raises(PoolError, match="never declared"):
        b.assess(9, 5, 1)
    b.close(7)
    assert b.cap_left(7, 5) == 0 and b.cap_left(6, 5) == 20


def test_cap_left_never_goes_negative() -> None:
    b = book((5, 10))
    b.declare(7)
    b.assess(7, 5, 20)
    b.remove(5, 10)  # its stake at the DECLARE is kept, so the cap stays 20
    assert b.cap(7, 5) == 20 and b.cap_left(7, 5) == 0
    b.assessed[(1, 5)] = 25  # more than the cap (not reachable through assess): still 0
    assert b.cap_left(7, 5) == 0


def test_touch_snapshots_once_per_declare() -> None:
    b = book((5, 10))
    assert 5 not in b.snapshots  # no DECLARE yet: nothing to snapshot against
    b.declare(7)
    b.contribute(5, 10)
    b.contribute(5, 10)
    assert b.snapshots[5] == Stake(10, 0, 0) and b.stakes[5].touched == 1 and b.shares_of(5) == 30


def test_a_pool_drawn_to_dust_starts_a_new_epoch_exactly_below_one_unit_per_million_shares() -> None:
    """DefaultFund.MAX_SHARES_PER_UNIT (fourth review, finding 10): at exactly 10^6 shares per unit of value the
    pool keeps its epoch; one share more, or a single share left on no value, and the next contribution starts
    a new one, the old dust staying in the pool."""
    at = PoolBook()
    at.contribute(1, 10**6)
    at.draw(10**6 - 1)  # value 1, shares 10^6
    at.contribute(2, 5)
    assert (at.epoch, at.shares_of(1), at.value) == (0, 10**6, 6)
    below = PoolBook()
    below.contribute(1, 10**6 + 1)
    below.draw(10**6)  # value 1, shares 10^6 + 1
    assert below.contribute(2, 5) == 6  # the new epoch's only shares: the 5 paid and the old unit of dust
    assert (below.epoch, below.shares_of(1), below.shares_of(2), below.shares) == (1, 0, 5, 5)
    one = PoolBook()
    one.contribute(1, 1)
    one.draw(1)  # value 0, one share
    assert one.contribute(2, 7) == 7
    assert (one.epoch, one.shares) == (1, 7)
