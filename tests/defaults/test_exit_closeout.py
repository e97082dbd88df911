"""The exit close-out's rules (offchain/defaults/closeout.py) on both ledger backends: the delay and its check
against the escape period; when the engine starts a close-out and what ends one (flat, cancelled, defaulted);
the auction house running it with its one different rule (what is not bid is offered again, never closed against
the house, with one `exit_closeout_stalled` alert per run of unbid tranches); ingest's close-out venue for an
exiting side; and what the API's views and member stream say of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, insert, select, update

from offchain.api.push import Cursor, member_events
from offchain.core.bid import Bid, auctions_domain
from offchain.core.fills import Fill, fills_domain
from offchain.defaults.auction import AUCTION_VENUE, AuctionParams
from offchain.defaults.closeout import (
    CloseoutChange,
    CloseoutTimingError,
    auction_time_s,
    closeout_delay,
    delay_in_force,
    sync_closeouts,
)
from offchain.defaults.house import AuctionHouse
from offchain.ingest import registry
from offchain.ingest.service import AckStatus, Ingestor
from offchain.ingest.validation import Reason
from offchain.ledger import schema as t
from offchain.ledger.views import defaults as defaults_view
from offchain.ledger.views.published import declared_defaults

T0 = 1_760_000_000  # chain seconds
BTC = 10**8
MARK = 20_000 * 10**6
CHAIN, VAULT = 31337, "0x" + "ab" * 20
FILLS, AUCTIONS = fills_domain(CHAIN, VAULT), auctions_domain(CHAIN, VAULT)
VENUE: LocalAccount = Account.from_key("0x" + "5a" * 32)
KEYS: dict[str, LocalAccount] = {n: Account.from_key("0x" + f"{k:02x}" * 32) for n, k in (("a", 0xA1), ("x", 0xC3))}
EXITING, A, OTHER, HOUSE = 4, 5, 6, 3
PARAMS = AuctionParams(tranche_bps=2_500, interval_s=10, band_bps=300)
DELAY = 100
DAY = 24 * 3600


@dataclass
class Clock:
    now: int = T0

    def s(self) -> int:
        return self.now

    def ms(self) -> int:
        return self.now * 1000


@dataclass
class Env:
    db: Engine
    clock: Clock
    house: AuctionHouse
    ingestor: Ingestor

    def sync(self, open_exits: frozenset[int] = frozenset({EXITING})) -> list[CloseoutChange]:
        """The engine's step: requests open since T0, the close-out delay DELAY, after batch 7."""
        with self.db.begin() as conn:
            return sync_closeouts(
                conn, open_exits, {a: T0 for a in open_exits}, DELAY, self.clock.now, 7, self.clock.ms()
            )

    def bid(self, closeout: int, tranche: int, qty: int, price: int = MARK) -> bool:
        bid = Bid(
            auction=closeout,
            tranche=tranche,
            instrument="BTC-USD-PERP",
            buy=True,
            qty=qty,
            price=price,
            bidder=KEYS["a"].address,
            expiry=T0 + 3600,
        )
        sig = bytes(Account.unsafe_sign_hash(bid.digest(AUCTIONS), KEYS["a"].key).signature)
        return self.house.submit_bid(bid, sig).accepted

    def fills(self) -> list[tuple[str, int, int, int]]:
        f = t.fills
        with self.db.connect() as conn:
            q = select(f.c.venue_fill_id, f.c.buyer, f.c.seller, f.c.qty).where(f.c.venue == AUCTION_VENUE)
            return [tuple(r) for r in conn.execute(q.order_by(f.c.id))]

    def tranches(self) -> list[tuple[int, str, int, int | None, int | None]]:
        at = t.auction_tranches
        with self.db.connect() as conn:
            q = select(at.c.tranche, at.c.status, at.c.qty, at.c.bid_qty, at.c.residual_qty).order_by(at.c.tranche)
            return [tuple(r) for r in conn.execute(q)]

    def alerts(self, kind: str) -> list[str]:
        with self.db.connect() as conn:
            return list(conn.execute(select(t.alerts.c.subject).where(t.alerts.c.kind == kind)).scalars())

    def closeout(self) -> tuple[int, str, str]:
        d = t.defaults
        with self.db.connect() as conn:
            row = conn.execute(select(d.c.id, d.c.kind, d.c.status).order_by(d.c.id.desc())).first()
        assert row is not None
        return int(row.id), str(row.kind), str(row.status)

    def set_status(self, account: int, status: str) -> None:
        with self.db.begin() as conn:
            registry.set_member_status(conn, account, status)
        self.ingestor.refresh()

    def auction_fill(self, fid: str, buyer: int, seller: int, qty: int) -> tuple[AckStatus, Reason | None]:
        address = {A: KEYS["a"].address, EXITING: KEYS["x"].address, OTHER: "0x" + "66" * 20}
        fill = Fill(
            venue=AUCTION_VENUE,
            venue_fill_id=fid,
            symbol="BTC-USD-PERP",
            buyer=address[buyer],
            seller=address[seller],
            qty=qty,
            price=MARK,
            ts=self.clock.ms(),
        )
        ack = self.ingestor.submit(fill, bytes(Account.unsafe_sign_hash(fill.digest(FILLS), VENUE.key).signature))
        return ack.status, ack.reason


