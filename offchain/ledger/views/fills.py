"""Stored fills as the API publishes them (pages, one fill, a batch's Merkle leaves, push events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, func, or_, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class FillRow:
    id: int
    venue: str
    venue_fill_id: str
    symbol: str
    instrument: str
    buyer: int
    seller: int
    buyer_address: str
    seller_address: str
    qty: int
    price: int
    ts_ms: int
    signature: bytes
    leaf: bytes
    received_ms: int
    batch_sequence: int | None


def _fill(r: Any) -> FillRow:
    return FillRow(
        int(r.id),
        r.venue,
        r.venue_fill_id,
        r.symbol,
        r.instrument,
        int(r.buyer),
        int(r.seller),
        r.buyer_address,
        r.seller_address,
        int(r.qty),
        int(r.price),
        int(r.ts_ms),
        bytes(r.signature),
        bytes(r.leaf),
        int(r.received_ms),
        None if r.batch_sequence is None else int(r.batch_sequence),
    )


def fills_page(
    conn: Connection,
    cursor: int,
    limit: int,
    *,
    venue: str | None = None,
    batch_sequence: int | None = None,
    batched: Literal["pending", "included"] | None = None,
) -> list[FillRow]:
    """Fills after id `cursor`, in ingest order; of `venue`, of batch `batch_sequence`, and only those
    without a batch yet ("pending") or with one ("included") when given."""
    f = t.fills.c
    q = select(t.fills).where(f.id > cursor)
    if venue is not None:
        q = q.where(f.venue == venue)
    if batch_sequence is not None:
        q = q.where(f.batch_sequence == batch_sequence)
    if batched == "pending":
        q = q.where(f.batch_sequence.is_(None))
    elif batched == "included":
        q = q.where(f.batch_sequence.is_not(None))
    return [_fill(r) for r in conn.execute(q.order_by(f.id).limit(limit))]


def fill_by_venue_id(conn: Connection, venue: str, venue_fill_id: str) -> FillRow | None:
    f = t.fills.c
    row = conn.execute(select(t.fills).where(f.venue == venue, f.venue_fill_id == venue_fill_id)).first()
    return None if row is None else _fill(row)


def batch_leaves(conn: Connection, sequence: int) -> list[bytes]:
    """The Merkle leaves of the fills batch `sequence` settles (the tree sorts them itself)."""
    f = t.fills.c
    return [bytes(leaf) for leaf in conn.execute(select(f.leaf).where(f.batch_sequence == sequence)).scalars()]


def last_fill_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(t.fills.c.id))).scalar_one_or_none() or 0)


def member_fills_since(conn: Connection, account: int, after_id: int, limit: int) -> list[FillRow]:
    """Fills where `account` is buyer or seller, after id `after_id`, oldest first."""
    f = t.fills.c
    q = select(t.fills).where(f.id > after_id, or_(f.buyer == account, f.seller == account))
    return [_fill(r) for r in conn.execute(q.order_by(f.id).limit(limit))]


def venue_fills_since(conn: Connection, venue: str, after_id: int, limit: int) -> list[FillRow]:
    f = t.fills.c
    q = select(t.fills).where(f.venue == venue, f.id > after_id)
    return [_fill(r) for r in conn.execute(q.order_by(f.id).limit(limit))]


def venue_fill_count_in(conn: Connection, venue: str, sequence: int) -> int:
    f = t.fills.c
    return int(conn.execute(select(func.count()).where(f.batch_sequence == sequence, f.venue == venue)).scalar_one())


@dataclass(frozen=True)
class FillSettlement:
    """What reconciliation needs of a fill: its batch, its leaf and the position change it makes."""

    id: int
    batch_sequence: int | None
    leaf: bytes
    buyer: int
    seller: int
    instrument: str
    venue: str
    qty: int


def fill_settlements(conn: Connection) -> list[FillSettlement]:
    """Every stored fill (in no particular order)."""
    f = t.fills.c
    return [
        FillSettlement(
            int(r.id),
            None if r.batch_sequence is None else int(r.batch_sequence),
            bytes(r.leaf),
            int(r.buyer),
            int(r.seller),
            r.instrument,
            r.venue,
            int(r.qty),
        )
        for r in conn.execute(select(f.id, f.batch_sequence, f.leaf, f.buyer, f.seller, f.instrument, f.venue, f.qty))
    ]


def has_pending(conn: Connection) -> bool:
    """Whether any stored fill awaits a batch."""
    f = t.fills.c
    return conn.execute(select(f.id).where(f.batch_sequence.is_(None)).limit(1)).first() is not None
