"""Prices the API publishes: each name's index now (the one latest-price rule over the `marks` table) and
the marks settled by the last confirmed batch (`settled_marks`)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, select

from offchain.ledger import prices as ledger_prices
from offchain.ledger import schema as t
from offchain.marketdata.index import IndexResult


def latest_indices(conn: Connection, now_ms: int, stale_ms: Mapping[str, int]) -> dict[str, IndexResult]:
    """Every name's price now under the one latest-price rule (offchain/ledger/prices.py `latest_indices`,
    the engine's default index rule): what ingest's price band is centred on."""
    return ledger_prices.latest_indices(conn, now_ms, stale_ms)


def settled_mark_prices(conn: Connection) -> dict[str, int]:
    """instrument -> the mark price its last settled batch used."""
    m = t.settled_marks.c
    return {r.instrument: int(r.price) for r in conn.execute(select(m.instrument, m.price))}
