"""Prices the API publishes: the latest observation per name in `marks` and the marks settled by the
last confirmed batch (`settled_marks`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class LatestPrice:
    name: str
    price: int
    ts_ms: int
    source: str


def latest_observed_prices(conn: Connection) -> list[LatestPrice]:
    """The latest observation per name in `marks` (cleared instruments' marks and underlyings' index
    prices), ties on ts broken by the later-recorded row, sorted by name: what ingest's price band
    checks against. No staleness bound: the caller judges age (the API shows it as `stale`)."""
    m = t.marks.c
    newest = select(m.instrument, func.max(m.ts_ms).label("ts")).group_by(m.instrument).subquery()
    rows = conn.execute(
        select(m.instrument, m.price, m.ts_ms, m.source)
        .join(newest, (m.instrument == newest.c.instrument) & (m.ts_ms == newest.c.ts))
        .order_by(m.id)
    ).all()
    out = {r.instrument: LatestPrice(r.instrument, int(r.price), int(r.ts_ms), r.source) for r in rows}
    return [out[k] for k in sorted(out)]


def settled_mark_prices(conn: Connection) -> dict[str, int]:
    """instrument -> the mark price its last settled batch used."""
    m = t.settled_marks.c
    return {r.instrument: int(r.price) for r in conn.execute(select(m.instrument, m.price))}
