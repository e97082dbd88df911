"""The alerts table: one row per thing an operator must look at (a halt, a refused batch, a stale price)."""

from __future__ import annotations

from sqlalchemy import Connection, insert

from offchain.ledger import schema as t

DETAIL_CHARS = 512  # the column's width: longer details are cut, never refused


def record_alert(conn: Connection, ts_ms: int, kind: str, subject: str, detail: str) -> None:
    conn.execute(insert(t.alerts).values(ts_ms=ts_ms, kind=kind, subject=subject, detail=detail[:DETAIL_CHARS]))
