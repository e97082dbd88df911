"""Prices from the ledger's `marks` table: a price feeder writes observations, the engine reads the
latest one per symbol. Feeding through the ledger keeps the engine restartable and every mark it
used on record."""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import Connection, Engine, insert, select

from offchain.ledger import schema as t
from offchain.settlement.marks import Quote


class LedgerPrices:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def quote(self, symbol: str, now_ms: int) -> Quote | None:
        m = t.marks
        row = self.conn.execute(
            select(m.c.price, m.c.ts_ms)
            .where(m.c.instrument == symbol, m.c.ts_ms <= now_ms)
            .order_by(m.c.ts_ms.desc(), m.c.id.desc())
            .limit(1)
        ).first()
        return Quote(row[0], row[1]) if row else None


def record_price(conn: Connection, symbol: str, price: int, ts_ms: int, source: str) -> None:
    if price <= 0:
        raise ValueError(f"price of {symbol} must be > 0, got {price}")
    conn.execute(insert(t.marks).values(instrument=symbol, price=price, ts_ms=ts_ms, source=source))


def record_funding(conn: Connection, instrument: str, ts_ms: int, rate_e8: int) -> None:
    conn.execute(insert(t.funding_rates).values(instrument=instrument, ts_ms=ts_ms, rate_e8=rate_e8))


def publish_underlyings(db: Engine, prices: Mapping[str, float], source: str, decimals: int = 6) -> None:
    """Record each underlying's USD price (e.g. {"BTC": 20_000.0}) now, as its collateral index price and
    as the mark of its perpetual `<U>-USD-PERP`: what a devnet price feed publishes."""
    now = int(time.time() * 1000)
    with db.begin() as conn:
        for underlying, usd in prices.items():
            for symbol in (underlying, f"{underlying}-USD-PERP"):
                record_price(conn, symbol, round(usd * 10**decimals), now, source)
