"""Publication: the published fills file (docs/auditors.md) written from the ledger, in the auditor's format
(offchain/audit/published.py). `crossclear publish` writes it; the co-signers' client writes a proposed
batch's line with the same pieces (offchain/cosign/client.py).

One header line (venues with their signer keys and symbol maps, instruments: a cache of the on-chain
registry, which the auditor checks it against), then one line per
confirmed batch in sequence order with its canonical context string (exactly the bytes its contextHash
commits to), its fills in ingest order (the order its fillsRoot and its transfers were built from) and,
for a batch with default actions, the engine's context of its DECLAREs and its waterfall plans, and the
risk-model record and price evidence the engine stored with the batch (what the verifier re-derives
requirements and prices from).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from offchain.audit import published as pub
from offchain.core.fills import Fill
from offchain.ledger.handles import Connection, Engine
from offchain.ledger.views import published as ledger_view


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


def published_fill(row: ledger_view.SettledFill) -> pub.PublishedFill:
    """A fill as its batch's published line carries it (settled, or proposed to the co-signers)."""
    fill = Fill(
        venue=row.venue,
        venue_fill_id=row.venue_fill_id,
        symbol=row.symbol,
        buyer=row.buyer_address,
        seller=row.seller_address,
        qty=row.qty,
        price=row.price,
        ts=row.ts_ms,
    )
    return pub.PublishedFill(fill, row.instrument, row.signature)


def read_batches(conn: Connection) -> Iterator[pub.PublishedBatch]:
    """Confirmed batches in sequence order, each with its fills in ingest order (streamed)."""
    defaults = read_defaults(conn)
    for b in ledger_view.confirmed_batches_with_fills(conn):
        yield pub.PublishedBatch(
            sequence=b.sequence,
            context=b.context,
            fills=tuple(published_fill(f) for f in b.fills),
            defaults=defaults.get(b.sequence),
            model=b.model,
            price_evidence=b.price_evidence,
        )


def publish(db: Engine, out: Path) -> int:
    """Write the file; returns the number of batches published."""
    with db.connect() as conn:
        return pub.write(out, read_header(conn), read_batches(conn))
