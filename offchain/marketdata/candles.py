"""Candles built from observations: OHLC of one (symbol, source) over one interval.

Only closed intervals become candles (``open_ms + interval_ms <= upto_ms``), so a candle never changes
once written. The calibration reads a symbol's daily close as the index rule applied across sources'
daily closes (:func:`index_closes`): one source's bad day is rejected exactly as a bad print is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from offchain.marketdata.index import IndexRule, median
from offchain.marketdata.observations import MarketInputError, Observation

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
INTERVALS = (HOUR_MS, DAY_MS)


@dataclass(frozen=True)
class Candle:
    symbol: str
    source: str
    interval_ms: int
    open_ms: int  # interval start (UTC, a multiple of interval_ms)
    open: int
    high: int
    low: int
    close: int
    count: int  # observations aggregated

    def __post_init__(self) -> None:
        if self.interval_ms not in INTERVALS:
            raise MarketInputError("bad_interval", f"interval must be one of {INTERVALS}, got {self.interval_ms}")
        if self.open_ms % self.interval_ms:
            raise MarketInputError("bad_candle", f"{self.symbol}: open_ms {self.open_ms} not on the interval grid")
        if min(self.open, self.high, self.low, self.close) <= 0:
            raise MarketInputError("non_positive_price", f"{self.symbol} {self.source}: OHLC must be > 0")
        if not (self.low <= min(self.open, self.close) and self.high >= max(self.open, self.close)):
            raise MarketInputError(
                "ohlc_inconsistent", f"{self.symbol} {self.source} at {self.open_ms}: low/high do not bound open/close"
            )
        if self.count < 1:
            raise MarketInputError("bad_candle", "a candle aggregates at least one observation")


def build_candles(observations: Iterable[Observation], interval_ms: int, upto_ms: int) -> list[Candle]:
    """Candles of every (symbol, source) and closed interval in ``observations`` (any order)."""
    if interval_ms not in INTERVALS:
        raise MarketInputError("bad_interval", f"interval must be one of {INTERVALS}, got {interval_ms}")
    groups: dict[tuple[str, str, int], list[Observation]] = {}
    for o in observations:
        start = o.ts_ms - o.ts_ms % interval_ms
        if start + interval_ms <= upto_ms:
            groups.setdefault((o.symbol, o.source, start), []).append(o)
    out = []
    for (symbol, source, start), obs in sorted(groups.items()):
        obs.sort(key=lambda o: o.ts_ms)
        prices = [o.price for o in obs]
        out.append(
            Candle(symbol, source, interval_ms, start, prices[0], max(prices), min(prices), prices[-1], len(obs))
        )
    return out


@dataclass(frozen=True)
class IndexClose:
    """A symbol's close over one interval by the index rule, and how many sources it rests on."""

    symbol: str
    open_ms: int
    close: int
    sources: int


def index_closes(candles: Sequence[Candle], rule: IndexRule) -> tuple[list[IndexClose], list[str]]:
    """Per (symbol, interval) the median of its sources' closes after outlier rejection.

    The quorum is a strict majority of the sources that ever reported the symbol in ``candles`` (at least
    ``rule.min_sources``). An interval without it has no close (a gap, reported in the notes; never filled
    from another series).
    """
    sources: dict[str, set[str]] = {}
    by_key: dict[tuple[str, int], list[Candle]] = {}
    for c in candles:
        sources.setdefault(c.symbol, set()).add(c.source)
        by_key.setdefault((c.symbol, c.open_ms), []).append(c)
    out: list[IndexClose] = []
    notes: list[str] = []
    for (symbol, start), group in sorted(by_key.items()):
        quorum = max(rule.min_sources, len(sources[symbol]) // 2 + 1)
        mid = median([c.close for c in group])
        agree = [c.close for c in group if abs(c.close - mid) * 10_000 <= rule.outlier_bps * mid]
        if len(agree) < quorum:
            notes.append(
                f"{symbol} interval {start}: {len(agree)} of {len(group)} sources agree (quorum {quorum}): no close"
            )
            continue
        out.append(IndexClose(symbol, start, median(agree), len(agree)))
    return out, notes
