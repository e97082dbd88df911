"""Snapshots of the ledger that one batch is computed from (read in the batch's own transaction)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from offchain.core.obligations import InstrumentSpec, PendingFill, SettledMark
from offchain.ledger import schema as t

__all__ = [
    "InstrumentSpec",
    "PendingFill",
    "SettledMark",
    "load_instruments",
    "load_pending_fills",
    "load_positions",
    "load_settled_marks",
]


def load_instruments(conn: Connection) -> dict[str, InstrumentSpec]:
    rows = conn.execute(select(t.instruments)).mappings()
    return {r["name"]: InstrumentSpec(**dict(r)) for r in rows}


def load_positions(conn: Connection) -> dict[tuple[int, str], int]:
    """Settled net positions per (member account, instrument), summed across venues."""
    out: dict[tuple[int, str], int] = {}
    for member, instrument, qty in conn.execute(
        select(t.positions.c.member, t.positions.c.instrument, t.positions.c.qty)
    ):
        out[(member, instrument)] = out.get((member, instrument), 0) + qty
    return {k: v for k, v in out.items() if v != 0}


def load_settled_marks(conn: Connection) -> dict[str, SettledMark]:
    rows = conn.execute(select(t.settled_marks.c.instrument, t.settled_marks.c.price, t.settled_marks.c.ts_ms))
    return {name: SettledMark(price, ts) for name, price, ts in rows}


def load_pending_fills(conn: Connection, limit: int) -> list[PendingFill]:
    """Acknowledged fills no batch has taken yet, in ingest order."""
    f = t.fills
    rows = conn.execute(
        select(
            f.c.id,
            f.c.venue,
            f.c.venue_fill_id,
            f.c.symbol,
            f.c.instrument,
            f.c.buyer,
            f.c.seller,
            f.c.buyer_address,
            f.c.seller_address,
            f.c.qty,
            f.c.price,
            f.c.ts_ms,
            f.c.leaf,
        )
        .where(f.c.batch_sequence.is_(None))
        .order_by(f.c.id)
        .limit(limit)
    ).mappings()
    return [PendingFill(**dict(r)) for r in rows]


def load_member_accounts(conn: Connection) -> dict[int, str]:
    """Every member's account number and address."""
    return {a: addr for a, addr in conn.execute(select(t.members.c.account, t.members.c.address))}
