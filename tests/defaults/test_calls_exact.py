"""Margin calls, exactly: the policy's defaults and validation, 1-unit boundaries, exact amounts and re-posts.

These pin what the property tests in test_calls.py only bound (scripts/mutation.py measures how well).
"""

from __future__ import annotations

import pytest

from offchain.defaults.calls import (
    AssetMark,
    CallPolicy,
    MemberState,
    OpenCall,
    Verdict,
    apply_cash,
    call_amount,
    decide,
    equity,
    is_deep,
)

P = CallPolicy(cure_s=7_200, deep_cure_s=1_800, deep_fraction_bps=5_000)
NOW = 1_000_000


def member(equity: int, im: int = 1_000, mm: int = 800, debt: int = 0) -> MemberState:
    return MemberState(account=5, equity=equity, debt=debt, im=im, mm=mm)


def test_policy_defaults_are_two_hours_thirty_minutes_and_half_of_maintenance() -> None:
    p = CallPolicy()
    assert (p.cure_s, p.deep_cure_s, p.deep_fraction_bps) == (7_200, 1_800, 5_000)


@pytest.mark.parametrize(
    ("cure_s", "deep_cure_s", "deep_fraction_bps"),
    [(7_200, 0, 5_000), (7_200, -1, 5_000), (7_200, 7_201, 5_000), (7_200, 1_800, 0), (7_200, 1_800, 10_001)],
)
def test_policy_refuses_each_invalid_bound(cure_s: int, deep_cure_s: int, deep_fraction_bps: int) -> None:
    with pytest.raises(ValueError, match="deep_cure_s"):
        CallPolicy(cure_s=cure_s, deep_cure_s=deep_cure_s, deep_fraction_bps=deep_fraction_bps)


@pytest.mark.parametrize(
    ("cure_s", "deep_cure_s", "deep_fraction_bps"),
    [(7_200, 1, 5_000), (7_200, 7_200, 5_000), (1, 1, 1), (7_200, 1_800, 10_000)],
)
def test_policy_accepts_every_bound_itself(cure_s: int, deep_cure_s: int, deep_fraction_bps: int) -> None:
    p = CallPolicy(cure_s=cure_s, deep_cure_s=deep_cure_s, deep_fraction_bps=deep_fraction_bps)
    assert (p.cure_s, p.deep_cure_s, p.deep_fraction_bps) == (cure_s, deep_cure_s, deep_fraction_bps)


def test_zero_equity_with_zero_maintenance_is_not_a_deep_breach() -> None:
    # Equity exactly 0 is not < 0, and 0 × 10000 is not < 0 × fraction: an ordinary call for the debt.
    m = member(0, im=0, mm=0, debt=1)
    assert not is_deep(m, P)
    assert decide(m, None, NOW, P).call == OpenCall(5, 1, NOW + 7_200, False)


def test_deep_breach_boundary_is_exactly_the_fraction_of_maintenance() -> None:
    assert not is_deep(member(400), P)  # 400 × 10000 == 800 × 5000: not below
    assert is_deep(member(399), P)
    assert is_deep(member(-1, mm=0), P)  # negative equity is deep even with no maintenance margin


def test_a_call_is_for_at_least_one_unit() -> None:
    # Below maintenance but above initial margin (an IM below MM): the call is for exactly 1 unit.
    m = member(5, im=0, mm=10)
    assert call_amount(m) == 1
    assert decide(m, None, NOW, P).call == OpenCall(5, 1, NOW + 7_200, False)


def test_call_amount_is_the_larger_of_the_im_gap_and_the_debt() -> None:
    assert call_amount(member(700, debt=299)) == 300
    assert call_amount(member(700, debt=301)) == 301


def test_a_rising_amount_is_reposted_with_the_same_deadline() -> None:
    call = OpenCall(5, 300, NOW + 7_200, False)
    d = decide(member(600), call, NOW + 60, P)  # still shallow (600 ≥ 400): only the amount rises
    assert d.verdict == Verdict.RAISE and d.call == OpenCall(5, 400, NOW + 7_200, False)


def test_a_falling_amount_holds_the_posted_call() -> None:
    call = OpenCall(5, 300, NOW + 7_200, False)
    d = decide(member(750), call, NOW + 60, P)
    assert d.verdict == Verdict.HOLD and d.call == call


def test_a_deep_call_keeps_an_earlier_deadline() -> None:
    call = OpenCall(5, 900, NOW + 100, True)
    d = decide(member(100), call, NOW + 60, P)  # now + deep cure is later than the posted deadline
    assert d.verdict == Verdict.HOLD and d.call == call


def test_cash_debits_and_credits_at_one_unit() -> None:
    assert apply_cash(10, 0, -1) == (9, 0)
    assert apply_cash(0, 0, -1) == (0, 1)  # advanced: becomes debt
    assert apply_cash(0, 5, 1) == (0, 4)  # a credit repays the debt first
    assert apply_cash(3, 0, 0) == (3, 0)
    assert apply_cash(2, 0, -5) == (0, 3)  # the cash pays what it can, the rest is advanced
    assert apply_cash(0, 5, 8) == (3, 0)


def test_equity_counts_one_unit_balances_and_unit_prices() -> None:
    marks = {7: AssetMark(price=100, haircut_bps=0, decimals=0), 8: AssetMark(price=1, haircut_bps=0, decimals=0)}
    assert equity({7: 1}, 0, marks) == 100
    assert equity({8: 5}, 0, marks) == 5
    assert equity({7: 0, 8: 0}, 2, marks) == -2
    assert equity({9: 10**6}, 0, marks) == 0  # no mark: counts for nothing


def test_equity_floors_the_haircut_value() -> None:
    marks = {1: AssetMark(price=3, haircut_bps=3_333, decimals=1)}
    # 7 × 3 × 6667 / (10 × 10000) = 14.0007 → 14
    assert equity({1: 7}, 0, marks) == 1
    assert equity({1: 70}, 0, marks) == 14
