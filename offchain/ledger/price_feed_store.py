"""Where the price feeder's polls go: each poll's observations (table `marks`) and an alert per source
that started failing (table `alerts`), in one transaction, so a poll is recorded entirely or not at all.
`marketdata.feeder.Feeder` takes this as its `PriceSink`, so market data does not import the ledger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from offchain.ledger.alerts import record_alert
from offchain.ledger.market import record_observation
from offchain.marketdata.observations import Observation

SOURCE_FAILED = "price_source_failed"


@dataclass(frozen=True)
class LedgerPriceSink:
    db: Engine

    def record(self, now_ms: int, observations: Sequence[Observation], new_failures: Mapping[str, str]) -> None:
        with self.db.begin() as conn:
            for obs in observations:
                record_observation(conn, obs)
            for source, detail in new_failures.items():
                record_alert(conn, now_ms, SOURCE_FAILED, source, detail)
