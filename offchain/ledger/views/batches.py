"""Settlement batches as the API publishes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class LatestBatch:
    sequence: int
    as_of: int  # seconds
    payload: dict[str, Any]


@dataclass(frozen=True)
class BatchRow:
    sequence: int
    status: str
    prev_hash: bytes
    digest: bytes
    as_of_ms: int
    payload: dict[str, Any]
    tx_hash: bytes | None
    block_number: int | None
    gas_used: int | None
    built_ms: int
    confirmed_ms: int | None


@dataclass(frozen=True)
class ConfirmedBatch:
    sequence: int
    tx_hash: bytes | None
    payload: dict[str, Any]


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _batch(r: Any) -> BatchRow:
    return BatchRow(
        int(r.sequence),
        r.status,
        bytes(r.prev_hash),
        bytes(r.digest),
        int(r.as_of_ms),
        dict(r.payload),
        None if r.tx_hash is None else bytes(r.tx_hash),
        _opt_int(r.block_number),
        _opt_int(r.gas_used),
        int(r.built_ms),
        _opt_int(r.confirmed_ms),
    )


def latest_confirmed(conn: Connection) -> LatestBatch | None:
    b = t.batches.c
    row = conn.execute(
        select(b.sequence, b.as_of_ms, b.payload).where(b.status == "confirmed").order_by(b.sequence.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return LatestBatch(int(row.sequence), int(row.as_of_ms) // 1000, dict(row.payload))


def batch(conn: Connection, sequence: int) -> BatchRow | None:
    row = conn.execute(select(t.batches).where(t.batches.c.sequence == sequence)).first()
    return None if row is None else _batch(row)


def batch_of_fill(conn: Connection, sequence: int) -> BatchRow:
    """The batch a stored fill names (`fills.batch_sequence` is a foreign key: it exists)."""
    return _batch(conn.execute(select(t.batches).where(t.batches.c.sequence == sequence)).one())


def batch_exists(conn: Connection, sequence: int) -> bool:
    return conn.execute(select(t.batches.c.sequence).where(t.batches.c.sequence == sequence)).first() is not None


def batches_page(conn: Connection, cursor: int, limit: int) -> list[BatchRow]:
    """Batches after sequence `cursor`, oldest first."""
    b = t.batches.c
    return [
        _batch(r) for r in conn.execute(select(t.batches).where(b.sequence > cursor).order_by(b.sequence).limit(limit))
    ]


def batches_from(conn: Connection, first: int) -> list[BatchRow]:
    """Every batch from sequence `first` on, oldest first."""
    b = t.batches.c
    return [_batch(r) for r in conn.execute(select(t.batches).where(b.sequence >= first).order_by(b.sequence))]


def fill_counts(conn: Connection, sequences: list[int]) -> dict[int, int]:
    """batch sequence -> how many fills it settles (batches without fills absent)."""
    if not sequences:
        return {}
    f = t.fills.c
    return {
        int(s): int(n)
        for s, n in conn.execute(
            select(f.batch_sequence, func.count()).where(f.batch_sequence.in_(sequences)).group_by(f.batch_sequence)
        )
    }


def fill_count(conn: Connection, sequence: int) -> int:
    return int(conn.execute(select(func.count()).where(t.fills.c.batch_sequence == sequence)).scalar_one())


def statuses(conn: Connection, sequences: set[int]) -> dict[int, str]:
    if not sequences:
        return {}
    b = t.batches.c
    return {
        int(r.sequence): r.status for r in conn.execute(select(b.sequence, b.status).where(b.sequence.in_(sequences)))
    }


def last_sequence(conn: Connection) -> int | None:
    """The highest batch sequence in any status, None before the first batch."""
    last = conn.execute(select(func.max(t.batches.c.sequence))).scalar_one_or_none()
    return None if last is None else int(last)


def last_confirmed_sequence(conn: Connection) -> int:
    """The highest confirmed sequence, 0 before any."""
    b = t.batches.c
    return int(conn.execute(select(func.max(b.sequence)).where(b.status == "confirmed")).scalar_one_or_none() or 0)


def confirmed_since(conn: Connection, after: int) -> list[ConfirmedBatch]:
    """Confirmed batches after sequence `after`, oldest first."""
    b = t.batches.c
    return [
        ConfirmedBatch(int(r.sequence), None if r.tx_hash is None else bytes(r.tx_hash), dict(r.payload))
        for r in conn.execute(
            select(b.sequence, b.tx_hash, b.payload)
            .where(b.status == "confirmed", b.sequence > after)
            .order_by(b.sequence)
        )
    ]


def payload_of(conn: Connection, sequence: int) -> dict[str, Any]:
    """The stored payload of a batch the caller knows exists (the engine just reported it)."""
    return dict(conn.execute(select(t.batches.c.payload).where(t.batches.c.sequence == sequence)).scalar_one())


def digests(conn: Connection) -> dict[int, tuple[str, bytes]]:
    """sequence -> (status, EIP-712 digest) of every stored batch."""
    b = t.batches.c
    return {int(s): (str(st), bytes(d)) for s, st, d in conn.execute(select(b.sequence, b.status, b.digest))}


def unconfirmed(conn: Connection) -> list[tuple[int, str]]:
    """(sequence, status) of every batch built or sent but not confirmed, oldest first."""
    b = t.batches.c
    q = select(b.sequence, b.status).where(b.status != "confirmed").order_by(b.sequence)
    return [(int(s), str(st)) for s, st in conn.execute(q)]
