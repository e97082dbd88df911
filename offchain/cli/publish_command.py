"""`crossclear publish`: write the published fills file (docs/auditors.md) from the ledger.

One header line (venues with their signer keys and symbol maps, instruments: a cache of the on-chain
registry, which the auditor checks it against), then one line per
confirmed batch in sequence order with its canonical context string (exactly the bytes its contextHash
commits to), its fills in ingest order (the order its fillsRoot and its transfers were built from) and,
for a batch with default actions, the engine's context of its DECLAREs and its waterfall plans, and the
risk-model record and price evidence the engine stored with the batch (what the verifier re-derives
requirements and prices from).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from offchain.audit import published as pub
from offchain.core.fills import Fill


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("publish", help="write the published fills file that auditors check batches against")
    p.add_argument("--db", default="sqlite:///var/crossclear.db", help="ledger URL (SQLite file or PostgreSQL)")
    p.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")


def read_header(conn: Connection) -> pub.Header:
    from offchain.ledger import schema as t

    symbols: dict[str, dict[str, str]] = {}
    for venue, symbol, instrument in conn.execute(
        select(t.venue_symbols.c.venue, t.venue_symbols.c.symbol, t.venue_symbols.c.instrument)
    ):
        symbols.setdefault(venue, {})[symbol] = instrument
    # The header is a cache of the on-chain registry (docs/auditors.md): the auditor accepts a fill only by
    # the registry's key valid at its time, and checks that every key listed here is a registered one.
    venues = {
        name: pub.PublishedVenue(name, kind, (signer,), symbols.get(name, {}))
        for name, signer, kind in conn.execute(select(t.venues.c.name, t.venues.c.signer, t.venues.c.kind))
    }
    i = t.instruments.c
    instruments = {
        name: pub.PublishedInstrument(name, kind, underlying, qd, fee)
        for name, kind, underlying, qd, fee in conn.execute(
            select(i.name, i.kind, i.underlying, i.qty_decimals, i.clearing_fee_bps)
        )
    }
    return pub.Header(venues, instruments)


def read_defaults(conn: Connection) -> dict[int, pub.PublishedDefaults]:
    """Per batch sequence: the DECLAREs it carried (with the engine's context of each) and the waterfall
    plans of its COVERs (the `waterfall_draws` rows of source 'plan', in id order: the vault's order)."""
    from offchain.ledger import schema as t

    declared: dict[int, list[pub.PublishedDeclare]] = {}
    defaulter: dict[int, int] = {}
    d = t.defaults.c
    for r in conn.execute(
        select(d.id, d.account, d.declared_sequence, d.positions, d.pool_value, d.pool_shares, d.penalty_bps).order_by(
            d.id
        )
    ):
        defaulter[int(r.id)] = int(r.account)
        declared.setdefault(int(r.declared_sequence), []).append(
            pub.PublishedDeclare(
                int(r.id),
                int(r.account),
                {str(i): int(q) for i, q in dict(r.positions).items()},
                int(r.pool_value),
                int(r.pool_shares),
                int(r.penalty_bps),
            )
        )
    draws: dict[int, dict[int, list[pub.PublishedDraw]]] = {}
    w = t.waterfall_draws.c
    for r in conn.execute(
        select(w.default_id, w.batch_sequence, w.layer, w.account, w.asset, w.amount, w.value)
        .where(w.source == "plan")
        .order_by(w.id)
    ):
        draws.setdefault(int(r.batch_sequence), {}).setdefault(int(r.default_id), []).append(
            pub.PublishedDraw(int(r.layer), int(r.account), int(r.asset), int(r.amount), int(r.value))
        )
    return {
        seq: pub.PublishedDefaults(
            tuple(declared.get(seq, ())),
            tuple(
                pub.PublishedWaterfall(i, defaulter[i], tuple(rows)) for i, rows in sorted(draws.get(seq, {}).items())
            ),
        )
        for seq in sorted(set(declared) | set(draws))
    }


def read_batches(conn: Connection) -> Iterator[pub.PublishedBatch]:
    """Confirmed batches in sequence order, each with its fills in ingest order (streamed)."""
    from offchain.ledger import schema as t

    defaults = read_defaults(conn)

    b, f = t.batches.c, t.fills.c
    confirmed = conn.execution_options(stream_results=True, yield_per=1000).execute(
        select(b.sequence, b.payload).where(b.status == "confirmed").order_by(b.sequence)
    )
    fills = conn.execution_options(stream_results=True, yield_per=5000).execute(
        select(
            f.batch_sequence,
            f.venue,
            f.venue_fill_id,
            f.symbol,
            f.instrument,
            f.buyer_address,
            f.seller_address,
            f.qty,
            f.price,
            f.ts_ms,
            f.signature,
        )
        .where(f.batch_sequence.is_not(None))
        .order_by(f.batch_sequence, f.id)
    )
    by_batch = groupby(fills, key=lambda r: int(r[0]))
    nxt = next(by_batch, None)
    for sequence, payload in confirmed:
        while nxt is not None and nxt[0] < sequence:
            nxt = next(by_batch, None)  # fills of a batch that is not confirmed (none in a converged ledger)
        rows = list(nxt[1]) if nxt is not None and nxt[0] == sequence else []
        if rows:
            nxt = next(by_batch, None)
        yield pub.PublishedBatch(
            sequence=int(sequence),
            context=payload.get("context") or None,
            fills=tuple(
                pub.PublishedFill(
                    Fill(
                        venue=r.venue,
                        venue_fill_id=r.venue_fill_id,
                        symbol=r.symbol,
                        buyer=r.buyer_address,
                        seller=r.seller_address,
                        qty=int(r.qty),
                        price=int(r.price),
                        ts=int(r.ts_ms),
                    ),
                    r.instrument,
                    bytes(r.signature),
                )
                for r in rows
            ),
            defaults=defaults.get(int(sequence)),
            model=dict(payload.get("model") or {}) or None,
            price_evidence=dict(payload.get("price_evidence") or {}) or None,
        )


def publish(db: Engine, out: Path) -> int:
    """Write the file; returns the number of batches published."""
    with db.connect() as conn:
        return pub.write(out, read_header(conn), read_batches(conn))


def run(args: argparse.Namespace) -> int:
    from offchain.ledger.db import open_ledger

    db = open_ledger(args.db)
    try:
        n = publish(db, args.out)
    finally:
        db.dispose()
    print(f"published {n} batches to {args.out}", file=sys.stderr)
    return 0
