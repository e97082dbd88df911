"""What `crossclear publish` reads (docs/auditors.md): the registry cache (venues with their signer keys and
symbol maps, instruments), every default's DECLARE and the waterfall plans of its COVERs, and every
confirmed batch with its fills in ingest order (streamed). Plain ledger rows: the CLI turns them into the
auditor's file format (`audit.published`), so the ledger does not depend on the auditor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class VenueListing:
    name: str
    kind: str
    signer: str
    symbols: dict[str, str]  # venue symbol -> cleared instrument


@dataclass(frozen=True)
class InstrumentListing:
    name: str
    kind: str
    underlying: str
    qty_decimals: int
    clearing_fee_bps: int


@dataclass(frozen=True)
class DeclaredDefault:
    id: int
    account: int
    declared_sequence: int
    positions: dict[str, int]  # instrument -> signed qty at DECLARE
    pool_value: int
    pool_shares: int
    penalty_bps: int


@dataclass(frozen=True)
class PlannedDraw:
    default_id: int
    batch_sequence: int
    layer: int
    account: int
    asset: int
    amount: int
    value: int


@dataclass(frozen=True)
class SettledFill:
    venue: str
    venue_fill_id: str
    symbol: str
    instrument: str
    buyer_address: str
    seller_address: str
    qty: int
    price: int
    ts_ms: int
    signature: bytes


@dataclass(frozen=True)
class ConfirmedBatchFills:
    sequence: int
    context: str | None  # the canonical context string its contextHash commits to
    fills: tuple[SettledFill, ...]  # in ingest order (the order of its fillsRoot and transfers)
    model: dict[str, Any] | None = None  # the risk model's record (inputs, hash) the batch was margined with
    price_evidence: dict[str, Any] | None = None  # the observations behind its marks and collateral prices


def registry_listing(conn: Connection) -> tuple[list[VenueListing], list[InstrumentListing]]:
    """Every venue (with its symbol map) and every instrument, as the ledger caches the on-chain registry."""
    vs = t.venue_symbols.c
    symbols: dict[str, dict[str, str]] = {}
    for venue, symbol, instrument in conn.execute(select(vs.venue, vs.symbol, vs.instrument)):
        symbols.setdefault(venue, {})[symbol] = instrument
    v, i = t.venues.c, t.instruments.c
    venues = [
        VenueListing(name, kind, signer, symbols.get(name, {}))
        for name, signer, kind in conn.execute(select(v.name, v.signer, v.kind))
    ]
    instruments = [
        InstrumentListing(name, kind, underlying, int(qd), int(fee))
        for name, kind, underlying, qd, fee in conn.execute(
            select(i.name, i.kind, i.underlying, i.qty_decimals, i.clearing_fee_bps)
        )
    ]
    return venues, instruments


def declared_defaults(conn: Connection) -> list[DeclaredDefault]:
    """Every default as DECLAREd, by id (an exit close-out declares nothing on-chain)."""
    d = t.defaults.c
    q = select(d.id, d.account, d.declared_sequence, d.positions, d.pool_value, d.pool_shares, d.penalty_bps)
    return [
        DeclaredDefault(
            int(r.id),
            int(r.account),
            int(r.declared_sequence),
            {str(i): int(q) for i, q in dict(r.positions).items()},
            int(r.pool_value),
            int(r.pool_shares),
            int(r.penalty_bps),
        )
        for r in conn.execute(q.where(d.kind == t.DEFAULT_KIND).order_by(d.id))
    ]


def planned_draws(conn: Connection) -> list[PlannedDraw]:
    """The waterfall plans of the COVERs (`waterfall_draws` rows of source 'plan'), in id order: the vault's."""
    w = t.waterfall_draws.c
    q = select(w.default_id, w.batch_sequence, w.layer, w.account, w.asset, w.amount, w.value)
    return [
        PlannedDraw(
            int(r.default_id),
            int(r.batch_sequence),
            int(r.layer),
            int(r.account),
            int(r.asset),
            int(r.amount),
            int(r.value),
        )
        for r in conn.execute(q.where(w.source == "plan").order_by(w.id))
    ]


def confirmed_batches_with_fills(conn: Connection) -> Iterator[ConfirmedBatchFills]:
    """Confirmed batches in sequence order, each with its fills in ingest order (both streamed)."""
    b, f = t.batches.c, t.fills.c
    confirmed = conn.execution_options(stream_results=True, yield_per=1000).execute(
        select(b.sequence, b.payload).where(b.status == "confirmed").order_by(b.sequence)
    )
    fills = conn.execution_options(stream_results=True, yield_per=5000).execute(
        select(f.batch_sequence, *_published_columns())
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
        yield ConfirmedBatchFills(
            int(sequence),
            payload.get("context") or None,
            model=dict(payload.get("model") or {}) or None,
            price_evidence=dict(payload.get("price_evidence") or {}) or None,
            fills=tuple(_settled_fill(r) for r in rows),
        )


def fills_by_id(conn: Connection, ids: Sequence[int]) -> list[SettledFill]:
    """The fills `ids` (a proposed batch's, not yet settled) in that order, as they will be published."""
    f = t.fills.c
    rows = {int(r.id): r for r in conn.execute(select(f.id, *_published_columns()).where(f.id.in_(list(ids))))}
    return [_settled_fill(rows[i]) for i in ids]


def _published_columns() -> tuple[Any, ...]:
    """The fills columns a published fill is made of, in `SettledFill`'s order."""
    f = t.fills.c
    return (f.venue, f.venue_fill_id, f.symbol, f.instrument, f.buyer_address, f.seller_address, f.qty, f.price,
            f.ts_ms, f.signature)  # fmt: skip


def _settled_fill(r: Any) -> SettledFill:
    return SettledFill(
        r.venue,
        r.venue_fill_id,
        r.symbol,
        r.instrument,
        r.buyer_address,
        r.seller_address,
        int(r.qty),
        int(r.price),
        int(r.ts_ms),
        bytes(r.signature),
    )
