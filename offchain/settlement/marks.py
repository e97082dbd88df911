"""Marks and collateral prices: the index (offchain/marketdata/index.py), then one band and staleness guard.

Every price the engine uses, an instrument's mark or a collateral underlying's price, is first the index
of its sources (median of the fresh ones after outlier rejection; too few fresh or agreeing sources is a
halt), then passes this guard against the last value settled or posted: an index older than the limit
halts, and one that jumps more than the band from the last value halts too, until ``confirmations``
consecutive readings agree with each other within the band (a crash in the market is settled a few
seconds late rather than never; one bad reading never is). A halted instrument's fills wait and its
positions keep their last settled mark; a halted collateral price keeps the last value posted to the
vault for margin (never the fresh bad one). Each halt raises an alert.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from offchain.core.obligations import InstrumentSpec, SettledMark
from offchain.marketdata.index import IndexHalt, IndexResult


class PriceSource(Protocol):
    """The index of cleared instruments (marks) and of collateral underlyings (e.g. "ETH")."""

    def index(self, symbol: str, now_ms: int, stale_ms: int | None = None) -> IndexResult: ...


class Halt(enum.StrEnum):
    MISSING = "mark_missing"
    STALE = "mark_stale"
    JUMP = "mark_jump"
    SOURCES = "mark_sources"  # fewer fresh sources than the quorum
    DISAGREE = "mark_disagreement"  # enough fresh sources, too few of them agree


_FROM_INDEX = {
    IndexHalt.MISSING: Halt.MISSING,
    IndexHalt.STALE: Halt.STALE,
    IndexHalt.QUORUM: Halt.SOURCES,
    IndexHalt.DISAGREE: Halt.DISAGREE,
}


@dataclass(frozen=True)
class GuardLimits:
    """Staleness limit and jump band of one price (an instrument's come from its registry row)."""

    stale_ms: int = 120_000
    max_jump_bps: int = 2_500

    def __post_init__(self) -> None:
        if self.stale_ms <= 0 or not 0 < self.max_jump_bps <= 10_000:
            raise ValueError("need stale_ms > 0 and max_jump_bps in (0, 10000]")

    @classmethod
    def of(cls, spec: InstrumentSpec) -> GuardLimits:
        return cls(spec.mark_stale_ms, spec.max_mark_jump_bps)


@dataclass(frozen=True)
class MarkDecision:
    mark: int | None
    halt: Halt | None = None
    detail: str = ""
    index: IndexResult | None = None  # the evidence: the observations used, rejected and stale


def _moved_bps(a: int, b: int) -> int:
    return abs(a - b) * 10_000 // max(b, 1)


@dataclass
class MarkGuard:
    confirmations: int = 3
    _pending_jump: dict[str, list[int]] = field(default_factory=dict)

    def check(self, key: str, limits: GuardLimits, idx: IndexResult, last: int | None, now_ms: int) -> MarkDecision:
        """The guarded price of ``key`` from its index ``idx`` and the last value settled (None: none yet)."""
        if idx.price is None or idx.ts_ms is None:
            halt = _FROM_INDEX[idx.halt or IndexHalt.MISSING]
            return MarkDecision(None, halt, idx.detail or f"{key}: no index", idx)
        age = now_ms - idx.ts_ms
        if age > limits.stale_ms:
            return MarkDecision(None, Halt.STALE, f"{key}: index is {age} ms old (limit {limits.stale_ms})", idx)
        price = idx.price
        if last is None or _moved_bps(price, last) <= limits.max_jump_bps:
            self._pending_jump.pop(key, None)
            return MarkDecision(price, index=idx)
        seen = self._pending_jump.setdefault(key, [])
        if seen and _moved_bps(price, seen[-1]) > limits.max_jump_bps:
            seen.clear()  # readings disagree with each other: start counting again
        seen.append(price)
        if len(seen) >= self.confirmations:
            self._pending_jump.pop(key, None)
            return MarkDecision(price, index=idx)
        moved = _moved_bps(price, last)
        return MarkDecision(
            None,
            Halt.JUMP,
            f"{key}: index {price} moved {moved} bps from {last} "
            f"(limit {limits.max_jump_bps}); {len(seen)}/{self.confirmations} confirmations",
            idx,
        )

    def decide(self, spec: InstrumentSpec, idx: IndexResult, last: SettledMark | None, now_ms: int) -> MarkDecision:
        return self.check(spec.name, GuardLimits.of(spec), idx, None if last is None else last.price, now_ms)

    def decide_all(
        self,
        instruments: Mapping[str, InstrumentSpec],
        source: PriceSource,
        settled: Mapping[str, SettledMark],
        now_ms: int,
    ) -> dict[str, MarkDecision]:
        return {
            name: self.decide(spec, source.index(name, now_ms, spec.mark_stale_ms), settled.get(name), now_ms)
            for name, spec in sorted(instruments.items())
            if spec.active
        }
