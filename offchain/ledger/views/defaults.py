"""Defaults and what followed them, as the API publishes them: declared defaults, waterfall draws,
default-fund contributions, close-out auction tranches and their winning bids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from sqlalchemy import Connection, and_, func, or_, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class DefaultSummary:
    id: int
    account: int
    status: str  # declared (closing out), closed
    declared_sequence: int
    declared_at: int  # chain seconds
    positions: dict[str, str]  # instrument -> signed qty at DECLARE (decimal strings)


@dataclass(frozen=True)
class Draw:
    default_id: int
    batch_sequence: int
    source: str  # plan, chain
    value: int


@dataclass(frozen=True)
class WaterfallRow:
    id: int
    default_id: int
    defaulter: int | None
    batch_sequence: int
    source: str
    layer: int
    account: int
    asset: int
    amount: int
    value: int


@dataclass(frozen=True)
class Contribution:
    account: int
    target: int
    current: int  # contribution value before the batch
    amount: int  # the contribution row (> 0 in, < 0 returned)
    batch_sequence: int


TrancheStatus = Literal["open", "cleared"]


def _tranche_status(value: str) -> TrancheStatus:
    if value not in get_args(TrancheStatus):
        raise ValueError(f"auction tranche status {value!r} is not one the ledger writes")
    return cast(TrancheStatus, value)


@dataclass(frozen=True)
class TrancheRow:
    default_id: int
    instrument: str
    tranche: int
    defaulter: int
    defaulter_sells: bool
    qty: int
    mark: int
    opened_at: int
    status: TrancheStatus
    bid_qty: int | None
    residual_qty: int | None
    residual_price: int | None


@dataclass(frozen=True)
class WonBid:
    id: int
    bidder: str
    price: int
    qty: int
    filled_qty: int | None


@dataclass(frozen=True)
class TrancheState:
    instrument: str
    status: str
    mark: int


def _opt(v: Any) -> int | None:
    return None if v is None else int(v)


def _default(r: Any) -> DefaultSummary:
    return DefaultSummary(
        int(r.id), int(r.account), r.status, int(r.declared_sequence), int(r.declared_at), dict(r.positions)
    )


# ---------------------------------------------------------------- defaults


def latest_default_of(conn: Connection, account: int) -> DefaultSummary | None:
    d = t.defaults.c
    row = conn.execute(select(t.defaults).where(d.account == account).order_by(d.id.desc()).limit(1)).first()
    return None if row is None else _default(row)


def defaults_since(conn: Connection, account: int, after_id: int) -> list[DefaultSummary]:
    d = t.defaults.c
    return [
        _default(r)
        for r in conn.execute(select(t.defaults).where(d.account == account, d.id > after_id).order_by(d.id))
    ]


def last_default_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(t.defaults.c.id))).scalar_one_or_none() or 0)


# ---------------------------------------------------------------- waterfall and default fund


def loss_socialising_draws(conn: Connection, account: int) -> list[Draw]:
    """Every draw of waterfall layers 6 (VM-gains haircut) and 7 (ADL) on `account`, plan and chain rows."""
    w = t.waterfall_draws.c
    return [
        Draw(int(r.default_id), int(r.batch_sequence), r.source, int(r.value))
        for r in conn.execute(
            select(w.default_id, w.batch_sequence, w.source, w.value).where(w.account == account, w.layer.in_((6, 7)))
        )
    ]


def waterfall_page(conn: Connection, cursor: int, limit: int) -> list[WaterfallRow]:
    """Waterfall draws after id `cursor`, oldest first, each with its defaulter's account."""
    w, d = t.waterfall_draws.c, t.defaults.c
    rows = conn.execute(
        select(t.waterfall_draws, d.account.label("defaulter"))
        .select_from(t.waterfall_draws.outerjoin(t.defaults, w.default_id == d.id))
        .where(w.id > cursor)
        .order_by(w.id)
        .limit(limit)
    )
    return [
        WaterfallRow(
            int(r.id),
            int(r.default_id),
            _opt(r.defaulter),
            int(r.batch_sequence),
            r.source,
            int(r.layer),
            int(r.account),
            int(r.asset),
            int(r.amount),
            int(r.value),
        )
        for r in rows
    ]


def latest_contributions(conn: Connection) -> list[Contribution]:
    """Each member's latest default-fund contribution row, by account."""
    c = t.df_contributions.c
    latest = select(c.account, func.max(c.id).label("last")).group_by(c.account).subquery()
    return [
        Contribution(int(r.account), int(r.target), int(r.current), int(r.amount), int(r.batch_sequence))
        for r in conn.execute(
            select(c.account, c.target, c.current, c.amount, c.batch_sequence)
            .join(latest, c.id == latest.c.last)
            .order_by(c.account)
        )
    ]


# ---------------------------------------------------------------- auctions


def tranches_page(
    conn: Connection,
    after_default: int,
    after_tranche: int,
    limit: int,
    status: str | None = None,
    default_id: int | None = None,
) -> list[TrancheRow]:
    """Tranches after (`after_default`, `after_tranche`) in (default, tranche) order, with their defaulter;
    only of `status` and of `default_id` when given."""
    at, d = t.auction_tranches.c, t.defaults.c
    where: Any = or_(at.default_id > after_default, and_(at.default_id == after_default, at.tranche > after_tranche))
    if status is not None:
        where = and_(where, at.status == status)
    if default_id is not None:
        where = and_(where, at.default_id == default_id)
    rows = conn.execute(
        select(t.auction_tranches, d.account.label("defaulter"))
        .join(t.defaults, d.id == at.default_id)
        .where(where)
        .order_by(at.default_id, at.tranche)
        .limit(limit)
    )
    return [
        TrancheRow(
            int(r.default_id),
            r.instrument,
            int(r.tranche),
            int(r.defaulter),
            bool(r.defaulter_sells),
            int(r.qty),
            int(r.mark),
            int(r.opened_at),
            _tranche_status(r.status),
            _opt(r.bid_qty),
            _opt(r.residual_qty),
            _opt(r.residual_price),
        )
        for r in rows
    ]


def won_bids(conn: Connection, default_id: int, tranche: int) -> list[WonBid]:
    """The winning bids of tranche `tranche` of default `default_id`, in storage order."""
    ab = t.auction_bids.c
    return [
        WonBid(int(b.id), b.bidder, int(b.price), int(b.qty), _opt(b.filled_qty))
        for b in conn.execute(
            select(ab.id, ab.bidder, ab.price, ab.qty, ab.filled_qty).where(
                ab.default_id == default_id, ab.tranche == tranche, ab.outcome == "won"
            )
        )
    ]


def tranche_state(conn: Connection, default_id: int, tranche: int) -> TrancheState | None:
    at = t.auction_tranches.c
    row = conn.execute(
        select(at.instrument, at.status, at.mark).where(at.default_id == default_id, at.tranche == tranche)
    ).first()
    return None if row is None else TrancheState(row.instrument, row.status, int(row.mark))
