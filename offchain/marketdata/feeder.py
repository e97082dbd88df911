"""The price feeder: poll every adapter, record its observations in the ledger.

An adapter that fails (bad input: :class:`MarketInputError`; a network or RPC error) loses only its own
observations of that poll, with an alert per source and reason; the others are recorded. The feeder hands
each poll to a :class:`PriceSink` (the ledger's is `offchain.ledger.price_feed_store.LedgerPriceSink`, one
transaction per poll, so a poll is recorded entirely or not at all).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from offchain.marketdata.observations import MarketInputError, Observation
from offchain.marketdata.sources import PriceAdapter

log = logging.getLogger("crossclear.feed")


class PriceSink(Protocol):
    def record(self, now_ms: int, observations: Sequence[Observation], new_failures: Mapping[str, str]) -> None:
        """Store one poll atomically: its observations and an alert per source in `new_failures`
        (source -> reason) that was not failing for that reason at the previous poll."""


@dataclass
class Feeder:
    sink: PriceSink
    adapters: Sequence[PriceAdapter]
    _failing: dict[str, str] = field(default_factory=dict)

    def step(self, now_ms: int) -> list[Observation]:
        """One poll of every adapter at ``now_ms``; returns what was recorded."""
        recorded: list[Observation] = []
        failures: dict[str, str] = {}
        for adapter in self.adapters:
            try:
                recorded += adapter.poll(now_ms)
            except MarketInputError as exc:
                failures[adapter.name] = str(exc)
            except (OSError, ConnectionError, TimeoutError) as exc:  # an unreachable endpoint or RPC
                failures[adapter.name] = f"unreachable: {exc}"
        new = {name: detail for name, detail in failures.items() if self._failing.get(name) != detail}
        self.sink.record(now_ms, recorded, new)  # one alert per outage and reason
        for name, detail in new.items():
            log.warning("price source failed", extra={"source": name, "detail": detail})
        self._failing = failures
        return recorded
