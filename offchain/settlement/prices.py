"""Prices from the ledger: a feeder records observations of several sources per symbol (the `marks`
table), the engine reads each symbol's index over them (offchain/marketdata/index.py). Feeding through
the ledger keeps the engine restartable and every observation it used on record."""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import Connection, Engine, insert

from offchain.ledger import schema as t
from offchain.ledger.market import latest_per_source, record_observation
from offchain.marketdata.index import IndexResult, IndexRule, compute_index
from offchain.marketdata.observations import Observation
from offchain.settlement.marks import Quote


class LedgerPrices:
    """The index of every symbol over the ledger's observations, under one rule (cached per call)."""

    def __init__(self, conn: Connection, rule: IndexRule | None = None) -> None:
        self.conn = conn
        self.rule = rule or IndexRule()
        self._cache: dict[tuple[str, int, int | None], IndexResult] = {}

    def index(self, symbol: str, now_ms: int, stale_ms: int | None = None) -> IndexResult:
        key = (symbol, now_ms, stale_ms)
        if key not in self._cache:
            latest = latest_per_source(self.conn, symbol, now_ms - self.rule.source_window_ms, now_ms)
            self._cache[key] = compute_index(symbol, latest, now_ms, self.rule, stale_ms)
        return self._cache[key]

    def quote(self, symbol: str, now_ms: int, stale_ms: int | None = None) -> Quote | None:
        idx = self.index(symbol, now_ms, stale_ms)
        return None if idx.price is None or idx.ts_ms is None else Quote(idx.price, idx.ts_ms)


def record_price(conn: Connection, symbol: str, price: int, ts_ms: int, source: str) -> None:
    """Record one unsigned observation (raises MarketInputError on a non-positive price)."""
    record_observation(conn, Observation(symbol, source, price, ts_ms))


def record_funding(conn: Connection, instrument: str, ts_ms: int, rate_e8: int) -> None:
    conn.execute(insert(t.funding_rates).values(instrument=instrument, ts_ms=ts_ms, rate_e8=rate_e8))


def publish_underlyings(
    db: Engine, prices: Mapping[str, float], source: str, decimals: int = 6, now_ms: int | None = None
) -> None:
    """Record each underlying's USD price (e.g. {"BTC": 20_000.0}) at `now_ms` (default: the wall clock),
    as its collateral index price and as the mark of its perpetual `<U>-USD-PERP`: what a devnet price
    feed publishes."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    with db.begin() as conn:
        for underlying, usd in prices.items():
            for symbol in (underlying, f"{underlying}-USD-PERP"):
                record_price(conn, symbol, round(usd * 10**decimals), now, source)
