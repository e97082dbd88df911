"""The index of a symbol: the median of its fresh sources after outlier rejection, or a halt.

Rule (docs/risk.md, "Market data and the index"), for one symbol at time ``now``:

1. *Known* sources: those with an observation in the last ``source_window_ms`` (their latest one each).
2. *Fresh*: known sources whose latest observation is at most ``stale_ms`` old (and not in the future).
3. The *quorum* is ``max(min_sources, known // 2 + 1)``: a strict majority of the known sources, so no
   single source (nor any minority) can set the index on its own once a symbol has three sources.
4. Outlier rejection: a fresh source further than ``outlier_bps`` from the median of the fresh sources
   is dropped. If fewer than the quorum remain, the symbol halts; the index is the median of the rest.

A source printing 0.1 % of the price is rejected for as long as it does so (two others agree with each
other); two fresh sources more than ``2 * outlier_bps`` apart reject each other and the symbol halts with
``DISAGREE``. Integer medians round down (an even count averages the middle two).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from offchain.marketdata.observations import MarketInputError, Observation


class IndexHalt(enum.StrEnum):
    MISSING = "missing"  # no source has reported the symbol within the window
    STALE = "stale"  # sources are known, none is fresh
    QUORUM = "quorum"  # fresh sources agree, but fewer than the quorum are fresh
    DISAGREE = "disagree"  # enough fresh sources, but fewer than the quorum agree


@dataclass(frozen=True)
class IndexRule:
    """Governed parameters of the index (one rule for marks and collateral prices)."""

    stale_ms: int = 120_000
    outlier_bps: int = 200
    min_sources: int = 1
    source_window_ms: int = 86_400_000

    def __post_init__(self) -> None:
        if self.stale_ms <= 0 or self.source_window_ms < self.stale_ms:
            raise MarketInputError("bad_index_rule", "need 0 < stale_ms <= source_window_ms")
        if not 0 < self.outlier_bps < 10_000:
            raise MarketInputError("bad_index_rule", "outlier_bps must be in (0, 10000)")
        if self.min_sources < 1:
            raise MarketInputError("bad_index_rule", "min_sources must be >= 1")


@dataclass(frozen=True)
class IndexResult:
    """The index of ``symbol`` (``price``/``ts_ms`` None when halted) and its evidence.

    ``ts_ms`` is the oldest observation used (the index is no fresher than its oldest input).
    ``used``: the observations the median was taken over; ``rejected``: fresh outliers;
    ``stale``: known sources too old to count.
    """

    symbol: str
    price: int | None
    ts_ms: int | None
    used: tuple[Observation, ...] = ()
    rejected: tuple[Observation, ...] = ()
    stale: tuple[Observation, ...] = ()
    halt: IndexHalt | None = None
    detail: str = ""

    def evidence(self) -> dict[str, object]:
        return {
            "index": None if self.price is None else str(self.price),
            "halt": None if self.halt is None else self.halt.value,
            "used": [o.evidence() for o in self.used],
            "rejected": [o.evidence() for o in self.rejected],
            "stale": [o.evidence() for o in self.stale],
        }


def median(values: Sequence[int]) -> int:
    """Integer median (rounded down for an even count)."""
    if not values:
        raise MarketInputError("empty_median", "median of nothing")
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) // 2


def _within(price: int, ref: int, bps: int) -> bool:
    return abs(price - ref) * 10_000 <= bps * ref


def compute_index(
    symbol: str, latest: Sequence[Observation], now_ms: int, rule: IndexRule, stale_ms: int | None = None
) -> IndexResult:
    """The index from each known source's latest observation (``latest``: at most one per source).

    ``stale_ms`` overrides the rule's freshness limit (an instrument's own ``mark_stale_ms``).
    """
    limit = rule.stale_ms if stale_ms is None else stale_ms
    known = [o for o in latest if o.symbol == symbol and now_ms - o.ts_ms <= rule.source_window_ms]
    if len({o.source for o in known}) != len(known):
        raise MarketInputError("duplicate_source", f"{symbol}: more than one latest observation per source")
    if not known:
        return IndexResult(symbol, None, None, halt=IndexHalt.MISSING, detail=f"{symbol}: no source")
    fresh = [o for o in known if 0 <= now_ms - o.ts_ms <= limit]
    stale = tuple(o for o in known if o not in fresh)
    quorum = max(rule.min_sources, len(known) // 2 + 1)
    if not fresh:
        ages = ", ".join(f"{o.source} {now_ms - o.ts_ms} ms" for o in known)
        return IndexResult(
            symbol, None, None, stale=stale, halt=IndexHalt.STALE, detail=f"{symbol}: stale ({ages}; limit {limit})"
        )
    mid = median([o.price for o in fresh])
    agree = tuple(sorted((o for o in fresh if _within(o.price, mid, rule.outlier_bps)), key=lambda o: o.source))
    rejected = tuple(sorted((o for o in fresh if o not in agree), key=lambda o: o.source))
    if len(agree) < quorum:
        kind = IndexHalt.DISAGREE if len(fresh) >= quorum else IndexHalt.QUORUM
        said = ", ".join(f"{o.source}={o.price}" for o in sorted(fresh, key=lambda o: o.source))
        detail = (
            f"{symbol}: {len(agree)} of {len(fresh)} fresh sources agree within {rule.outlier_bps} bps ({said}); "
            f"quorum {quorum} of {len(known)} known"
        )
        return IndexResult(symbol, None, None, agree, rejected, stale, kind, detail)
    return IndexResult(symbol, median([o.price for o in agree]), min(o.ts_ms for o in agree), agree, rejected, stale)
