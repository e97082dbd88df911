"""Close-out auctions in the ledger: tranches of a defaulter's positions (or of an exiting member's, under an
exit close-out: a `defaults` row of kind `exit_closeout`, offchain/defaults/closeout.py), the signed bids they
receive and their outcomes (offchain/defaults/house.py runs them; the rules are offchain/defaults/auction.py's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, update

from offchain.core.bid import Bid
from offchain.ledger import schema as t
from offchain.ledger.schema import DEFAULT_KIND as DEFAULT_KIND  # re-exported: a LiveDefault's kinds
from offchain.ledger.schema import EXIT_CLOSEOUT_KIND as EXIT_CLOSEOUT_KIND

OPEN, CLEARED = "open", "cleared"
WITHDRAWN = "withdrawn"  # a bid's outcome when its tranche was withdrawn (its close-out ended before it cleared)
# An exit close-out's statuses: auctioning, then flat (done), cancelled (the request was) or defaulted (the default
# path took the member over).
CLOSING, FLAT, CANCELLED, DEFAULTED = "closing", "flat", "cancelled", "defaulted"


@dataclass(frozen=True)
class TrancheRow:
    default_id: int
    instrument: str
    tranche: int
    defaulter_sells: bool
    qty: int
    mark: int  # the mark the band and the penalty refer to
    opened_at: int  # chain seconds
    status: str  # OPEN or CLEARED
    bid_qty: int | None = None  # filled by member bids, once cleared
    residual_qty: int | None = None  # closed against the house, once cleared
    residual_price: int | None = None


@dataclass(frozen=True)
class StoredBid:
    id: int
    bid: Bid
    signature: bytes


@dataclass(frozen=True)
class WonBid:
    id: int
    bidder: str  # checksummed address
    price: int
    qty: int
    filled_qty: int


@dataclass(frozen=True)
class LiveDefault:
    """A book being auctioned: a declared default's, or an exit close-out's (`kind`)."""

    id: int
    account: int
    at_declare: dict[str, int]  # instrument -> signed qty at DECLARE (a close-out: at its start)
    kind: str = DEFAULT_KIND


def _tranche(r: Row[Any]) -> TrancheRow:
    return TrancheRow(
        int(r.default_id),
        str(r.instrument),
        int(r.tranche),
        bool(r.defaulter_sells),
        int(r.qty),
        int(r.mark),
        int(r.opened_at),
        str(r.status),
        None if r.bid_qty is None else int(r.bid_qty),
        None if r.residual_qty is None else int(r.residual_qty),
        None if r.residual_price is None else int(r.residual_price),
    )


# ---------------------------------------------------------------- defaults and members


def live_defaults(conn: Connection) -> list[LiveDefault]:
    """Declared defaults whose DECLARE batch is confirmed on-chain, by id."""
    d, b = t.defaults, t.batches
    rows = conn.execute(
        select(d.c.id, d.c.account, d.c.positions)
        .join(b, and_(b.c.sequence == d.c.declared_sequence, b.c.status == "confirmed"))
        .where(d.c.status == "declared")
        .order_by(d.c.id)
    ).all()
    return [LiveDefault(int(r.id), int(r.account), {i: int(q) for i, q in r.positions.items()}) for r in rows]


def live_closeouts(conn: Connection) -> list[LiveDefault]:
    """Exit close-outs still auctioning, by id."""
    d = t.defaults
    rows = conn.execute(
        select(d.c.id, d.c.account, d.c.positions)
        .where(d.c.kind == EXIT_CLOSEOUT_KIND, d.c.status == CLOSING)
        .order_by(d.c.id)
    ).all()
    return [
        LiveDefault(int(r.id), int(r.account), {i: int(q) for i, q in r.positions.items()}, EXIT_CLOSEOUT_KIND)
        for r in rows
    ]


def start_closeout(conn: Connection, account: int, positions: dict[str, int], sequence: int, at: int) -> int:
    """Record an exit close-out of `account`'s book (`positions`: signed qty per instrument at its start) after
    batch `sequence`, at chain second `at`; returns its id (the auction number bidders sign)."""
    return int(
        conn.execute(
            insert(t.defaults)
            .values(
                account=account,
                kind=EXIT_CLOSEOUT_KIND,
                status=CLOSING,
                declared_sequence=sequence,
                declared_at=at,
                positions={i: str(q) for i, q in sorted(positions.items())},
                penalty_bps=0,  # nothing goes to the house: what is not bid is offered again
                pool_value=0,
                pool_shares=0,
                covered=0,
            )
            .returning(t.defaults.c.id)
        ).scalar_one()
    )


def end_closeout(conn: Connection, closeout_id: int, status: str, sequence: int) -> None:
    """An exit close-out ends (FLAT, CANCELLED or DEFAULTED) after batch `sequence`; its open tranches are
    withdrawn: they clear with nothing on offer, their pending bids lose (WITHDRAWN)."""
    d, at, ab = t.defaults, t.auction_tranches, t.auction_bids
    conn.execute(update(d).where(d.c.id == closeout_id).values(status=status, closed_sequence=sequence))
    conn.execute(
        update(ab).where(ab.c.default_id == closeout_id, ab.c.outcome.is_(None)).values(outcome=WITHDRAWN, filled_qty=0)
    )
    conn.execute(
        update(at)
        .where(at.c.default_id == closeout_id, at.c.status == OPEN)
        .values(status=CLEARED, qty=0, bid_qty=0, residual_qty=0, residual_price=at.c.mark)
    )


def kind_of(conn: Connection, default_id: int) -> str:
    return str(conn.execute(select(t.defaults.c.kind).where(t.defaults.c.id == default_id)).scalar_one())


def stalled_before(conn: Connection, default_id: int, index: int) -> bool:
    """Whether the last tranche cleared before `index` (of any instrument) offered something and got no bid."""
    at = t.auction_tranches
    last = conn.execute(
        select(func.max(at.c.tranche)).where(
            at.c.default_id == default_id, at.c.tranche < index, at.c.status == CLEARED, at.c.qty > 0
        )
    ).scalar_one_or_none()
    if last is None:
        return False
    row = tranche(conn, default_id, int(last))
    return row is not None and (row.bid_qty or 0) == 0


def defaulter(conn: Connection, default_id: int) -> int:
    return int(conn.execute(select(t.defaults.c.account).where(t.defaults.c.id == default_id)).scalar_one())


def penalty_bps(conn: Connection, default_id: int) -> int:
    """The price penalty of a default's unbid remainder, fixed at DECLARE."""
    return int(conn.execute(select(t.defaults.c.penalty_bps).where(t.defaults.c.id == default_id)).scalar_one())


