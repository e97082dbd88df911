"""The index: median of fresh sources after outlier rejection, a strict-majority quorum, clear halts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.marketdata.candles import DAY_MS, Candle, build_candles, index_closes
from offchain.marketdata.index import IndexHalt, IndexRule, compute_index, median
from offchain.marketdata.observations import MarketInputError, Observation

NOW = 1_700_000_000_000
RULE = IndexRule(stale_ms=60_000, outlier_bps=200)


def obs(source: str, price: int, age_ms: int = 0, symbol: str = "BTC") -> Observation:
    return Observation(symbol, source, price, NOW - age_ms)


def test_a_source_printing_a_thousandth_of_the_price_is_rejected() -> None:
    idx = compute_index("BTC", [obs("a", 20_000_000_000), obs("b", 20_010_000_000), obs("c", 20_000_000)], NOW, RULE)
    assert idx.halt is None
    assert idx.price == 20_005_000_000
    assert [o.source for o in idx.used] == ["a", "b"]
    assert [o.source for o in idx.rejected] == ["c"]


def test_two_sources_disagreeing_halt() -> None:
    idx = compute_index("BTC", [obs("a", 20_000), obs("b", 15_000), obs("c", 20_000, age_ms=120_000)], NOW, RULE)
    assert idx.price is None and idx.halt is IndexHalt.DISAGREE
    assert "quorum 2 of 3 known" in idx.detail
    assert [o.source for o in idx.stale] == ["c"]


def test_one_fresh_source_of_three_is_below_the_quorum() -> None:
    idx = compute_index("BTC", [obs("a", 20_000), obs("b", 20_000, 90_000), obs("c", 20_000, 90_000)], NOW, RULE)
    assert idx.halt is IndexHalt.QUORUM and idx.price is None


def test_all_stale_and_none_known() -> None:
    assert compute_index("BTC", [obs("a", 1, age_ms=61_000)], NOW, RULE).halt is IndexHalt.STALE
    assert compute_index("BTC", [], NOW, RULE).halt is IndexHalt.MISSING
    # A source silent for longer than the window no longer counts towards the quorum.
    idx = compute_index("BTC", [obs("a", 100), obs("b", 100, age_ms=RULE.source_window_ms + 1)], NOW, RULE)
    assert idx.price == 100


def test_min_sources_is_a_floor_of_the_quorum() -> None:
    rule = IndexRule(stale_ms=60_000, outlier_bps=200, min_sources=2)
    assert compute_index("BTC", [obs("a", 100)], NOW, rule).halt is IndexHalt.QUORUM
    assert compute_index("BTC", [obs("a", 100), obs("b", 101)], NOW, rule).price == 100


def test_index_is_no_fresher_than_its_oldest_input_and_ignores_future_prints() -> None:
    idx = compute_index(
        "BTC", [obs("a", 100, age_ms=5_000), obs("b", 100, age_ms=1_000), obs("c", 100, -10)], NOW, RULE
    )
    assert idx.ts_ms == NOW - 5_000
    assert [o.source for o in idx.stale] == ["c"]


def test_bad_inputs_have_clear_errors() -> None:
    with pytest.raises(MarketInputError, match="non_positive_price"):
        Observation("BTC", "a", 0, NOW)
    with pytest.raises(MarketInputError, match="non_positive_price"):
        Observation("BTC", "a", -5, NOW)
    with pytest.raises(MarketInputError, match="bad_timestamp"):
        Observation("BTC", "a", 5, -1)
    with pytest.raises(MarketInputError, match="bad_source"):
        Observation("BTC", "", 5, 0)
    with pytest.raises(MarketInputError, match="duplicate_source"):
        compute_index("BTC", [obs("a", 1), obs("a", 2)], NOW, RULE)
    with pytest.raises(MarketInputError, match="bad_index_rule"):
        IndexRule(outlier_bps=0)
    with pytest.raises(MarketInputError, match="ohlc_inconsistent"):
        Candle("BTC", "a", DAY_MS, 0, 100, 99, 90, 95, 1)


@given(
    honest=st.lists(st.integers(10_000, 10_100), min_size=1, max_size=6),
    liars=st.lists(st.integers(1, 10**9), min_size=0, max_size=5),
)
def test_a_minority_of_sources_never_moves_the_index_outside_the_honest_range(
    honest: list[int], liars: list[int]
) -> None:
    """Whatever a strict minority prints, the honest sources (within 1 % of each other) set the index:
    it never halts, and it stays within the outlier band of the honest range."""
    liars = liars[: len(honest) - 1]
    sources = [obs(f"h{k}", p) for k, p in enumerate(honest)] + [obs(f"l{k}", p) for k, p in enumerate(liars)]
    idx = compute_index("BTC", sources, NOW, RULE)
    assert idx.price is not None
    assert min(honest) * 0.98 <= idx.price <= max(honest) * 1.02
    assert {o.source for o in idx.used} >= {f"h{k}" for k in range(len(honest))}


@given(st.lists(st.integers(1, 10**12), min_size=1, max_size=9))
def test_median_is_between_min_and_max(values: list[int]) -> None:
    assert min(values) <= median(values) <= max(values)


def test_candles_and_the_daily_index_close() -> None:
    day = 19_000 * DAY_MS
    stream = [
        Observation("ETH", s, p, day + k * 3_600_000) for k in range(24) for s, p in (("a", 100 + k), ("b", 101 + k))
    ]
    stream += [Observation("ETH", "c", 1, day + k * 3_600_000) for k in range(24)]  # a broken source
    stream.append(Observation("ETH", "a", 500, day + DAY_MS + 1))  # next day: not closed, no candle
    candles = build_candles(stream, DAY_MS, day + DAY_MS + 10)
    assert [(c.source, c.open, c.high, c.low, c.close, c.count) for c in candles] == [
        ("a", 100, 123, 100, 123, 24),
        ("b", 101, 124, 101, 124, 24),
        ("c", 1, 1, 1, 1, 24),
    ]
    closes, notes = index_closes(candles, RULE)
    assert [(c.close, c.sources) for c in closes] == [(123, 2)] and notes == []
    # Two sources of three disagreeing: no close that day, and a note saying so.
    closes, notes = index_closes(
        [candles[0], candles[2], Candle("ETH", "b", DAY_MS, day - DAY_MS, 9, 9, 9, 9, 1)], RULE
    )
    assert closes == [] and "no close" in notes[0]
