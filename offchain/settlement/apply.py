"""Applying a batch to the ledger once it is on-chain (one transaction, run exactly once per batch)."""

from __future__ import annotations

from sqlalchemy import Connection, Table, insert, select, update

from offchain.core.eip712 import Domain
from offchain.ledger import schema as t
from offchain.ledger.entries import apply_batch_fills
from offchain.settlement.payload import BatchPayload


def _upsert_position(conn: Connection, member: int, instrument: str, venue: str, dq: int) -> None:
    p = t.positions
    key = (p.c.member == member) & (p.c.instrument == instrument) & (p.c.venue == venue)
    current = conn.execute(select(p.c.qty).where(key)).scalar_one_or_none()
    if current is None:
        conn.execute(insert(p).values(member=member, instrument=instrument, venue=venue, qty=dq))
    else:
        conn.execute(update(p).where(key).values(qty=current + dq))


def _upsert(conn: Connection, table: Table, key: dict[str, object], values: dict[str, object]) -> None:
    cond = [table.c[k] == v for k, v in key.items()]
    if conn.execute(select(table).where(*cond)).first() is None:
        conn.execute(insert(table).values(**key, **values))
    else:
        conn.execute(update(table).where(*cond).values(**values))


def apply_confirmed(
    conn: Connection, payload: BatchPayload, tx_hash: bytes, block_number: int, gas_used: int | None, now_ms: int
) -> None:
    """Mark the batch confirmed and move the settled state forward by it.

    Refuses to run twice for one batch (the status check), so a crash between confirming and
    recording can only ever leave the batch unapplied, never applied twice.
    """
    seq = payload.batch.sequence
    status = conn.execute(select(t.batches.c.status).where(t.batches.c.sequence == seq)).scalar_one()
    if status == "confirmed":
        raise RuntimeError(f"batch {seq} is already applied to the ledger")
    conn.execute(
        update(t.batches)
        .where(t.batches.c.sequence == seq)
        .values(status="confirmed", tx_hash=tx_hash, block_number=block_number, gas_used=gas_used, confirmed_ms=now_ms)
    )
    for (member, instrument, venue), dq in payload.position_changes.items():
        _upsert_position(conn, member, instrument, venue, dq)
    apply_batch_fills(conn, payload.fill_ids, seq)
    for instrument, price in payload.marks_used.items():
        _upsert(
            conn,
            t.settled_marks,
            {"instrument": instrument},
            {"price": price, "ts_ms": payload.mark_ts.get(instrument, now_ms), "batch_sequence": seq},
        )
    if payload.flows:
        conn.execute(
            insert(t.cash_flows),
            [
                {
                    "batch_sequence": seq,
                    "account": f.account,
                    "instrument": f.instrument,
                    "kind": f.kind,
                    "amount": f.amount,
                }
                for f in payload.flows
            ],
        )
    for r in payload.batch.requirements:
        _upsert(conn, t.posted_requirements, {"member": r.account}, {"im": r.im, "mm": r.mm, "batch_sequence": seq})
    for m in payload.batch.marks:
        _upsert(
            conn,
            t.posted_collateral_marks,
            {"asset": m.asset},
            {"price": m.price, "haircut_bps": m.haircut_bps, "batch_sequence": seq},
        )


def record_batch(
    conn: Connection, payload: BatchPayload, domain: Domain, tx_hash: bytes, block_number: int, gas_used: int | None
) -> None:
    """Record a batch that was settled outside the engine loop (the devnet's funding of the system
    accounts) so that the ledger follows the chain from its first batch."""
    store_built(conn, payload, domain, payload.batch.as_of * 1000)
    apply_confirmed(conn, payload, tx_hash, block_number, gas_used, payload.batch.as_of * 1000)


def store_built(conn: Connection, payload: BatchPayload, domain: Domain, built_ms: int) -> None:
    """Store a batch as `built`: from here on, a restart resubmits exactly this batch."""
    b = payload.batch
    conn.execute(
        insert(t.batches).values(
            sequence=b.sequence,
            status="built",
            prev_hash=b.prev_hash,
            digest=b.digest(domain),
            as_of_ms=b.as_of * 1000,
            payload=payload.to_json(),
            built_ms=built_ms,
        )
    )
