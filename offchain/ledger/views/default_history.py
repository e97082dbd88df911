"""The whole history of defaults, as the demo's report and observer tell it: every default, its
auction tranches and bids, every waterfall draw (plan and chain rows), and the open default if any."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class DefaultRecord:
    id: int
    account: int
    status: str  # declared (closing out), closed
    declared_sequence: int
    declared_at: int  # chain seconds
    positions: dict[str, str]  # instrument -> signed qty at DECLARE (decimal strings)
    penalty_bps: int
    pool_value: int
    pool_shares: int
    covered: int  # loss covered by the waterfall (COVER amounts)
    closed_sequence: int | None


@dataclass(frozen=True)
class TrancheRecord:
    default_id: int
    instrument: str
    tranche: int
    defaulter_sells: bool
    qty: int
    mark: int
    opened_at: int
    status: str
    bid_qty: int | None
    residual_qty: int | None
    residual_price: int | None


@dataclass(frozen=True)
class BidRecord:
    id: int
    default_id: int
    instrument: str
    tranche: int
    bidder: str
    buy: bool
    qty: int
    price: int
    outcome: str | None
    filled_qty: int | None


@dataclass(frozen=True)
class DrawRecord:
    id: int
    default_id: int
    batch_sequence: int
    source: str  # plan, chain
    layer: int
    account: int
    asset: int
    amount: int
    value: int


@dataclass(frozen=True)
class DefaultHistory:
    defaults: list[DefaultRecord]  # by id
    tranches: list[TrancheRecord]  # by default, tranche
    bids: list[BidRecord]  # by id
    draws: list[DrawRecord]  # by id
    accounts: dict[str, int]  # member address -> account


def _opt(v: Any) -> int | None:
    return None if v is None else int(v)


def _default(r: Any) -> DefaultRecord:
    return DefaultRecord(
        int(r.id),
        int(r.account),
        r.status,
        int(r.declared_sequence),
        int(r.declared_at),
        dict(r.positions),
        int(r.penalty_bps),
        int(r.pool_value),
        int(r.pool_shares),
        int(r.covered),
        _opt(r.closed_sequence),
    )


def _draw(r: Any) -> DrawRecord:
    return DrawRecord(
        int(r.id),
        int(r.default_id),
        int(r.batch_sequence),
        r.source,
        int(r.layer),
        int(r.account),
        int(r.asset),
        int(r.amount),
        int(r.value),
    )


def default_history(conn: Connection) -> DefaultHistory:
    d, at, ab, wd = t.defaults, t.auction_tranches, t.auction_bids, t.waterfall_draws
    defaults = [_default(r) for r in conn.execute(select(d).order_by(d.c.id))]
    tranches = [
        TrancheRecord(
            int(r.default_id),
            r.instrument,
            int(r.tranche),
            bool(r.defaulter_sells),
            int(r.qty),
            int(r.mark),
            int(r.opened_at),
            r.status,
            _opt(r.bid_qty),
            _opt(r.residual_qty),
            _opt(r.residual_price),
        )
        for r in conn.execute(select(at).order_by(at.c.default_id, at.c.tranche))
    ]
    bids = [
        BidRecord(
            int(r.id),
            int(r.default_id),
            r.instrument,
            int(r.tranche),
            r.bidder,
            bool(r.buy),
            int(r.qty),
            int(r.price),
            r.outcome,
            _opt(r.filled_qty),
        )
        for r in conn.execute(select(ab).order_by(ab.c.id))
    ]
    draws = [_draw(r) for r in conn.execute(select(wd).order_by(wd.c.id))]
    accounts = {str(a): int(m) for m, a in conn.execute(select(t.members.c.account, t.members.c.address))}
    return DefaultHistory(defaults, tranches, bids, draws, accounts)


def default_record(conn: Connection, default_id: int) -> DefaultRecord:
    """One default the caller knows exists (it saw its draws or its DECLARE)."""
    return _default(conn.execute(select(t.defaults).where(t.defaults.c.id == default_id)).one())


def chain_draws(conn: Connection, default_id: int, sequence: int) -> list[DrawRecord]:
    """The draws batch `sequence` made on-chain for default `default_id` (the vault's events, as stored)."""
    d = t.waterfall_draws.c
    q = select(t.waterfall_draws).where(d.default_id == default_id, d.batch_sequence == sequence, d.source == "chain")
    return [_draw(r) for r in conn.execute(q)]


def open_default(conn: Connection) -> tuple[int, int] | None:
    """(default id, defaulter) of the oldest default not closed yet, if any."""
    d = t.defaults.c
    row = conn.execute(select(d.id, d.account).where(d.status == "declared").order_by(d.id)).first()
    return (int(row.id), int(row.account)) if row else None


def all_chain_draws(conn: Connection) -> list[DrawRecord]:
    """Every draw recorded from the vault's WaterfallDraw events, in the order they were recorded."""
    d = t.waterfall_draws.c
    return [_draw(r) for r in conn.execute(select(t.waterfall_draws).where(d.source == "chain").order_by(d.id))]
