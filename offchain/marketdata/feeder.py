"""The price feeder: poll every adapter, record its observations in the ledger.

An adapter that fails (bad input: :class:`MarketInputError`; a network or RPC error) loses only its own
observations of that poll, with an alert per source and reason; the others are recorded. One transaction
per poll, so a poll is recorded entirely or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from offchain.ledger.alerts_store import record_alert
from offchain.ledger.handles import Engine
from offchain.ledger.market import record_observation
from offchain.marketdata.observations import MarketInputError, Observation
from offchain.marketdata.sources import PriceAdapter

log = logging.getLogger("crossclear.feed")


@dataclass
class Feeder:
    db: Engine
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
        with self.db.begin() as conn:
            for obs in recorded:
                record_observation(conn, obs)
            for name, detail in failures.items():
                if self._failing.get(name) != detail:  # one alert per outage and reason
                    record_alert(conn, now_ms, "price_source_failed", name, detail)
                    log.warning("price source failed", extra={"source": name, "detail": detail})
        self._failing = failures
        return recorded
