"""The auction house: the service that runs close-out auctions of defaulted members, and of exiting members
that kept their positions past the close-out delay (exit close-outs, offchain/defaults/closeout.py; the pure
rules are in offchain/defaults/auction.py; docs/defaults.md §2 and §2a).

`step()` (call it every few seconds, or `run()`), for every default whose DECLARE batch is confirmed, and every
running exit close-out of a member that is `exiting` (one under a margin call waits: it is `close_only`):
 1. **clears** each open tranche whose deadline (`opened_at + interval_s`) has passed: the stored bids are
    judged at that moment (`clear_tranche`) against the instrument's guarded mark, their outcomes and the
    tranche's result are stored in one transaction;
 2. **delivers** every cleared tranche: its trades become fills of the `crossclear-auction` venue, signed by
    that venue's key, submitted through ingest (the close-out venue's rules: offchain/ingest/validation.py).
    A delivery rebuilds the fills from the stored outcomes and sends only those not stored yet, so a crash
    between clearing and ingest, or a refused fill, is retried at the next step;
 3. **opens** the next tranche of each instrument the defaulter still holds (live position: settled plus
    unsettled fills), once none is open and `interval_s` has passed since the last one opened: `tranche_bps`
    of the position at DECLARE, at most what is left. Tranches are numbered per default across instruments
    (so fill ids `a{default}-t{tranche}-{n}` are unique).

An exit close-out differs in one rule: what its tranche is not bid is not closed against the house (the
member is not in default); the tranche clears with the bids only and the rest is offered again in the next
tranche, `interval_s` later. A tranche that offers something and gets no bid raises `exit_closeout_stalled`
(once per run of unbid tranches).

Members bid with `submit_bid(bid, signature)` (EIP-712 `Bid`, domain `auctions_domain`): a bid that is
not the bidder's, or names no open tranche, is refused and not stored; any other is stored, with its
refusal as outcome when it is already invalid (side, expiry, eligibility, band against the opening mark).
Times are chain seconds (`clock`); fill timestamps are ingest's milliseconds (`fill_clock_ms`).

The mark a tranche opens and clears at is the instrument's guarded mark (offchain/ledger/prices.py
`guarded_mark`: the engine's latest-price rule, with the instrument's staleness bound and jump band), never a
raw latest row. With none (no fresh index, or a jump the engine has not confirmed yet) no tranche opens and
none clears: they wait for the step after the engine settles the move. The ledger is read and written
through offchain/ledger/auctions.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from eth_account import Account

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
from offchain.ingest.service import AckStatus, Ingestor, wall_clock_ms
from offchain.ledger import auctions as store
from offchain.ledger.alerts import record_alert
from offchain.ledger.auctions import DEFAULT_KIND, EXIT_CLOSEOUT_KIND, TrancheRow
from offchain.ledger.defaults import member_status
from offchain.ledger.fills_store import live_positions
from offchain.ledger.handles import Connection, Engine
from offchain.ledger.instruments import load_instruments
from offchain.ledger.prices import guarded_mark
from offchain.marketdata.index import IndexRule

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


def current_mark(conn: Connection, instrument: str, now_s: int, rule: IndexRule | None = None) -> int | None:
    """The instrument's guarded mark at chain second `now_s` (None: unknown instrument or no fresh mark)."""
    spec = load_instruments(conn).get(instrument)
    return None if spec is None else guarded_mark(conn, spec, now_s * 1000, rule)


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
        index_rule: IndexRule | None = None,
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
        self.index_rule = index_rule or IndexRule()  # the engine's index rule (marks read as it reads them)

    # ---------------------------------------------------------------- bids

    def submit_bid(self, bid: Bid, signature: bytes) -> BidAck:
        if not bid.verify(signature, self.domain):
            return BidAck(False, BidRefusal.BAD_SIGNATURE.value, None)
        now = self.clock()
        with self.db.begin() as conn:
            row = store.tranche(conn, bid.auction, bid.tranche)
            if row is None or row.status != store.OPEN or row.instrument != bid.instrument:
                return BidAck(False, NO_OPEN_TRANCHE, None)
            tranche = _tranche(row, store.defaulter(conn, bid.auction))
            refusal = self._precheck(conn, tranche, bid, now)
            outcome = refusal.value if refusal else None
            bid_id = store.store_bid(conn, bid, signature, self.fill_clock_ms(), outcome)
        return BidAck(refusal is None, outcome, bid_id)

    def _precheck(self, conn: Connection, tranche: Tranche, bid: Bid, now: int) -> BidRefusal | None:
        if bid.buy != tranche.defaulter_sells:
            return BidRefusal.WRONG_SIDE
        if bid.expiry < now:
            return BidRefusal.EXPIRED
        if store.eligible_bidders(conn, tranche.instrument, tranche.defaulter).get(bid.bidder) is None:
            return BidRefusal.NOT_ELIGIBLE
        if not in_band(bid.price, tranche.mark, self.params.band_bps):
            return BidRefusal.OUT_OF_BAND
        return None

    # ---------------------------------------------------------------- the loop

    def step(self) -> StepReport:
        now = self.clock()
        report = StepReport([], [], [])
        with self.db.connect() as conn:
            defaults = store.live_defaults(conn)
            closeouts = store.live_closeouts(conn)
            # An exit close-out runs while its member is `exiting`: one under a margin call (close_only) may not
            # trade on any venue, so its close-out waits (the engine ends it if it defaults).
            status = member_status(conn, [c.account for c in closeouts])
        books = defaults + [c for c in closeouts if status.get(c.account) == "exiting"]
        for live in books:
            with self.db.connect() as conn:
                due = store.due_tranches(conn, live.id, self.params.interval_s, now)
            for row in due:
                result = self._clear(live.id, live.account, row.tranche, now, live.kind)
                if result is not None:
                    report.cleared.append(result)
            report.delivered.extend(self._deliver_all(live.id, live.account))
            report.opened.extend(self._open(live.id, live.account, live.at_declare, now))
        return report

    def run(self, interval_s: float, stop: Callable[[], bool]) -> None:
        while not stop():
            started = time.monotonic()
            self.step()
            time.sleep(max(0.0, interval_s - (time.monotonic() - started)))

    # ---------------------------------------------------------------- clearing

    def _clear(
        self, default_id: int, account: int, index: int, now: int, kind: str = DEFAULT_KIND
    ) -> TrancheResult | None:
        with self.db.begin() as conn:
            row = store.tranche(conn, default_id, index)
            if row is None or row.status != store.OPEN:
                return None  # cleared meanwhile
            mark = current_mark(conn, row.instrument, now, self.index_rule)
            if mark is None:  # no mark the engine would settle at: judging bids now would be blind
                log.warning("no mark to clear a tranche at", extra={"default": default_id, "tranche": index})
                return None
            live = live_positions(conn, [account]).get((account, row.instrument), 0)
            left = live if row.defaulter_sells else -live  # what the defaulter can still close on this side
            qty = min(row.qty, max(left, 0))
            bids = store.pending_bids(conn, default_id, index)
            tranche = Tranche(default_id, index, row.instrument, account, row.defaulter_sells, qty, mark)
            penalty = store.penalty_bps(conn, default_id)
            signed = [(b.bid, b.signature) for b in bids]
            if qty > 0:
                eligible = store.eligible_bidders(conn, tranche.instrument, tranche.defaulter)
                result = clear_tranche(tranche, signed, self.domain, now, eligible, self.params, penalty)
            else:  # flat already (nothing to close on this side): every bid loses
                result = TrancheResult(tranche, (), (), 0, mark)
            if kind == EXIT_CLOSEOUT_KIND:  # not a defaulter: nothing goes to the house, the rest is offered again
                result = replace(result, residual_qty=0, residual_price=mark)
                if qty > 0 and result.bid_qty == 0 and not store.stalled_before(conn, default_id, index):
                    record_alert(
                        conn,
                        self.fill_clock_ms(),
                        "exit_closeout_stalled",
                        str(account),
                        f"exit close-out {default_id} of account {account}: tranche {index} ({qty} {row.instrument} "
                        f"at mark {mark}) got no acceptable bid; offered again every {self.params.interval_s} s "
                        "while the member keeps the position, its margin and its losses",
                    )
            won = {a.bid_index: a for a in result.awards}
            refused = dict(result.refused)
            for i, b in enumerate(bids):
                award = won.get(i)
                outcome = "won" if award else refused[i].value if i in refused else "lost"
                store.set_outcome(conn, b.id, outcome, award.qty if award else 0)
            store.clear_tranche(
                conn, default_id, index, qty, mark, result.bid_qty, result.residual_qty, result.residual_price
            )
        log.info(
            "tranche cleared",
            extra={"default": default_id, "tranche": index, "bid_qty": result.bid_qty, "house": result.residual_qty},
        )
        return result

    # ---------------------------------------------------------------- delivery

    def stored_result(self, conn: Connection, default_id: int, index: int) -> TrancheResult:
        """A cleared tranche's result rebuilt from the ledger: the winning bids in the order they won."""
        row = store.tranche(conn, default_id, index)
        assert row is not None and row.status == store.CLEARED
        tranche = _tranche(row, store.defaulter(conn, default_id))
        won = store.won_bids(conn, default_id, index)
        sign = -1 if tranche.defaulter_sells else 1
        ordered = sorted(won, key=lambda b: (sign * b.price, -b.qty, b.id))
        accounts = {v: k for k, v in store.member_addresses(conn).items()}
        awards = tuple(Award(b.id, accounts[b.bidder], b.filled_qty, b.price) for b in ordered)
        return TrancheResult(tranche, awards, (), row.residual_qty or 0, row.residual_price or tranche.mark)

    def _deliver_all(self, default_id: int, account: int) -> list[Delivery]:
        with self.db.connect() as conn:
            pending = []
            for index in store.cleared_indexes(conn, default_id):
                result = self.stored_result(conn, default_id, index)
                addresses = store.member_addresses(conn)
                fills = result_fills(result, addresses, self.house, self.fill_clock_ms(), self.venue)
                stored = store.stored_fill_ids(conn, self.venue, [f.venue_fill_id for f in fills])
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
                subject = f"a{tranche.auction}-t{tranche.index}"
                record_alert(conn, self.fill_clock_ms(), "auction_fill_refused", subject, "; ".join(refused))
        return Delivery(tranche, len(fills), ok, refused)

    # ---------------------------------------------------------------- opening

    def _open(self, default_id: int, account: int, at_declare: Mapping[str, int], now: int) -> list[Tranche]:
        opened: list[Tranche] = []
        with self.db.begin() as conn:
            rows = store.tranches_of(conn, default_id)
            live = live_positions(conn, [account])
            next_index = len(rows)
            for instrument, qty_at_declare in sorted(at_declare.items()):
                mine = [r for r in rows if r.instrument == instrument]
                if any(r.status == store.OPEN for r in mine):
                    continue
                if mine and now < mine[-1].opened_at + self.params.interval_s:
                    continue
                remaining = live.get((account, instrument), 0)
                if remaining == 0 or (remaining > 0) != (qty_at_declare > 0):
                    continue  # closed (or, impossibly, flipped: ingest only lets the auction reduce)
                mark = current_mark(conn, instrument, now, self.index_rule)
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
                store.open_tranche(
                    conn,
                    TrancheRow(
                        default_id, instrument, tranche.index, tranche.defaulter_sells, tranche.qty, mark, now, "open"
                    ),
                )
                next_index += 1
                opened.append(tranche)
        for tr in opened:
            log.info("tranche opened", extra={"default": default_id, "tranche": tr.index, "qty": tr.qty})
        return opened

    def open_tranches(self) -> list[Tranche]:
        """Every tranche open for bids now (what bidders look at)."""
        with self.db.connect() as conn:
            return [_tranche(r, store.defaulter(conn, r.default_id)) for r in store.open_tranches(conn)]


def _tranche(r: TrancheRow, defaulter: int) -> Tranche:
    return Tranche(r.default_id, r.tranche, r.instrument, defaulter, r.defaulter_sells, r.qty, r.mark)
