"""The fills store: every query ingest runs on `fills`, `rejections` and the live positions it checks.

Ingest (offchain/ingest/service.py) judges fills in Python and calls these functions inside its own
transaction; nothing here commits. Writes are race-free by construction: fills go in with
`INSERT ... ON CONFLICT (venue, venue_fill_id) DO NOTHING RETURNING`, so the unique constraint, not a
prior read, decides which of two concurrent submitters stored a key (a plain INSERT that raised
IntegrityError would abort the whole PostgreSQL transaction and every other fill of the bulk with it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from offchain.ledger.schema import batches, fills, positions, rejections

FillKey = tuple[str, str]  # (venue, venue_fill_id)
PositionKey = tuple[int, str]  # (member account, cleared instrument)
READ_CHUNK = 1_000  # keys per IN list: well under SQLite's bound-parameter limit
DETAIL_MAX = 512  # rejections.detail is String(512)


@dataclass(frozen=True, slots=True)
class StoredFill:
    """What ingest needs of a stored fill to judge a resend: its ledger id and its Merkle leaf."""

    id: int
    leaf: bytes


@dataclass(frozen=True, slots=True)
class RejectionRow:
    venue: str
    venue_fill_id: str
    reason: str
    detail: str
    received_ms: int


def read_stored(conn: Connection, keys: Iterable[FillKey]) -> dict[FillKey, StoredFill]:
    """The stored fills among `keys`, one `venue = v AND venue_fill_id IN (...)` query per venue and chunk
    (a bulk is one venue's): an index range on the unique (venue, venue_fill_id) on both backends, where
    a row-value IN list is planned poorly by PostgreSQL."""
    by_venue: dict[str, list[str]] = {}
    for venue, venue_fill_id in keys:
        by_venue.setdefault(venue, []).append(venue_fill_id)
    found: dict[FillKey, StoredFill] = {}
    f = fills.c
    for venue, ids in by_venue.items():
        for start in range(0, len(ids), READ_CHUNK):
            rows = conn.execute(
                select(f.id, f.venue_fill_id, f.leaf).where(
                    f.venue == venue, f.venue_fill_id.in_(ids[start : start + READ_CHUNK])
                )
            )
            for r in rows:
                found[(venue, r.venue_fill_id)] = StoredFill(r.id, bytes(r.leaf))
    return found


def insert_new_fills(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[FillKey, int]:
    """Insert the fill rows in one multi-row statement, skipping keys another transaction stored meanwhile;
    the ledger ids of the rows this call stored (a key missing from the result lost the race)."""
    if not rows:
        return {}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(fills)
        .on_conflict_do_nothing(index_elements=[fills.c.venue, fills.c.venue_fill_id])
        .returning(fills.c.id, fills.c.venue, fills.c.venue_fill_id)
    )
    result = conn.execute(stmt, list(rows))
    return {(r.venue, r.venue_fill_id): r.id for r in result}


def record_rejections(conn: Connection, rows: Sequence[RejectionRow]) -> None:
    """Append refusals of authentic fills (the detail cut to the column's width)."""
    if not rows:
        return
    conn.execute(
        insert(rejections),
        [
            {
                "venue": r.venue,
                "venue_fill_id": r.venue_fill_id,
                "reason": r.reason,
                "detail": r.detail[:DETAIL_MAX],
                "received_ms": r.received_ms,
            }
            for r in rows
        ],
    )


def live_positions(
    conn: Connection, accounts: Collection[int], instruments: Collection[str] | None = None
) -> dict[PositionKey, int]:
    """(account, instrument) -> net quantity across venues: what the settled ledger holds plus every stored
    fill no confirmed batch has applied yet (pending, or claimed by a batch still in flight). `instruments`
    narrows the read to those instruments (None: all)."""
    if not accounts:
        return {}
    out: dict[PositionKey, int] = {}
    p = positions.c
    settled = select(p.member, p.instrument, p.qty).where(p.member.in_(accounts))
    if instruments is not None:
        settled = settled.where(p.instrument.in_(instruments))
    for member, instrument, qty in conn.execute(settled):
        out[(member, instrument)] = out.get((member, instrument), 0) + qty
    f = fills.c
    confirmed = select(batches.c.sequence).where(batches.c.status == "confirmed")
    unapplied = select(f.buyer, f.seller, f.instrument, f.qty).where(
        or_(f.batch_sequence.is_(None), f.batch_sequence.not_in(confirmed)),
        or_(f.buyer.in_(accounts), f.seller.in_(accounts)),
    )
    if instruments is not None:
        unapplied = unapplied.where(f.instrument.in_(instruments))
    for buyer, seller, instrument, qty in conn.execute(unapplied):
        if buyer in accounts:
            out[(buyer, instrument)] = out.get((buyer, instrument), 0) + qty
        if seller in accounts:
            out[(seller, instrument)] = out.get((seller, instrument), 0) - qty
    return out


# Any fixed 64-bit key: the transaction-scoped advisory lock that position-limit checks take on PostgreSQL.
_LIMIT_LOCK_KEY = 0x6363_6C69_6D69_7473  # "cclimits"


def serialize_limit_checks(conn: Connection) -> None:
    """Make this transaction the only one checking position limits until it ends. On PostgreSQL a
    transaction-scoped advisory lock (released at commit or rollback); SQLite writers are serialised by
    the database itself, and the ingestor holds a lock of its own across its threads."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_LIMIT_LOCK_KEY)))
