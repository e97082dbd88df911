"""Property tests of the settlement accounting: zero-sum, conservative rounding, netting."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from offchain.core.accounting import (
    CashFlow,
    clearing_fee,
    funding_payment,
    net_transfers,
    variation_margin,
    with_rounding_residual,
)
from offchain.core.batch import FEE_ACCOUNT, zero_sum_violations

prices = st.integers(1, 10**12)
qtys = st.integers(1, 10**10)
decimals = st.integers(0, 18)


@st.composite
def trades(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    """(buyer, seller, qty, price) among members 4..9."""
    n = draw(st.integers(1, 30))
    out = []
    for _ in range(n):
        b, s = draw(st.lists(st.integers(4, 9), min_size=2, max_size=2, unique=True))
        out.append((b, s, draw(qtys), draw(prices)))
    return out


@given(trades(), prices, prices, decimals, st.integers(0, 50))
def test_vm_of_a_market_is_zero_sum_after_rounding_residual(
    fills: list[tuple[int, int, int, int]], old_mark: int, new_mark: int, qd: int, fee_bps: int
) -> None:
    # Positions from an earlier batch (themselves from the same trades) and this batch's fills.
    positions: dict[int, int] = {}
    for b, s, q, _ in fills:
        positions[b] = positions.get(b, 0) + q
        positions[s] = positions.get(s, 0) - q
    flows: list[CashFlow] = []
    for m in range(4, 10):
        mine = [(q, p) for b, _s, q, p in fills if b == m] + [(-q, p) for _b, s, q, p in fills if s == m]
        vm = variation_margin(positions.get(m, 0), mine, old_mark, new_mark, qd)
        flows.append(CashFlow(m, "X", "vm", vm))
        fee = sum(clearing_fee(q, p, fee_bps, qd) for q, p in mine)
        flows.append(CashFlow(m, "X", "fee", -fee))
        flows.append(CashFlow(FEE_ACCOUNT, "X", "fee", fee))
    balanced = with_rounding_residual(flows)
    assert sum(f.amount for f in balanced) == 0
    transfers = net_transfers(balanced)
    assert zero_sum_violations(transfers) == {}
    assert len({t.account for t in transfers}) == len(transfers)  # one transfer per account


@given(st.integers(-(10**12), 10**12), prices, prices, decimals)
def test_vm_rounds_against_the_member(position: int, old: int, new: int, qd: int) -> None:
    exact = Fraction(position * (new - old), 10**qd)
    vm = variation_margin(position, [], old, new, qd)
    assert vm <= exact < vm + 1


@given(st.integers(-(10**12), 10**12), prices, st.integers(-(10**6), 10**6), decimals)
def test_funding_rounds_against_the_member_and_longs_pay_positive_rates(
    position: int, mark: int, rate: int, qd: int
) -> None:
    paid = funding_payment(position, mark, rate, qd)
    exact = Fraction(-position * mark * rate, 10**qd * 10**8)
    assert paid <= exact < paid + 1
    if position > 0 and rate > 0:
        assert paid <= 0


@given(qtys, prices, st.integers(0, 100), decimals)
def test_fee_rounds_up(qty: int, price: int, bps: int, qd: int) -> None:
    fee = clearing_fee(qty, price, bps, qd)
    exact_num = qty * price * bps
    den = 10**qd * 10_000
    assert fee * den >= exact_num > (fee - 1) * den or (fee == 0 and exact_num == 0)


def test_vm_example() -> None:
    # Long 2 BTC (8 decimals) from 60,000 to 58,500 USDC (6 decimals), bought 1 more at 59,000.
    vm = variation_margin(2 * 10**8, [(10**8, 59_000 * 10**6)], 60_000 * 10**6, 58_500 * 10**6, 8)
    assert vm == -(2 * 1_500 + 500) * 10**6