@pytest.fixture
def env(ledger_url: str) -> Iterator[Env]:
    from offchain.ledger.db import open_ledger

    db = open_ledger(ledger_url)
    with db.begin() as conn:
        registry.add_instrument(conn, "BTC-USD-PERP", "perp", "BTC", 8, 500, 2_500, 10**9, 1)
        registry.register_venue(conn, "dex", "0x" + "77" * 20, "dex")
        registry.register_venue(conn, AUCTION_VENUE, VENUE.address, "auction")
        registry.approve_venue(conn, AUCTION_VENUE)
        registry.map_symbol(conn, AUCTION_VENUE, "BTC-USD-PERP", "BTC-USD-PERP")
        for account, address, name in (
            (EXITING, KEYS["x"].address, "leaver"),
            (A, KEYS["a"].address, "a"),
            (OTHER, "0x" + "66" * 20, "other"),
            (HOUSE, "0x" + "33" * 20, "house"),
        ):
            registry.admit_member(conn, account, address, name, "hedge_fund", "tier2", "buy_side")
            registry.grant(conn, account, "BTC-USD-PERP")
        registry.set_member_status(conn, EXITING, "exiting")
        conn.execute(insert(t.positions).values(member=EXITING, instrument="BTC-USD-PERP", venue="dex", qty=2 * BTC))
        conn.execute(insert(t.marks).values(instrument="BTC-USD-PERP", price=MARK, ts_ms=T0 * 1000, source="t"))
    clock = Clock()
    ingestor = Ingestor(db, FILLS, clock=clock.ms)
    house = AuctionHouse(
        db,
        ingestor,
        "0x" + bytes(VENUE.key).hex(),
        FILLS,
        AUCTIONS,
        HOUSE,
        PARAMS,
        clock=clock.s,
        fill_clock_ms=clock.ms,
    )
    yield Env(db, clock, house, ingestor)
    db.dispose()


# ---------------------------------------------------------------- the delay


