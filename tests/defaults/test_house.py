"""The auction house service (offchain/defaults/house.py) on both ledger backends: tranches open on a
schedule, signed bids are stored and judged, tranches clear at their deadline into auction-venue fills that
ingest accepts, a crash between clearing and delivery is recovered, and the defaulter ends flat."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, insert, select

from offchain.core.bid import Bid, auctions_domain
from offchain.core.fills import fills_domain
from offchain.defaults.auction import AUCTION_VENUE, AuctionParams, BidRefusal
from offchain.defaults.house import NO_OPEN_TRANCHE, AuctionHouse
from offchain.ingest import registry
from offchain.ingest.service import Ingestor
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from offchain.ledger.prices import record_price

T0 = 1_760_000_000  # chain seconds
BTC = 10**8
MARK = 20_000 * 10**6
CHAIN, VAULT = 31337, "0x" + "ab" * 20
FILLS, AUCTIONS = fills_domain(CHAIN, VAULT), auctions_domain(CHAIN, VAULT)
VENUE: LocalAccount = Account.from_key("0x" + "5a" * 32)
KEYS: dict[str, LocalAccount] = {n: Account.from_key("0x" + f"{k:02x}" * 32) for n, k in (("a", 0xA1), ("b", 0xB2))}
THIN, A, B, HOUSE = 4, 5, 6, 3
PENALTY = 50  # bps
PARAMS = AuctionParams(tranche_bps=2_500, interval_s=10, band_bps=300)


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

    def bid(self, who: str, tranche: int, price: int, qty: int, *, buy: bool = True, expiry: int = T0 + 3600) -> Bid:
        return Bid(
            auction=1,
            tranche=tranche,
            instrument="BTC-USD-PERP",
            buy=buy,
            qty=qty,
            price=price,
            bidder=KEYS[who].address,
            expiry=expiry,
        )

    def sign(self, bid: Bid, who: str) -> bytes:
        return bytes(Account.unsafe_sign_hash(bid.digest(AUCTIONS), KEYS[who].key).signature)

    def fills(self) -> list[tuple[str, int, int, int, int]]:
        f = t.fills
        with self.db.connect() as conn:
            return [
                (r.venue_fill_id, r.buyer, r.seller, r.qty, r.price)
                for r in conn.execute(select(f).where(f.c.venue == AUCTION_VENUE).order_by(f.c.id))
            ]

    def tranches(self) -> list[tuple[int, str, int, int | None, int | None]]:
        at = t.auction_tranches
        with self.db.connect() as conn:
            return [
                (r.tranche, r.status, r.qty, r.bid_qty, r.residual_qty)
                for r in conn.execute(select(at).order_by(at.c.tranche))
            ]


@pytest.fixture
def env(ledger_url: str) -> Iterator[Env]:
    db = open_ledger(ledger_url)
    with db.begin() as conn:
        registry.add_instrument(conn, "BTC-USD-PERP", "perp", "BTC", 8, 500, 2_500, 10**9, 1)
        registry.register_venue(conn, "dex", "0x" + "77" * 20, "dex")
        registry.register_venue(conn, AUCTION_VENUE, VENUE.address, "auction")
        registry.approve_venue(conn, AUCTION_VENUE)
        registry.map_symbol(conn, AUCTION_VENUE, "BTC-USD-PERP", "BTC-USD-PERP")
        for account, address, name in (
            (THIN, "0x" + "44" * 20, "thin"),
            (A, KEYS["a"].address, "a"),
            (B, KEYS["b"].address, "b"),
            (HOUSE, "0x" + "33" * 20, "house"),
        ):
            registry.admit_member(conn, account, address, name, "hedge_fund", "tier2", "buy_side")
            registry.grant(conn, account, "BTC-USD-PERP")
        registry.set_member_status(conn, THIN, "defaulted")
        conn.execute(insert(t.positions).values(member=THIN, instrument="BTC-USD-PERP", venue="dex", qty=2 * BTC))
        conn.execute(insert(t.marks).values(instrument="BTC-USD-PERP", price=MARK, ts_ms=T0 * 1000, source="t"))
        conn.execute(
            insert(t.batches).values(
                sequence=7,
                status="confirmed",
                prev_hash=b"\0" * 32,
                digest=b"\1" * 32,
                as_of_ms=T0 * 1000,
                payload={},
                built_ms=T0 * 1000,
            )
        )
        conn.execute(
            insert(t.defaults).values(
                account=THIN,
                status="declared",
                declared_sequence=7,
                declared_at=T0,
                positions={"BTC-USD-PERP": "200000000"},
                penalty_bps=PENALTY,
                pool_value=0,
                pool_shares=0,
                covered=0,
            )
        )
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
    yield Env(db, clock, house)
    db.dispose()


def test_tranches_open_bids_win_best_first_and_the_rest_goes_to_the_house(env: Env) -> None:
    report = env.house.step()
    assert [(x.index, x.qty, x.defaulter_sells, x.mark) for x in report.opened] == [(0, BTC // 2, True, MARK)]
    # A is best at 19,950 for 0.3; B bids 0.4 at 19,900 and gets the 0.2 left; a forged and a wrong-side bid.
    best, second = env.bid("a", 0, MARK - 50 * 10**6, 3 * BTC // 10), env.bid("b", 0, MARK - 100 * 10**6, 4 * BTC // 10)
    assert env.house.submit_bid(best, env.sign(best, "a")).accepted
    assert env.house.submit_bid(second, env.sign(second, "b")).accepted
    forged = env.house.submit_bid(best, env.sign(best, "b"))
    assert (forged.accepted, forged.reason, forged.bid_id) == (False, BidRefusal.BAD_SIGNATURE, None)
    wrong = env.bid("b", 0, MARK, BTC, buy=False)
    ack = env.house.submit_bid(wrong, env.sign(wrong, "b"))
    assert (ack.accepted, ack.reason) == (False, BidRefusal.WRONG_SIDE) and ack.bid_id is not None
    later = env.bid("a", 1, MARK, BTC)
    assert env.house.submit_bid(later, env.sign(later, "a")).reason == NO_OPEN_TRANCHE

    env.clock.now += 5
    assert env.house.step().cleared == []  # the deadline has not come
    env.clock.now += 5
    report = env.house.step()
    (result,) = report.cleared
    assert [(a.account, a.qty) for a in result.awards] == [(A, 3 * BTC // 10), (B, 2 * BTC // 10)]
    assert (result.residual_qty, result.bid_qty) == (0, BTC // 2)
    assert env.fills() == [
        ("a1-t0-0", A, THIN, 3 * BTC // 10, MARK - 50 * 10**6),
        ("a1-t0-1", B, THIN, 2 * BTC // 10, MARK - 100 * 10**6),
    ]
    # The next tranche opens at once on what is left (1.5 BTC): 25% of the 2 BTC at DECLARE.
    assert [(x.index, x.qty) for x in report.opened] == [(1, BTC // 2)]
    with env.db.connect() as conn:
        outcomes = conn.execute(
            select(t.auction_bids.c.outcome, t.auction_bids.c.filled_qty).order_by(t.auction_bids.c.id)
        ).all()
    assert [tuple(o) for o in outcomes] == [("won", 3 * BTC // 10), ("won", 2 * BTC // 10), ("WRONG_SIDE", None)]

    # Nobody bids on tranche 1: the house takes it at the mark less the penalty.
    env.clock.now += 10
    env.house.step()
    assert env.fills()[-1] == ("a1-t1-0", HOUSE, THIN, BTC // 2, MARK * (10_000 - PENALTY) // 10_000)


def test_the_defaulter_is_closed_in_four_tranches_and_then_nothing_opens(env: Env) -> None:
    for _ in range(6):
        env.house.step()
        env.clock.now += 10
    assert env.tranches() == [(k, "cleared", BTC // 2, 0, BTC // 2) for k in range(4)]
    assert sum(q for *_, q, _p in env.fills()) == 2 * BTC


def test_a_bid_expired_at_the_deadline_or_out_of_band_at_the_clearing_mark_loses(env: Env) -> None:
    env.house.step()
    short = env.bid("a", 0, MARK, BTC, expiry=T0 + 5)
    edge = env.bid("b", 0, MARK - 500 * 10**6, BTC)  # 2.5% under the opening mark: in band
    for bid, who in ((short, "a"), (edge, "b")):
        assert env.house.submit_bid(bid, env.sign(bid, who)).accepted
    with env.db.begin() as conn:  # the mark rises 1% before the deadline: B's bid is now 3.5% under it
        conn.execute(
            insert(t.marks).values(
                instrument="BTC-USD-PERP", price=MARK * 101 // 100, ts_ms=(T0 + 9) * 1000, source="t"
            )
        )
    env.clock.now += 10
    (result,) = env.house.step().cleared
    assert dict(result.refused) == {0: BidRefusal.EXPIRED, 1: BidRefusal.OUT_OF_BAND}
    assert result.residual_qty == BTC // 2 and result.residual_price == MARK * 101 // 100 * (10_000 - PENALTY) // 10_000


def test_a_crash_between_clearing_and_delivery_is_delivered_once_at_the_next_step(env: Env) -> None:
    env.house.step()
    bid = env.bid("a", 0, MARK, BTC // 4)
    env.house.submit_bid(bid, env.sign(bid, "a"))
    env.clock.now += 10
    env.house._clear(1, THIN, 0, env.clock.now)  # cleared and stored, then the process dies before ingest
    assert env.fills() == []
    env.clock.now += 1
    report = env.house.step()
    assert [(d.fills, d.accepted) for d in report.delivered] == [(2, 2)]
    assert [f[0] for f in env.fills()] == ["a1-t0-0", "a1-t0-1"]
    assert env.house.step().delivered == []  # nothing missing: nothing resent


def test_a_default_whose_declare_is_not_on_chain_is_not_auctioned(env: Env) -> None:
    with env.db.begin() as conn:
        conn.execute(t.batches.update().values(status="sent"))
    assert env.house.step().opened == []


def test_tranches_open_and_clear_at_the_guarded_mark_not_the_newest_row(env: Env) -> None:
    """The auction's mark is the engine's latest-price rule (ledger/prices.py `guarded_mark`): the index
    of the sources, so one bad observation recorded last moves neither the opening nor the clearing mark."""
    with env.db.begin() as conn:
        for source, price in (("u", MARK + 10**6), ("v", MARK - 10**6)):
            record_price(conn, "BTC-USD-PERP", price, T0 * 1000, source)
        record_price(conn, "BTC-USD-PERP", 2 * MARK, T0 * 1000 + 1, "bad")  # the newest row, 100 % off
    env.clock.now += 1  # every observation is in the past
    assert [x.mark for x in env.house.step().opened] == [MARK]
    env.clock.now += PARAMS.interval_s
    with env.db.begin() as conn:
        record_price(conn, "BTC-USD-PERP", MARK // 2, env.clock.ms(), "bad")  # the newest row again, -50 %
    (result,) = env.house.step().cleared
    assert (result.tranche.mark, result.residual_qty) == (MARK, BTC // 2)
    assert result.residual_price == MARK * (10_000 - PENALTY) // 10_000  # the house takes it below the index


def test_with_no_fresh_agreeing_mark_no_tranche_opens(env: Env) -> None:
    """Two sources 10 % apart: the index has no quorum of agreeing sources, the engine would halt the mark,
    and the house opens nothing rather than auction at either price."""
    with env.db.begin() as conn:
        record_price(conn, "BTC-USD-PERP", MARK * 11 // 10, T0 * 1000 + 1, "u")
    env.clock.now += 1  # both observations are in the past
    assert env.house.step().opened == []
    assert env.tranches() == []
