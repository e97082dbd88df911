"""Marks: where prices come from, and the guard that keeps nonsense from being settled.

A mark older than the instrument's `mark_stale_ms`, or one that jumps more than `max_mark_jump_bps`
from the last settled mark, halts that instrument: its fills wait, its positions are not re-marked,
and an alert is raised. A genuine jump is accepted once it persists for `confirmations` consecutive
readings that agree with each other within the jump band, so a crash in the market is settled a few
seconds late rather than never, while one bad print is never settled at all.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from offchain.settlement.state import InstrumentSpec, SettledMark


@dataclass(frozen=True)
class Quote:
    price: int  # settlement base units per whole unit
    ts_ms: int


class PriceSource(Protocol):
    """Latest prices for cleared instruments (marks) and for collateral underlyings (e.g. "ETH")."""

    def quote(self, symbol: str, now_ms: int) -> Quote | None: ...


class Halt(enum.StrEnum):
    MISSING = "mark_missing"
    STALE = "mark_stale"
    JUMP = "mark_jump"


@dataclass(frozen=True)
class MarkDecision:
    mark: int | None
    halt: Halt | None = None
    detail: str = ""


def _moved_bps(a: int, b: int) -> int:
    return abs(a - b) * 10_000 // max(b, 1)


@dataclass
class MarkGuard:
    confirmations: int = 3
    _pending_jump: dict[str, list[int]] = field(default_factory=dict)

    def decide(self, spec: InstrumentSpec, quote: Quote | None, last: SettledMark | None, now_ms: int) -> MarkDecision:
        if quote is None:
            return MarkDecision(None, Halt.MISSING, f"{spec.name}: no mark")
        age = now_ms - quote.ts_ms
        if age > spec.mark_stale_ms:
            return MarkDecision(None, Halt.STALE, f"{spec.name}: mark is {age} ms old (limit {spec.mark_stale_ms})")
        if last is None or _moved_bps(quote.price, last.price) <= spec.max_mark_jump_bps:
            self._pending_jump.pop(spec.name, None)
            return MarkDecision(quote.price)
        seen = self._pending_jump.setdefault(spec.name, [])
        if seen and _moved_bps(quote.price, seen[-1]) > spec.max_mark_jump_bps:
            seen.clear()  # readings disagree with each other: start counting again
        seen.append(quote.price)
        if len(seen) >= self.confirmations:
            self._pending_jump.pop(spec.name, None)
            return MarkDecision(quote.price)
        moved = _moved_bps(quote.price, last.price)
        return MarkDecision(
            None,
            Halt.JUMP,
            f"{spec.name}: mark {quote.price} moved {moved} bps from {last.price} "
            f"(limit {spec.max_mark_jump_bps}); {len(seen)}/{self.confirmations} confirmations",
        )

    def decide_all(
        self,
        instruments: Mapping[str, InstrumentSpec],
        source: PriceSource,
        settled: Mapping[str, SettledMark],
        now_ms: int,
    ) -> dict[str, MarkDecision]:
        return {
            name: self.decide(spec, source.quote(name, now_ms), settled.get(name), now_ms)
            for name, spec in sorted(instruments.items())
            if spec.active
        }
