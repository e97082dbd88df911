"""compute_obligations without a chain: exact flows for fills, positions and funding, and the halted path.

An instrument missing from `new_marks` is halted: its fills wait (deferred), its positions are not re-marked,
its funding waits. The amounts below are worked out by hand from the accounting rules (floor for VM and
funding, ceiling for fees, the residual to the fee account).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from offchain.core.accounting import CashFlow
from offchain.core.batch import FEE_ACCOUNT
from offchain.core.obligations import (
    FundingDue,
    InstrumentSpec,
    Obligations,
    PendingFill,
    SettledMark,
    compute_obligations,
)


def spec(name: str, qty_decimals: int = 3, fee_bps: int = 10) -> InstrumentSpec:
    return InstrumentSpec(
        name=name,
        kind="perp",
        underlying=name.split("-")[0],
        qty_decimals=qty_decimals,
        price_band_bps=500,
        max_mark_jump_bps=1_000,
        mark_stale_ms=60_000,
        clearing_fee_bps=fee_bps,
        active=True,
    )


def fill(fid: int, instrument: str, buyer: int, seller: int, qty: int, price: int, venue: str = "v1") -> PendingFill:
    return PendingFill(
        id=fid,
        venue=venue,
        venue_fill_id=f"{venue}-{fid}",
        symbol=instrument,
        instrument=instrument,
        buyer=buyer,
        seller=seller,
        buyer_address=f"0x{buyer:040x}",
        seller_address=f"0x{seller:040x}",
        qty=qty,
        price=price,
        ts_ms=1_000 + fid,
        leaf=bytes([fid]) * 32,
    )


INSTRUMENTS = {"BTC-PERP": spec("BTC-PERP"), "ETH-PERP": spec("ETH-PERP", 2), "SOL-PERP": spec("SOL-PERP", 0, 0)}
A = fill(1, "BTC-PERP", buyer=12, seller=10, qty=500, price=100_500)
B = fill(2, "BTC-PERP", buyer=11, seller=12, qty=250, price=100_801, venue="v2")
C = fill(3, "ETH-PERP", buyer=10, seller=11, qty=100, price=2_000)  # ETH is halted: no new mark
POSITIONS = {(10, "BTC-PERP"): 2_000, (11, "BTC-PERP"): -2_000, (10, "ETH-PERP"): 300, (11, "ETH-PERP"): -300}
SETTLED = {"BTC-PERP": SettledMark(100_000, 500), "ETH-PERP": SettledMark(2_000, 500)}
BTC_FUNDING = FundingDue("BTC-PERP", 900, 1_000_000)  # 1% of notional per interval
ETH_FUNDING = FundingDue("ETH-PERP", 900, 1_000_000)


def batch() -> Obligations:
    return compute_obligations(
        INSTRUMENTS, POSITIONS, SETTLED, {"BTC-PERP": 101_000}, [A, C, B], [BTC_FUNDING, ETH_FUNDING]
    )


def test_exact_flows_of_fees_variation_margin_funding_and_rounding() -> None:
    ob = batch()
    btc = "BTC-PERP"
    assert ob.flows == [
        # fees, ceil(|qty| × price × 10 bps / 10**3 / 10**4), both sides of each settled fill, in fill order
        CashFlow(12, btc, "fee", -51),  # 500 × 100,500 → 50.25
        CashFlow(FEE_ACCOUNT, btc, "fee", 51),
        CashFlow(10, btc, "fee", -51),
        CashFlow(FEE_ACCOUNT, btc, "fee", 51),
        CashFlow(11, btc, "fee", -26),  # 250 × 100,801 → 25.20025
        CashFlow(FEE_ACCOUNT, btc, "fee", 26),
        CashFlow(12, btc, "fee", -26),
        CashFlow(FEE_ACCOUNT, btc, "fee", 26),
        # VM at 101,000, floor(/10**3), by member: the position from 100,000, each fill from its price
        CashFlow(10, btc, "vm", 1_750),  # 2,000 × 1,000 − 500 × 500
        CashFlow(11, btc, "vm", -1_951),  # −2,000 × 1,000 + 250 × 199 = −1,950,250 → floor
        CashFlow(12, btc, "vm", 200),  # 500 × 500 − 250 × 199 = 200,250 → floor
        # funding on the positions held before the batch at the new mark: −pos × mark × 1% / 10**3
        CashFlow(10, btc, "funding", -2_020),
        CashFlow(11, btc, "funding", 2_020),
        CashFlow(FEE_ACCOUNT, None, "rounding", 1),  # the VM floors left one unit
    ]
    assert sum(f.amount for f in ob.flows) == 0


def test_a_halted_instrument_defers_its_fills_funding_and_marks() -> None:
    ob = batch()
    assert ob.settled_fills == [A, B]
    assert ob.deferred_fills == [C]
    assert ob.marks_used == {"BTC-PERP": 101_000}
    assert ob.funding_applied == [BTC_FUNDING]
    assert not [f for f in ob.flows if f.instrument == "ETH-PERP"]
    assert ob.position_changes == {
        (12, "BTC-PERP", "v1"): 500,
        (10, "BTC-PERP", "v1"): -500,
        (11, "BTC-PERP", "v2"): 250,
        (12, "BTC-PERP", "v2"): -250,
    }
    assert ob.new_positions(POSITIONS) == {
        (10, "BTC-PERP"): 1_500,
        (11, "BTC-PERP"): -1_750,
        (12, "BTC-PERP"): 250,
        (10, "ETH-PERP"): 300,  # halted: unchanged, its fill still pending
        (11, "ETH-PERP"): -300,
    }


def test_every_instrument_halted_settles_nothing() -> None:
    ob = compute_obligations(INSTRUMENTS, POSITIONS, SETTLED, {}, [A, B, C], [BTC_FUNDING])
    assert ob.flows == [] and ob.settled_fills == [] and ob.deferred_fills == [A, B, C]
    assert ob.marks_used == {} and ob.funding_applied == [] and ob.position_changes == {}


def test_first_mark_fee_free_fills_zero_amounts_and_netted_changes() -> None:
    # SOL has no settled mark yet and no fee; member 20 buys 3 and sells 3 on one venue (net change 0),
    # member 21 buys exactly at the new mark (VM 0), member 22 is flat in BTC after selling its position.
    sol = [
        fill(1, "SOL-PERP", buyer=20, seller=21, qty=3, price=40),
        fill(2, "SOL-PERP", buyer=21, seller=20, qty=3, price=50),
        fill(3, "SOL-PERP", buyer=21, seller=23, qty=2, price=45),
    ]
    close = fill(4, "BTC-PERP", buyer=23, seller=22, qty=1_000, price=100_000)
    positions = {(22, "BTC-PERP"): 1_000, (23, "BTC-PERP"): -1_000}
    ob = compute_obligations(
        INSTRUMENTS,
        positions,
        {"BTC-PERP": SettledMark(100_000, 1)},
        {"BTC-PERP": 100_000, "SOL-PERP": 45, "ETH-PERP": 2_000},  # ETH: a mark, but no one holds or trades it
        [*sol, close],
        [FundingDue("BTC-PERP", 2, 0)],  # a zero rate pays nothing, yet the interval is applied
    )
    fee = -(-1_000 * 100_000 * 10 // (10**3 * 10**4))  # 100 per side
    assert ob.flows == [
        CashFlow(23, "BTC-PERP", "fee", -fee),
        CashFlow(FEE_ACCOUNT, "BTC-PERP", "fee", fee),
        CashFlow(22, "BTC-PERP", "fee", -fee),
        CashFlow(FEE_ACCOUNT, "BTC-PERP", "fee", fee),
        # BTC: the mark did not move and the closing fill traded at it: no VM at all
        CashFlow(20, "SOL-PERP", "vm", 3 * (45 - 40) - 3 * (45 - 50)),  # 30
        CashFlow(21, "SOL-PERP", "vm", -3 * (45 - 40) + 3 * (45 - 50)),  # −30 (its buy at 45 is at the mark)
        # member 23 sold 2 at 45 == the mark: VM 0, no flow
    ]
    assert ob.marks_used == {"BTC-PERP": 100_000, "SOL-PERP": 45}
    assert ob.funding_applied == [FundingDue("BTC-PERP", 2, 0)]
    assert ob.position_changes == {
        (21, "SOL-PERP", "v1"): 2,
        (23, "SOL-PERP", "v1"): -2,
        (23, "BTC-PERP", "v1"): 1_000,
        (22, "BTC-PERP", "v1"): -1_000,
    }
    assert ob.new_positions(positions) == {(21, "SOL-PERP"): 2, (23, "SOL-PERP"): -2}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["BTC-PERP", "ETH-PERP"]),
            st.integers(10, 13),
            st.integers(10, 13),
            st.integers(1, 10_000),
            st.integers(1, 10**6),
        ),
        max_size=8,
    ),
    st.integers(1, 10**6),
    st.booleans(),
    st.integers(-(10**6), 10**6),
)
def test_zero_sum_and_halted_instruments_untouched(
    raw: list[tuple[str, int, int, int, int]], btc_mark: int, eth_halted: bool, rate: int
) -> None:
    fills = [fill(i, inst, b, s, q, p) for i, (inst, b, s, q, p) in enumerate(raw) if b != s]
    marks = {"BTC-PERP": btc_mark} if eth_halted else {"BTC-PERP": btc_mark, "ETH-PERP": 1_999}
    funding = [FundingDue("BTC-PERP", 5, rate), FundingDue("ETH-PERP", 5, rate)]
    ob = compute_obligations(INSTRUMENTS, POSITIONS, SETTLED, marks, fills, funding)
    assert sum(f.amount for f in ob.flows) == 0
    assert 0 <= sum(f.amount for f in ob.flows if f.kind == "rounding") <= len(ob.flows)
    assert [f for f in fills if f.instrument in marks] == ob.settled_fills
    assert [f for f in fills if f.instrument not in marks] == ob.deferred_fills
    assert [d.instrument for d in ob.funding_applied] == [d.instrument for d in funding if d.instrument in marks]
    if eth_halted:
        assert all(f.instrument != "ETH-PERP" for f in ob.flows)
        assert ob.new_positions(POSITIONS)[(10, "ETH-PERP")] == 300