def test_the_default_delay_is_a_quarter_of_the_escape_period_and_must_leave_the_auction_its_time() -> None:
    params = AuctionParams()  # four tranches, five minutes apart
    assert auction_time_s(params) == 5 * 300  # four tranches and one interval for the last fills to settle
    assert closeout_delay(7 * DAY, DAY, params, None) == 42 * 3600  # production: E = 7 days, L = 1 day
    room = 7 * DAY - DAY - auction_time_s(params)
    assert closeout_delay(7 * DAY, DAY, params, room - 1) == room - 1
    assert closeout_delay(7 * DAY, DAY, params, 0) == 0
    for bad in (room, -1):
        with pytest.raises(CloseoutTimingError, match="exit_closeout_after_s"):
            closeout_delay(7 * DAY, DAY, params, bad)
    with pytest.raises(CloseoutTimingError):  # an escape period too short for even the default
        closeout_delay(4 * auction_time_s(params) // 3, 0, params, None)
    # At a step, after governance shortened E under the delay: close out at once, and say why.
    assert delay_in_force(7 * DAY, DAY, params, 42 * 3600) == (42 * 3600, None)
    delay, error = delay_in_force(2 * DAY, DAY, params, 42 * 3600)
    assert delay == 0 and error is not None and "below escapePeriod 172800" in error


# ---------------------------------------------------------------- starting and ending


def test_a_close_out_starts_once_due_for_an_exiting_member_holding_positions_and_only_once(env: Env) -> None:
    env.clock.now = T0 + DELAY - 1
    assert env.sync() == []
    env.clock.now = T0 + DELAY
    (change,) = env.sync()
    assert (change.account, change.status) == (EXITING, "closing")
    with env.db.connect() as conn:
        row = conn.execute(select(t.defaults)).one()
    assert (row.kind, row.status, row.positions, row.declared_sequence, row.declared_at, row.penalty_bps) == (
        "exit_closeout",
        "closing",
        {"BTC-USD-PERP": str(2 * BTC)},
        7,
        T0 + DELAY,
        0,
    )
    assert env.alerts("exit_closeout_started") == [str(EXITING)]
    assert env.sync() == []  # running: no second one
    # A close-out is no default: the views of defaults, and what the auditor is published, leave it out.
    with env.db.connect() as conn:
        assert defaults_view.latest_default_of(conn, EXITING) is None
        assert defaults_view.open_default(conn) is None
        assert declared_defaults(conn) == []
        # The member's stream tells it (the defaults' cursor).
        events, cursor = member_events(conn, EXITING, Cursor())
    (event,) = [e for e in events if e["type"] in ("default", "exit_closeout")]
    assert (event["type"], event["status"], cursor.default) == ("exit_closeout", "closing", change.closeout)


def test_no_close_out_for_a_flat_member_or_one_that_is_not_exiting(env: Env) -> None:
    env.clock.now = T0 + DELAY
    for status in ("close_only", "defaulted", "active"):  # a margin call or a default comes first
        env.set_status(EXITING, status)
        assert env.sync() == []
    env.set_status(EXITING, "exiting")
    with env.db.begin() as conn:
        conn.execute(update(t.positions).values(qty=0))
    assert env.sync() == []  # flat: the engine serves its exit, nothing to auction


def test_a_close_out_ends_flat_defaulted_or_cancelled(env: Env) -> None:
    env.clock.now = T0 + DELAY
    env.sync()
    with env.db.begin() as conn:
        conn.execute(update(t.positions).values(qty=0))
    (change,) = env.sync()
    assert change.status == "flat" and env.closeout()[2] == "flat"

    with env.db.begin() as conn:  # a second request, a new book, then a default
        conn.execute(update(t.positions).values(qty=BTC))
    (started,) = env.sync()
    env.set_status(EXITING, "defaulted")
    (ended,) = env.sync()
    assert (ended.closeout, ended.status) == (started.closeout, "defaulted")
    assert env.alerts("exit_closeout_started") == [str(EXITING)] * 2


def test_a_cancel_during_the_close_out_withdraws_the_open_tranche_and_its_bids(env: Env) -> None:
    env.clock.now = T0 + DELAY
    env.sync()
    cid = env.closeout()[0]
    (opened,) = env.house.step().opened
    assert env.bid(cid, opened.index, BTC // 4)
    (change,) = env.sync(frozenset())  # the member called cancelExit
    assert change.status == "cancelled"
    assert env.tranches() == [(0, "cleared", 0, 0, 0)]
    with env.db.connect() as conn:
        assert conn.execute(select(t.auction_bids.c.outcome)).scalar_one() == "withdrawn"
    assert env.alerts("exit_closeout_cancelled") == [str(EXITING)]
    env.clock.now += 2 * PARAMS.interval_s
    report = env.house.step()
    assert (report.opened, report.cleared, report.delivered, env.fills()) == ([], [], [], [])


# ---------------------------------------------------------------- the auction


def test_an_unbid_tranche_is_offered_again_never_closed_against_the_house(env: Env) -> None:
    env.clock.now = T0 + DELAY
    env.sync()
    cid = env.closeout()[0]
    env.house.step()  # tranche 0: 25 % of the 2 BTC at the start
    for _ in range(2):  # two tranches pass without a bid: one alert
        env.clock.now += PARAMS.interval_s
        env.house.step()
    assert env.tranches()[:2] == [(0, "cleared", BTC // 2, 0, 0), (1, "cleared", BTC // 2, 0, 0)]
    assert env.fills() == []
    assert env.alerts("exit_closeout_stalled") == [str(EXITING)]
    # A bid for part of tranche 2: it trades at its price against the exiting member, the rest is not traded.
    assert env.bid(cid, 2, 3 * BTC // 10, MARK - 10**6)
    env.clock.now += PARAMS.interval_s
    report = env.house.step()
    (cleared,) = report.cleared
    assert (cleared.bid_qty, cleared.residual_qty) == (3 * BTC // 10, 0)
    assert env.fills() == [(f"a{cid}-t2-0", A, EXITING, 3 * BTC // 10)]
    assert [(x.index, x.qty) for x in report.opened] == [(3, BTC // 2)]  # of the 1.7 BTC left
    env.clock.now += PARAMS.interval_s
    env.house.step()  # unbid again after a traded tranche: a new alert
    assert env.alerts("exit_closeout_stalled") == [str(EXITING)] * 2


def test_a_close_out_waits_while_its_member_is_under_a_margin_call(env: Env) -> None:
    env.clock.now = T0 + DELAY
    env.sync()
    env.set_status(EXITING, "close_only")
    assert env.house.step().opened == []
    env.set_status(EXITING, "exiting")
    assert [x.qty for x in env.house.step().opened] == [BTC // 2]


def test_the_close_out_venue_takes_only_reductions_of_one_exiting_side(env: Env) -> None:
    assert env.auction_fill("x1", A, EXITING, BTC // 4) == (AckStatus.ACCEPTED, None)  # the long sells
    assert env.auction_fill("x2", EXITING, A, BTC // 4) == (AckStatus.REJECTED, Reason.EXITING)  # buys more
    assert env.auction_fill("x3", A, OTHER, BTC // 4) == (AckStatus.REJECTED, Reason.NOT_CLOSE_OUT)  # nobody out
    env.set_status(OTHER, "defaulted")
    # A defaulter and an exiting member do not close each other out: the counterparty must be active.
    assert env.auction_fill("x4", EXITING, OTHER, BTC // 4) == (AckStatus.REJECTED, Reason.NOT_CLOSE_OUT)