def eligible_bidders(conn: Connection, instrument: str, defaulter_account: int) -> dict[str, int]:
    """Checksummed address -> account of the active members allowed to trade `instrument`, but the defaulter."""
    m, p = t.members, t.permissions
    rows = conn.execute(
        select(m.c.account, m.c.address)
        .join(p, and_(p.c.member == m.c.account, p.c.instrument == instrument))
        .where(m.c.status == "active", m.c.account != defaulter_account)
    )
    return {str(addr): int(a) for a, addr in rows}


def member_addresses(conn: Connection) -> dict[int, str]:
    return {int(a): str(addr) for a, addr in conn.execute(select(t.members.c.account, t.members.c.address))}


# ---------------------------------------------------------------- tranches


def tranche(conn: Connection, default_id: int, index: int) -> TrancheRow | None:
    at = t.auction_tranches
    row = conn.execute(select(at).where(at.c.default_id == default_id, at.c.tranche == index)).first()
    return None if row is None else _tranche(row)


def tranches_of(conn: Connection, default_id: int) -> list[TrancheRow]:
    at = t.auction_tranches
    rows = conn.execute(select(at).where(at.c.default_id == default_id).order_by(at.c.tranche)).all()
    return [_tranche(r) for r in rows]


def due_tranches(conn: Connection, default_id: int, interval_s: int, now: int) -> list[TrancheRow]:
    """A default's open tranches whose bidding window (`interval_s` from opening) has passed at `now`."""
    at = t.auction_tranches
    rows = conn.execute(
        select(at).where(at.c.default_id == default_id, at.c.status == OPEN, at.c.opened_at + interval_s <= now)
    ).all()
    return [_tranche(r) for r in rows]


