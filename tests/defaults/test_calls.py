"""Margin calls and cure (offchain/defaults/calls.py): issue, deepen, cure, default, the vault's view."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from offchain.defaults.calls import (
    AssetMark,
    CallPolicy,
    MemberState,
    OpenCall,
    Verdict,
    apply_cash,
    decide,
    equity,
)

P = CallPolicy(cure_s=7_200, deep_cure_s=1_800, deep_fraction_bps=5_000)
NOW = 1_000_000


def member(equity: int, im: int = 1_000, mm: int = 800, debt: int = 0) -> MemberState:
    return MemberState(account=5, equity=equity, debt=debt, im=im, mm=mm)


def test_no_call_at_or_above_maintenance_without_debt() -> None:
    assert decide(member(800), None, NOW, P).verdict == Verdict.NONE


def test_below_maintenance_calls_back_to_initial_margin_with_the_ordinary_cure() -> None:
    d = decide(member(700), None, NOW, P)
    assert d.verdict == Verdict.ISSUE and d.call == OpenCall(5, 300, NOW + 7_200, False)


def test_debt_alone_is_a_call_for_at_least_the_debt() -> None:
    d = decide(member(5_000, debt=50), None, NOW, P)
    assert d.verdict == Verdict.ISSUE and d.call is not None and d.call.amount == 50


def test_deep_breach_gets_the_short_cure() -> None:
    for eq in (399, -10):  # below half of MM, or negative equity
        d = decide(member(eq), None, NOW, P)
        assert d.call is not None and d.call.deep and d.call.deadline == NOW + 1_800
    assert decide(member(400), None, NOW, P).call == OpenCall(5, 600, NOW + 7_200, False)


def test_a_call_that_deepens_moves_its_deadline_forward_never_back() -> None:
    call = OpenCall(5, 300, NOW + 7_200, False)
    d = decide(member(100), call, NOW + 60, P)
    assert d.verdict == Verdict.RAISE and d.call == OpenCall(5, 900, NOW + 60 + 1_800, True)
    # Recovering to a shallow breach keeps the shortened deadline and the posted amount.
    assert decide(member(700), d.call, NOW + 120, P).verdict == Verdict.HOLD


def test_cure_needs_initial_margin_and_no_debt() -> None:
    call = OpenCall(5, 300, NOW + 7_200, False)
    assert decide(member(999), call, NOW + 10, P).verdict == Verdict.HOLD
    assert decide(member(5_000, debt=1), call, NOW + 10, P).verdict == Verdict.HOLD
    d = decide(member(1_000), call, NOW + 10, P)
    assert d.verdict == Verdict.CURE and d.call is None
    # Reducing risk (IM falls to what the collateral covers) cures as well.
    assert decide(member(700, im=600, mm=480), call, NOW + 10, P).verdict == Verdict.CURE


def test_uncured_past_the_deadline_is_a_default_but_a_cure_in_time_wins() -> None:
    call = OpenCall(5, 300, NOW + 7_200, False)
    assert decide(member(700), call, NOW + 7_199, P).verdict == Verdict.HOLD
    assert decide(member(700), call, NOW + 7_200, P).verdict == Verdict.DEFAULT
    assert decide(member(1_000), call, NOW + 7_200, P).verdict == Verdict.CURE


@given(
    st.integers(-(10**12), 10**12),
    st.integers(0, 10**12),
    st.integers(0, 10**12),
    st.integers(0, 10**9),
    st.integers(0, 10**6),
)
def test_call_invariants(eq: int, im: int, mm_frac: int, debt: int, dt: int) -> None:
    mm = im * (mm_frac % 1_001) // 1_000
    m = MemberState(5, eq, debt, im, mm)
    first = decide(m, None, NOW, P)
    if first.call is None:
        assert eq >= mm and debt == 0
        return
    c = first.call
    # The amount restores IM and repays the debt; the deadline is one of the two cure periods.
    assert c.amount >= im - eq and c.amount >= debt and c.amount > 0
    assert c.deadline in (NOW + P.cure_s, NOW + P.deep_cure_s)
    assert c.deep == (c.deadline == NOW + P.deep_cure_s)
    # Later, the same state never pushes the deadline back or lowers the posted amount.
    later = decide(m, c, NOW + dt, P)
    if later.verdict in (Verdict.RAISE, Verdict.HOLD):
        assert later.call is not None and later.call.deadline <= c.deadline and later.call.amount >= c.amount
    if NOW + dt >= c.deadline and not (eq >= im and debt == 0):
        assert later.verdict == Verdict.DEFAULT


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.integers(-(10**12), 10**12))
def test_cash_projection_follows_the_vault(cash: int, debt: int, delta: int) -> None:
    cash, debt = (cash, 0) if cash >= debt else (0, debt)  # the vault never holds both
    c, d = apply_cash(cash, debt, delta)
    assert c == 0 or d == 0
    assert c >= 0 and d >= 0
    assert c - d == cash - debt + delta  # net position moves by exactly the transfer
    if delta >= 0:
        assert d == max(debt - delta, 0)


def test_equity_is_the_floor_haircut_value_less_debt() -> None:
    marks = {0: AssetMark(10**6, 0, 6), 1: AssetMark(2_000 * 10**6, 1_000, 18)}
    # 100 USDC + 0.5 WETH at 2,000 with a 10% haircut (900) − 50 debt.
    assert equity({0: 100 * 10**6, 1: 5 * 10**17, 2: 10**8}, 50 * 10**6, marks) == 950 * 10**6
