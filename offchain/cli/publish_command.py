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
from pathlib import Path

from offchain.audit import published as pub
from offchain.core.fills import Fill
from offchain.ledger.handles import Connection, Engine
from offchain.ledger.views import published as ledger_view


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("publish", help="write the published fills file that auditors check batches against")
    p.add_argument("--db", default="sqlite:///var/crossclear.db", help="ledger URL (SQLite file or PostgreSQL)")
    p.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")


def read_header(conn: Connection) -> pub.Header:
    venues, instruments = ledger_view.registry_listing(conn)
    # The header is a cache of the on-chain registry (docs/auditors.md): the auditor accepts a fill only by
    # the registry's key valid at its time, and checks that every key listed here is a registered one.
    return pub.Header(
        {v.name: pub.PublishedVenue(v.name, v.kind, (v.signer,), v.symbols) for v in venues},
        {
            i.name: pub.PublishedInstrument(i.name, i.kind, i.underlying, i.qty_decimals, i.clearing_fee_bps)
            for i in instruments
        },
    )


def read_defaults(conn: Connection) -> dict[int, pub.PublishedDefaults]:
    """Per batch sequence: the DECLAREs it carried (with the engine's context of each) and the waterfall
    plans of its COVERs (the `waterfall_draws` rows of source 'plan', in id order: the vault's order)."""
    declared: dict[int, list[pub.PublishedDeclare]] = {}
    defaulter: dict[int, int] = {}
    for d in ledger_view.declared_defaults(conn):
        defaulter[d.id] = d.account
        declared.setdefault(d.declared_sequence, []).append(
            pub.PublishedDeclare(d.id, d.account, d.positions, d.pool_value, d.pool_shares, d.penalty_bps)
        )
    draws: dict[int, dict[int, list[pub.PublishedDraw]]] = {}
    for w in ledger_view.planned_draws(conn):
        draws.setdefault(w.batch_sequence, {}).setdefault(w.default_id, []).append(
            pub.PublishedDraw(w.layer, w.account, w.asset, w.amount, w.value)
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
    defaults = read_defaults(conn)
    for b in ledger_view.confirmed_batches_with_fills(conn):
        yield pub.PublishedBatch(
            sequence=b.sequence,
            context=b.context,
            fills=tuple(
                pub.PublishedFill(
                    Fill(
                        venue=f.venue,
                        venue_fill_id=f.venue_fill_id,
                        symbol=f.symbol,
                        buyer=f.buyer_address,
                        seller=f.seller_address,
                        qty=f.qty,
                        price=f.price,
                        ts=f.ts_ms,
                    ),
                    f.instrument,
                    f.signature,
                )
                for f in b.fills
            ),
            defaults=defaults.get(b.sequence),
            model=b.model,
            price_evidence=b.price_evidence,
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
