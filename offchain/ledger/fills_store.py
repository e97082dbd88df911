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


# The columns ingest writes, in the order of the driver-level statements below, with PostgreSQL's array
# type for each (qty and price are `BigInt`: decimal text, exact beyond 64 bits, see ledger/types.py).
_FILL_COLUMNS = (
    ("venue", "text"),
    ("venue_fill_id", "text"),
    ("symbol", "text"),
    ("instrument", "text"),
    ("buyer", "int4"),
    ("seller", "int4"),
    ("buyer_address", "text"),
    ("seller_address", "text"),
    ("qty", "text"),
    ("price", "text"),
    ("ts_ms", "int8"),
    ("signature", "bytea"),
    ("leaf", "bytea"),
    ("received_ms", "int8"),
)
_NAMES = ", ".join(name for name, _ in _FILL_COLUMNS)
_DECIMAL = frozenset({"qty", "price"})
_RETURNING = "ON CONFLICT (venue, venue_fill_id) DO NOTHING RETURNING id, venue, venue_fill_id"
# PostgreSQL: the bulk is COPYed (psycopg's C row writer) into a session-private staging table, then moved
# into `fills` by one INSERT ... SELECT; the staging rows vanish at commit. A multi-row VALUES list would be
# re-parsed by psycopg on every call, and array parameters are dumped value by value in Python.
_PG_STAGE = (  # only the columns ingest writes: no id, so staging draws nothing from the fills id sequence
    "CREATE TEMP TABLE IF NOT EXISTS fills_incoming ("
    + ", ".join(f"{name} {kind} NOT NULL" for name, kind in _FILL_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
_PG_COPY = f"COPY fills_incoming ({_NAMES}) FROM STDIN"
_PG_MOVE = f"INSERT INTO fills ({_NAMES}) SELECT {_NAMES} FROM fills_incoming {_RETURNING}"
_SQLITE_ROWS = 1_000  # rows per multi-row VALUES statement: 14,000 parameters, under SQLite's 32,766


def _decimal(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"qty and price must be int, got {type(value).__name__}")
    return str(value)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [
        [_decimal(r[name]) for r in rows] if name in _DECIMAL else [r[name] for r in rows] for name, _ in _FILL_COLUMNS
    ]


def read_stored(conn: Connection, keys: Iterable[FillKey]) -> dict[FillKey, StoredFill]:
    """The stored fills among `keys`: per venue (a bulk is one venue's), an index range on the unique
    (venue, venue_fill_id): `venue_fill_id = ANY(array)` on PostgreSQL, `IN (...)` chunks on SQLite."""
    by_venue: dict[str, list[str]] = {}
    for venue, venue_fill_id in keys:
        by_venue.setdefault(venue, []).append(venue_fill_id)
    found: dict[FillKey, StoredFill] = {}
    pg = conn.dialect.name == "postgresql"
    for venue, ids in by_venue.items():
        chunks = [ids] if pg else [ids[i : i + READ_CHUNK] for i in range(0, len(ids), READ_CHUNK)]
        for chunk in chunks:
            if pg:
                sql = "SELECT id, venue_fill_id, leaf FROM fills WHERE venue = %s AND venue_fill_id = ANY(%s::text[])"
                params: tuple[Any, ...] = (venue, chunk)
            else:
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT id, venue_fill_id, leaf FROM fills WHERE venue = ? AND venue_fill_id IN ({marks})"
                params = (venue, *chunk)
            for fill_id, venue_fill_id, leaf in conn.exec_driver_sql(sql, params):
                found[(venue, venue_fill_id)] = StoredFill(fill_id, bytes(leaf))
    return found


def insert_new_fills(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[FillKey, int]:
    """Insert the fill rows (mappings with the `fills` columns ingest writes), skipping keys another
    transaction stored meanwhile; the ledger ids of the rows this call stored (a key missing from the
    result lost the race). Driver-level SQL, because SQLAlchemy's per-row parameter processing costs as much
    as the signature checks: one `unnest` statement on PostgreSQL, multi-row VALUES chunks on SQLite."""
    if not rows:
        return {}
    out: dict[FillKey, int] = {}
    if conn.dialect.name == "postgresql":
        return _insert_pg(conn, rows)
    width = len(_FILL_COLUMNS)
    for start in range(0, len(rows), _SQLITE_ROWS):
        chunk = rows[start : start + _SQLITE_ROWS]
        columns = _columns(chunk)
        flat = [columns[c][r] for r in range(len(chunk)) for c in range(width)]
        values = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(chunk))
        result = conn.exec_driver_sql(f"INSERT INTO fills ({_NAMES}) VALUES {values} {_RETURNING}", tuple(flat))
        for fill_id, venue, venue_fill_id in result:
            out[(venue, venue_fill_id)] = fill_id
    return out


def _insert_pg(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[FillKey, int]:
    raw = conn.connection.driver_connection  # the psycopg connection of this very transaction
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(_PG_STAGE)
        cur.execute("DELETE FROM fills_incoming")  # a rolled-back transaction leaves none, but be certain
        with cur.copy(_PG_COPY) as copy:
            for r in rows:
                copy.write_row(tuple(_decimal(r[name]) if name in _DECIMAL else r[name] for name, _ in _FILL_COLUMNS))
        cur.execute(_PG_MOVE)
        return {(venue, venue_fill_id): fill_id for fill_id, venue, venue_fill_id in cur.fetchall()}


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
