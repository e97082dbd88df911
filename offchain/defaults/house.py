"""The auction house: the service that runs close-out auctions of defaulted members (the pure rules are in
offchain/defaults/auction.py; docs/defaults.md §2).

`step()` (call it every few seconds, or `run()`), for every default whose DECLARE batch is confirmed:
 1. **clears** each open tranche whose deadline (`opened_at + interval_s`) has passed: the stored bids are
    judged at that moment (`clear_tranche`) against the instrument's latest mark, their outcomes and the
    tranche's result are stored in one transaction;
 2. **delivers** every cleared tranche: its trades become fills of the `crossclear-auction` venue, signed by
    that venue's key, submitted through ingest (the close-out venue's rules: offchain/ingest/validation.py).
    A delivery rebuilds the fills from the stored outcomes and sends only those not stored yet, so a crash
    between clearing and ingest, or a refused fill, is retried at the next step;
 3. **opens** the next tranche of each instrument the defaulter still holds (live position: settled plus
    unsettled fills), once none is open and `interval_s` has passed since the last one opened: `tranche_bps`
    of the position at DECLARE, at most what is left. Tranches are numbered per default across instruments
    (so fill ids `a{default}-t{tranche}-{n}` are unique).

Members bid with `submit_bid(bid, signature)` (EIP-712 `Bid`, domain `auctions_domain`): a bid that is
not the bidder's, or names no open tranche, is refused and not stored; any other is stored, with its
refusal as outcome when it is already invalid (side, expiry, eligibility, band against the opening mark).
Times are chain seconds (`clock`); fill timestamps are ingest's milliseconds (`fill_clock_ms`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from sqlalchemy import Connection, Engine, Row, and_, insert, select, update

from offchain.core.bid import Bid
from offchain.core.eip712 import Domain
from offchain.core.fills import Fill
from offchain.defaults.auction import (
    AUCTION_VENUE,
    AuctionParams,
    Award,
    BidRefusal,
    Tranche,
    TrancheResult,
    clear_tranche,
    in_band,
    result_fills,
    tranche_qty,
)
from offchain.ingest.positions import live_positions
from offchain.ingest.service import AckStatus, Ingestor, wall_clock_ms
from offchain.ledger import schema as t

log = logging.getLogger("crossclear.auction")

NO_OPEN_TRANCHE = "NO_OPEN_TRANCHE"


@dataclass(frozen=True)
class BidAck:
    accepted: bool  # stored and in the running for its tranche
    reason: str | None  # a BidRefusal value, or NO_OPEN_TRANCHE
    bid_id: int | None  # the stored bid (also for a stored refusal)


@dataclass(frozen=True)
class Delivery:
    tranche: Tranche
    fills: int  # sent this step
    accepted: int
    refused: tuple[str, ...]  # "fill id: reason detail"


@dataclass
class StepReport:
    opened: list[Tranche]
    cleared: list[TrancheResult]
    delivered: list[Delivery]


def wall_clock_s() -> int:
    return int(time.time())


def latest_mark(conn: Connection, instrument: str) -> int | None:
    m = t.marks
    row = conn.execute(
        select(m.c.price).where(m.c.instrument == instrument).order_by(m.c.ts_ms.desc(), m.c.id.desc()).limit(1)
    ).first()
    return int(row[0]) if row else None


class AuctionHouse:
    def __init__(
        self,
        db: Engine,
        ingestor: Ingestor,
        venue_key: str,
        fills_domain: Domain,
        auctions_domain: Domain,
        house_account: int,
        params: AuctionParams | None = None,
        *,
        clock: Callable[[], int] = wall_clock_s,
        fill_clock_ms: Callable[[], int] = wall_clock_ms,
        venue: str = AUCTION_VENUE,
    ) -> None:
        self.db = db
        self.ingestor = ingestor
        self._key = venue_key
        self.fills_domain = fills_domain
        self.domain = auctions_domain
        self.house = house_account
        self.params = params or AuctionParams()
        self.clock = clock
        self.fill_clock_ms = fill_clock_ms
        self.venue = venue

    # ---------------------------------------------------------------- bids

    def submit_bid(self, bid: Bid, signature: bytes) -> BidAck:
        if not bid.verify(signature, self.domain):
            return BidAck(False, BidRefusal.BAD_SIGNATURE.value, None)
        now = self.clock()
        with self.db.begin() as conn:
            row = self._tranche_row(conn, bid.auction, bid.tranche)
            if row is None or row.status != "open" or row.instrument != bid.instrument:
                return BidAck(False, NO_OPEN_TRANCHE, None)
            tranche = _tranche(row, self._defaulter(conn, bid.auction))
            refusal = self._precheck(conn, tranche, bid, now)
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
                    received_ms=self.fill_clock_ms(),
                    outcome=refusal.value if refusal else None,
                )
                .returning(t.auction_bids.c.id)
            ).scalar_one()
        return BidAck(refusal is None, refusal.value if refusal else None, int(bid_id))

    def _precheck(self, conn: Connection, tranche: Tranche, bid: Bid, now: int) -> BidRefusal | None:
        if bid.buy != tranche.defaulter_sells:
            return BidRefusal.WRONG_SIDE
        if bid.expiry < now:
            return BidRefusal.EXPIRED
        if self._eligible(conn, tranche).get(bid.bidder) is None:
            return BidRefusal.NOT_ELIGIBLE
        if not in_band(bid.price, tranche.mark, self.params.band_bps):
            return BidRefusal.OUT_OF_BAND
        return None

    # ---------------------------------------------------------------- the loop

    def step(self) -> StepReport:
        now = self.clock()
        report = StepReport([], [], [])
        with self.db.connect() as conn:
            defaults = self._live_defaults(conn)
        for default_id, account, at_declare in defaults:
            with self.db.connect() as conn:
                due = conn.execute(
                    select(t.auction_tranches).where(
                        t.auction_tranches.c.default_id == default_id,
                        t.auction_tranches.c.status == "open",
                        t.auction_tranches.c.opened_at + self.params.interval_s <= now,
                    )
                ).all()
            for row in due:
                result = self._clear(default_id, account, row.tranche, now)
                if result is not None:
                    report.cleared.append(result)
            report.delivered.extend(self._deliver_all(default_id, account))
            report.opened.extend(self._open(default_id, account, at_declare, now))
        return report

    def run(self, interval_s: float, stop: Callable[[], bool]) -> None:
        while not stop():
            started = time.monotonic()
            self.step()
            time.sleep(max(0.0, interval_s - (time.monotonic() - started)))

    # ---------------------------------------------------------------- reads

    def _live_defaults(self, conn: Connection) -> list[tuple[int, int, dict[str, int]]]:
        """(default id, defaulter, positions at DECLARE) of declared defaults whose DECLARE is on-chain."""
        d, b = t.defaults, t.batches
        rows = conn.execute(
            select(d.c.id, d.c.account, d.c.positions)
            .join(b, and_(b.c.sequence == d.c.declared_sequence, b.c.status == "confirmed"))
            .where(d.c.status == "declared")
            .order_by(d.c.id)
        ).all()
        return [(r.id, r.account, {i: int(q) for i, q in r.positions.items()}) for r in rows]

    def _defaulter(self, conn: Connection, default_id: int) -> int:
        return int(conn.execute(select(t.defaults.c.account).where(t.defaults.c.id == default_id)).scalar_one())

    def _tranche_row(self, conn: Connection, default_id: int, index: int) -> Row[Any] | None:
        at = t.auction_tranches
        return conn.execute(select(at).where(at.c.default_id == default_id, at.c.tranche == index)).first()

    def _eligible(self, conn: Connection, tranche: Tranche) -> dict[str, int]:
        """Checksummed address -> account of the active members allowed to trade the instrument, but the defaulter."""
        m, p = t.members, t.permissions
        rows = conn.execute(
            select(m.c.account, m.c.address)
            .join(p, and_(p.c.member == m.c.account, p.c.instrument == tranche.instrument))
            .where(m.c.status == "active", m.c.account != tranche.defaulter)
        )
        return {str(addr): int(a) for a, addr in rows}

    def _addresses(self, conn: Connection) -> dict[int, str]:
        return {int(a): str(addr) for a, addr in conn.execute(select(t.members.c.account, t.members.c.address))}

    # ---------------------------------------------------------------- clearing

    def _clear(self, default_id: int, account: int, index: int, now: int) -> TrancheResult | None:
        at, ab = t.auction_tranches, t.auction_bids
        with self.db.begin() as conn:
            row = self._tranche_row(conn, default_id, index)
            if row is None or row.status != "open":
                return None  # cleared meanwhile
            mark = latest_mark(conn, row.instrument) or int(row.mark)
            live = live_positions(conn, [account]).get((account, row.instrument), 0)
            left = live if row.defaulter_sells else -live  # what the defaulter can still close on this side
            qty = min(int(row.qty), max(left, 0))
            bids = conn.execute(
                select(ab)
                .where(ab.c.default_id == default_id, ab.c.tranche == index, ab.c.outcome.is_(None))
                .order_by(ab.c.id)
            ).all()
            tranche = Tranche(default_id, index, row.instrument, account, bool(row.defaulter_sells), qty, mark)
            penalty = int(
                conn.execute(select(t.defaults.c.penalty_bps).where(t.defaults.c.id == default_id)).scalar_one()
            )
            signed = [(_bid(b), bytes(b.signature)) for b in bids]
            if qty > 0:
                result = clear_tranche(
                    tranche, signed, self.domain, now, self._eligible(conn, tranche), self.params, penalty
                )
            else:  # flat already (nothing to close on this side): every bid loses
                result = TrancheResult(tranche, (), (), 0, mark)
            won = {a.bid_index: a for a in result.awards}
            refused = dict(result.refused)
            for i, b in enumerate(bids):
                award = won.get(i)
                outcome = "won" if award else refused[i].value if i in refused else "lost"
                conn.execute(
                    update(ab).where(ab.c.id == b.id).values(outcome=outcome, filled_qty=award.qty if award else 0)
                )
            conn.execute(
                update(at)
                .where(at.c.default_id == default_id, at.c.tranche == index)
                .values(
                    status="cleared",
                    qty=qty,
                    mark=mark,
                    bid_qty=result.bid_qty,
                    residual_qty=result.residual_qty,
                    residual_price=result.residual_price,
                )
            )
        log.info(
            "tranche cleared",
            extra={"default": default_id, "tranche": index, "bid_qty": result.bid_qty, "house": result.residual_qty},
        )
        return result

    # ---------------------------------------------------------------- delivery

    def stored_result(self, conn: Connection, default_id: int, index: int) -> TrancheResult:
        """A cleared tranche's result rebuilt from the ledger: the winning bids in the order they won."""
        row = self._tranche_row(conn, default_id, index)
        assert row is not None and row.status == "cleared"
        tranche = _tranche(row, self._defaulter(conn, default_id))
        ab = t.auction_bids
        won = conn.execute(
            select(ab.c.id, ab.c.bidder, ab.c.price, ab.c.qty, ab.c.filled_qty).where(
                ab.c.default_id == default_id, ab.c.tranche == index, ab.c.outcome == "won"
            )
        ).all()
        sign = -1 if tranche.defaulter_sells else 1
        ordered = sorted(won, key=lambda b: (sign * b.price, -b.qty, b.id))
        accounts = {v: k for k, v in self._addresses(conn).items()}
        awards = tuple(Award(int(b.id), accounts[b.bidder], int(b.filled_qty), int(b.price)) for b in ordered)
        return TrancheResult(tranche, awards, (), int(row.residual_qty or 0), int(row.residual_price or tranche.mark))

    def _deliver_all(self, default_id: int, account: int) -> list[Delivery]:
        at = t.auction_tranches
        with self.db.connect() as conn:
            cleared = conn.execute(
                select(at.c.tranche)
                .where(at.c.default_id == default_id, at.c.status == "cleared")
                .order_by(at.c.tranche)
            ).scalars()
            pending = []
            for index in cleared:
                result = self.stored_result(conn, default_id, index)
                fills = result_fills(result, self._addresses(conn), self.house, self.fill_clock_ms(), self.venue)
                stored = set(
                    conn.execute(
                        select(t.fills.c.venue_fill_id).where(
                            t.fills.c.venue == self.venue,
                            t.fills.c.venue_fill_id.in_([f.venue_fill_id for f in fills]),
                        )
                    ).scalars()
                )
                missing = [f for f in fills if f.venue_fill_id not in stored]
                if missing:
                    pending.append((result.tranche, missing))
        return [self._send(tranche, fills) for tranche, fills in pending]

    def _send(self, tranche: Tranche, fills: list[Fill]) -> Delivery:
        signed = [(f, bytes(Account.unsafe_sign_hash(f.digest(self.fills_domain), self._key).signature)) for f in fills]
        acks = self.ingestor.submit_many(signed)
        ok = sum(a.status in (AckStatus.ACCEPTED, AckStatus.DUPLICATE) for a in acks)
        refused = tuple(
            f"{f.venue_fill_id}: {a.reason} {a.detail}"
            for f, a in zip(fills, acks, strict=True)
            if a.status == AckStatus.REJECTED
        )
        if refused:
            log.error("auction fills refused by ingest", extra={"tranche": tranche.index, "refused": refused})
            with self.db.begin() as conn:
                conn.execute(
                    insert(t.alerts).values(
                        ts_ms=self.fill_clock_ms(),
                        kind="auction_fill_refused",
                        subject=f"a{tranche.auction}-t{tranche.index}",
                        detail="; ".join(refused)[:512],
                    )
                )
        return Delivery(tranche, len(fills), ok, refused)

    # ---------------------------------------------------------------- opening

    def _open(self, default_id: int, account: int, at_declare: Mapping[str, int], now: int) -> list[Tranche]:
        at = t.auction_tranches
        opened: list[Tranche] = []
        with self.db.begin() as conn:
            rows = conn.execute(select(at).where(at.c.default_id == default_id).order_by(at.c.tranche)).all()
            live = live_positions(conn, [account])
            next_index = len(rows)
            for instrument, qty_at_declare in sorted(at_declare.items()):
                mine = [r for r in rows if r.instrument == instrument]
                if any(r.status == "open" for r in mine):
                    continue
                if mine and now < mine[-1].opened_at + self.params.interval_s:
                    continue
                remaining = live.get((account, instrument), 0)
                if remaining == 0 or (remaining > 0) != (qty_at_declare > 0):
                    continue  # closed (or, impossibly, flipped: ingest only lets the auction reduce)
                mark = latest_mark(conn, instrument)
                if mark is None:
                    log.warning("no mark to open a tranche on", extra={"instrument": instrument})
                    continue
                tranche = Tranche(
                    default_id,
                    next_index,
                    instrument,
                    account,
                    remaining > 0,
                    tranche_qty(qty_at_declare, remaining, self.params.tranche_bps),
                    mark,
                )
                conn.execute(
                    insert(at).values(
                        default_id=default_id,
                        instrument=instrument,
                        tranche=tranche.index,
                        defaulter_sells=tranche.defaulter_sells,
                        qty=tranche.qty,
                        mark=mark,
                        opened_at=now,
                        status="open",
                    )
                )
                next_index += 1
                opened.append(tranche)
        for tr in opened:
            log.info("tranche opened", extra={"default": default_id, "tranche": tr.index, "qty": tr.qty})
        return opened

    def open_tranches(self) -> list[Tranche]:
        """Every tranche open for bids now (what bidders look at)."""
        at = t.auction_tranches
        with self.db.connect() as conn:
            rows = conn.execute(select(at).where(at.c.status == "open").order_by(at.c.default_id, at.c.tranche)).all()
            return [_tranche(r, self._defaulter(conn, r.default_id)) for r in rows]


def _tranche(r: Row[Any], defaulter: int) -> Tranche:
    """A Row of auction_tranches."""
    return Tranche(
        int(r.default_id),
        int(r.tranche),
        str(r.instrument),
        defaulter,
        bool(r.defaulter_sells),
        int(r.qty),
        int(r.mark),
    )


def _bid(r: Row[Any]) -> Bid:
    """A Row of auction_bids."""
    return Bid(
        auction=r.default_id,
        tranche=r.tranche,
        instrument=r.instrument,
        buy=r.buy,
        qty=r.qty,
        price=r.price,
        bidder=r.bidder,
        expiry=r.expiry,
    )
