"""Defaults and what followed them, as the API publishes them and the demo's report and observer tell them:
declared defaults, waterfall draws (plan and chain rows), default-fund contributions, close-out auction
tranches and their bids. One record type and one row conversion per table, whoever reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from sqlalchemy import Connection, and_, func, or_, select

from offchain.ledger import schema as t

# What a DefaultRecord's kind may be, re-exported for readers outside the ledger.
from offchain.ledger.schema import DEFAULT_KIND as DEFAULT_KIND
from offchain.ledger.schema import EXIT_CLOSEOUT_KIND as EXIT_CLOSEOUT_KIND


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
    # default; or exit_closeout: the close-out of an exiting member's book (offchain/defaults/closeout.py), whose
    # status is closing, flat, cancelled or defaulted, declared_sequence the last batch confirmed at its start
    kind: str = "default"


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
    defaulter: int | None  # None: a draw whose default row is not stored (the outer join finds none)
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
class DefaultHistory:
    defaults: list[DefaultRecord]  # by id
    tranches: list[TrancheRow]  # by default, tranche
    bids: list[BidRecord]  # by id
    draws: list[WaterfallRow]  # by id
    accounts: dict[str, int]  # member address -> account


@dataclass(frozen=True)
class TrancheState:
    instrument: str
    status: str
    mark: int


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
        str(r.kind),
    )


def _draws() -> Any:
    """Waterfall draws, each with its defaulter's account."""
    w, d = t.waterfall_draws.c, t.defaults.c
    return select(t.waterfall_draws, d.account.label("defaulter")).select_from(
        t.waterfall_draws.outerjoin(t.defaults, w.default_id == d.id)
    )


def _draw(r: Any) -> WaterfallRow:
    return WaterfallRow(
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


def _tranches() -> Any:
    """Auction tranches, each with its defaulter's account."""
    at, d = t.auction_tranches.c, t.defaults.c
    return select(t.auction_tranches, d.account.label("defaulter")).join(t.defaults, d.id == at.default_id)


def _tranche(r: Any) -> TrancheRow:
    return TrancheRow(
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


# ---------------------------------------------------------------- defaults


def latest_default_of(conn: Connection, account: int) -> DefaultRecord | None:
    """The member's latest default (an exit close-out is not one)."""
    d = t.defaults.c
    q = select(t.defaults).where(d.account == account, d.kind == DEFAULT_KIND)
    row = conn.execute(q.order_by(d.id.desc()).limit(1)).first()
    return None if row is None else _default(row)


def defaults_since(conn: Connection, account: int, after_id: int) -> list[DefaultRecord]:
    """The member's defaults and exit close-outs after id `after_id` (one id sequence: the push cursor's)."""
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
    w = t.waterfall_draws.c
    return [_draw(r) for r in conn.execute(_draws().where(w.id > cursor).order_by(w.id).limit(limit))]


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
    at = t.auction_tranches.c
    where: Any = or_(at.default_id > after_default, and_(at.default_id == after_default, at.tranche > after_tranche))
    if status is not None:
        where = and_(where, at.status == status)
    if default_id is not None:
        where = and_(where, at.default_id == default_id)
    return [
        _tranche(r) for r in conn.execute(_tranches().where(where).order_by(at.default_id, at.tranche).limit(limit))
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


# ---------------------------------------------------------------- the whole history (demo report and observer)


def default_history(conn: Connection) -> DefaultHistory:
    d, at, ab, wd = t.defaults, t.auction_tranches, t.auction_bids, t.waterfall_draws
    defaults = [_default(r) for r in conn.execute(select(d).where(d.c.kind == DEFAULT_KIND).order_by(d.c.id))]
    tranches = [_tranche(r) for r in conn.execute(_tranches().order_by(at.c.default_id, at.c.tranche))]
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
    draws = [_draw(r) for r in conn.execute(_draws().order_by(wd.c.id))]
    accounts = {str(a): int(m) for m, a in conn.execute(select(t.members.c.account, t.members.c.address))}
    return DefaultHistory(defaults, tranches, bids, draws, accounts)


def default_record(conn: Connection, default_id: int) -> DefaultRecord:
    """One default the caller knows exists (it saw its draws or its DECLARE)."""
    return _default(conn.execute(select(t.defaults).where(t.defaults.c.id == default_id)).one())


def chain_draws(conn: Connection, default_id: int, sequence: int) -> list[WaterfallRow]:
    """The draws batch `sequence` made on-chain for default `default_id` (the vault's events, as stored)."""
    w = t.waterfall_draws.c
    return [
        _draw(r)
        for r in conn.execute(
            _draws().where(w.default_id == default_id, w.batch_sequence == sequence, w.source == "chain")
        )
    ]


def open_default(conn: Connection) -> tuple[int, int] | None:
    """(default id, defaulter) of the oldest default not closed yet, if any."""
    d = t.defaults.c
    row = conn.execute(
        select(d.id, d.account).where(d.status == "declared", d.kind == DEFAULT_KIND).order_by(d.id)
    ).first()
    return (int(row.id), int(row.account)) if row else None


def all_chain_draws(conn: Connection) -> list[WaterfallRow]:
    """Every draw recorded from the vault's WaterfallDraw events, in the order they were recorded."""
    w = t.waterfall_draws.c
    return [_draw(r) for r in conn.execute(_draws().where(w.source == "chain").order_by(w.id))]