def open_tranches(conn: Connection) -> list[TrancheRow]:
    at = t.auction_tranches
    rows = conn.execute(select(at).where(at.c.status == OPEN).order_by(at.c.default_id, at.c.tranche)).all()
    return [_tranche(r) for r in rows]


def cleared_indexes(conn: Connection, default_id: int) -> list[int]:
    at = t.auction_tranches
    rows = conn.execute(
        select(at.c.tranche).where(at.c.default_id == default_id, at.c.status == CLEARED).order_by(at.c.tranche)
    ).scalars()
    return [int(i) for i in rows]


def open_tranche(conn: Connection, row: TrancheRow) -> None:
    conn.execute(
        insert(t.auction_tranches).values(
            default_id=row.default_id,
            instrument=row.instrument,
            tranche=row.tranche,
            defaulter_sells=row.defaulter_sells,
            qty=row.qty,
            mark=row.mark,
            opened_at=row.opened_at,
            status=OPEN,
        )
    )


def clear_tranche(
    conn: Connection,
    default_id: int,
    index: int,
    qty: int,
    mark: int,
    bid_qty: int,
    residual_qty: int,
    residual_price: int,
) -> None:
    at = t.auction_tranches
    conn.execute(
        update(at)
        .where(at.c.default_id == default_id, at.c.tranche == index)
        .values(
            status=CLEARED,
            qty=qty,
            mark=mark,
            bid_qty=bid_qty,
            residual_qty=residual_qty,
            residual_price=residual_price,
        )
    )


# ---------------------------------------------------------------- bids


def store_bid(conn: Connection, bid: Bid, signature: bytes, received_ms: int, outcome: str | None) -> int:
    """Store a bid (with its refusal as outcome when it is already invalid); returns its id."""
    bid_id = conn.execute(
        insert(t.auction_bids)
        .values(
            default_id=bid.auction,
            instrument=bid.instrument,
            tranche=bid.tranche,
            bidder=bid.bidder,
            buy=bid.buy,
            qty=bid.qty,
            price=bid.price,
            expiry=bid.expiry,
            signature=bytes(signature),
            received_ms=received_ms,
            outcome=outcome,
        )
        .returning(t.auction_bids.c.id)
    ).scalar_one()
    return int(bid_id)


def pending_bids(conn: Connection, default_id: int, index: int) -> list[StoredBid]:
    """A tranche's bids without an outcome yet, in submission order."""
    ab = t.auction_bids
    rows = conn.execute(
        select(ab).where(ab.c.default_id == default_id, ab.c.tranche == index, ab.c.outcome.is_(None)).order_by(ab.c.id)
    ).all()
    return [
        StoredBid(
            int(r.id),
            Bid(
                auction=r.default_id,
                tranche=r.tranche,
                instrument=r.instrument,
                buy=r.buy,
                qty=r.qty,
                price=r.price,
                bidder=r.bidder,
                expiry=r.expiry,
            ),
            bytes(r.signature),
        )
        for r in rows
    ]


def set_outcome(conn: Connection, bid_id: int, outcome: str, filled_qty: int) -> None:
    ab = t.auction_bids
    conn.execute(update(ab).where(ab.c.id == bid_id).values(outcome=outcome, filled_qty=filled_qty))


def won_bids(conn: Connection, default_id: int, index: int) -> list[WonBid]:
    ab = t.auction_bids
    rows = conn.execute(
        select(ab.c.id, ab.c.bidder, ab.c.price, ab.c.qty, ab.c.filled_qty).where(
            ab.c.default_id == default_id, ab.c.tranche == index, ab.c.outcome == "won"
        )
    ).all()
    return [WonBid(int(r.id), str(r.bidder), int(r.price), int(r.qty), int(r.filled_qty)) for r in rows]


# ---------------------------------------------------------------- delivery


def stored_fill_ids(conn: Connection, venue: str, venue_fill_ids: Sequence[str]) -> set[str]:
    """Which of a venue's fill ids the ledger already holds (a delivery sends only the others)."""
    f = t.fills
    rows = conn.execute(
        select(f.c.venue_fill_id).where(f.c.venue == venue, f.c.venue_fill_id.in_(list(venue_fill_ids)))
    ).scalars()
    return set(rows)
