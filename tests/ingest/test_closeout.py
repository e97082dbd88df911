"""The clearing house's close-out venue (kind "auction"): the only way a defaulted member's fills are
accepted, and only when they reduce its live position — one test per rule, on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import insert, update

from offchain.core.fills import Fill
from offchain.ingest import AckStatus, Reason, registry
from offchain.ingest.service import Ack
from offchain.ledger.schema import batches, fills, positions
from tests.ingest.conftest import ALICE, BOB, DAVE, NOW, World, sign

AUCTION_KEY: LocalAccount = Account.from_key("0x" + "33" * 32)
EVE = Account.from_key("0x" + "e5" * 32).address  # defaulted, long 1 BTC
FRANK = Account.from_key("0x" + "f6" * 32).address  # defaulted, short 1 BTC
BTC = 10**8


@pytest.fixture
def closeout(world: World) -> Iterator[World]:
    with world.engine.begin() as conn:
        registry.register_venue(conn, "crossclear-auction", AUCTION_KEY.address, "auction", created_ms=NOW)
        registry.approve_venue(conn, "crossclear-auction")
        registry.map_symbol(conn, "crossclear-auction", "BTC-USD-PERP", "BTC-USD-PERP")
        for account, address, name in ((5, EVE, "eve"), (6, FRANK, "frank")):
            registry.admit_member(conn, account, address, name, "hedge_fund", "B", "fund", created_ms=NOW)
            registry.grant(conn, account, "BTC-USD-PERP")
            registry.set_member_status(conn, account, "defaulted")
        conn.execute(
            insert(positions),
            [
                {"member": 5, "instrument": "BTC-USD-PERP", "venue": "dexA", "qty": BTC},
                {"member": 6, "instrument": "BTC-USD-PERP", "venue": "dexA", "qty": -BTC},
            ],
        )
    yield world


def _auction(world: World, fid: str, buyer: str, seller: str, qty: int, venue: str = "crossclear-auction") -> Ack:
    fill = world.fill(venue=venue, venue_fill_id=fid, symbol="BTC-USD-PERP", buyer=buyer, seller=seller, qty=qty)
    return world.ingestor.submit(fill, sign(fill, AUCTION_KEY))


def _signed(world: World, fid: str, buyer: str, seller: str, qty: int) -> tuple[Fill, bytes]:
    fill = world.fill(
        venue="crossclear-auction", venue_fill_id=fid, symbol="BTC-USD-PERP", buyer=buyer, seller=seller, qty=qty
    )
    return fill, sign(fill, AUCTION_KEY)


def test_a_reducing_close_out_fill_of_a_defaulted_member_is_accepted(closeout: World) -> None:
    assert _auction(closeout, "a1", ALICE, EVE, BTC // 4).status is AckStatus.ACCEPTED  # long sells
    assert _auction(closeout, "a2", FRANK, BOB, BTC).status is AckStatus.ACCEPTED  # short buys back to flat
    assert closeout.rejection_reasons() == []


def test_the_auction_venue_refuses_a_fill_with_no_defaulted_side(closeout: World) -> None:
    ack = _auction(closeout, "a1", ALICE, BOB, BTC // 4)
    assert (ack.status, ack.reason) == (AckStatus.REJECTED, Reason.NOT_CLOSE_OUT)


def test_the_auction_venue_refuses_two_defaulters_trading_with_each_other(closeout: World) -> None:
    ack = _auction(closeout, "a1", FRANK, EVE, BTC // 4)  # each would reduce, but no survivor takes the risk
    assert ack.reason is Reason.NOT_CLOSE_OUT


def test_a_close_out_fill_that_grows_the_position_is_refused(closeout: World) -> None:
    assert _auction(closeout, "a1", EVE, ALICE, BTC // 4).reason is Reason.NOT_REDUCING  # long buys more
    assert _auction(closeout, "a2", BOB, FRANK, BTC // 4).reason is Reason.NOT_REDUCING  # short sells more
    assert closeout.fill_count() == 0


def test_a_close_out_fill_that_flips_the_position_is_refused(closeout: World) -> None:
    assert _auction(closeout, "a1", ALICE, EVE, BTC + 1).reason is Reason.NOT_REDUCING
    assert _auction(closeout, "a2", ALICE, EVE, BTC).status is AckStatus.ACCEPTED  # exactly flat is fine


def test_a_flat_defaulter_cannot_be_traded_by_the_auction_venue(closeout: World) -> None:
    with closeout.engine.begin() as conn:
        conn.execute(positions.delete().where(positions.c.member == 5))
    assert _auction(closeout, "a1", ALICE, EVE, 1).reason is Reason.NOT_REDUCING


def test_fills_of_one_bulk_reduce_cumulatively(closeout: World) -> None:
    acks = closeout.ingestor.submit_many(
        [
            _signed(closeout, "a1", ALICE, EVE, 6 * BTC // 10),
            _signed(closeout, "a2", BOB, EVE, 6 * BTC // 10),  # 1.2 BTC in all: past flat
            _signed(closeout, "a3", BOB, EVE, 4 * BTC // 10),  # exactly the rest
        ]
    )
    assert [a.status for a in acks] == [AckStatus.ACCEPTED, AckStatus.REJECTED, AckStatus.ACCEPTED]
    assert acks[1].reason is Reason.NOT_REDUCING


def test_pending_and_in_flight_fills_count_towards_the_live_position(closeout: World) -> None:
    assert _auction(closeout, "a1", ALICE, EVE, BTC // 2).status is AckStatus.ACCEPTED  # pending
    assert _auction(closeout, "a2", BOB, EVE, BTC // 4).status is AckStatus.ACCEPTED
    # The second is claimed by a batch built but not confirmed: still not in `positions`, still counted.
    with closeout.engine.begin() as conn:
        conn.execute(
            insert(batches).values(
                sequence=1,
                status="built",
                prev_hash=b"\0" * 32,
                digest=b"\1" * 32,
                as_of_ms=NOW,
                payload={},
                built_ms=NOW,
            )
        )
        conn.execute(update(fills).where(fills.c.venue_fill_id == "a2").values(batch_sequence=1))
    assert _auction(closeout, "a3", ALICE, EVE, BTC // 4 + 1).reason is Reason.NOT_REDUCING
    assert _auction(closeout, "a4", ALICE, EVE, BTC // 4).status is AckStatus.ACCEPTED


def test_the_counterparty_of_a_close_out_must_be_active(closeout: World) -> None:
    assert _auction(closeout, "a1", DAVE, EVE, BTC // 4).reason is Reason.MEMBER_NOT_ACTIVE  # dave is close_only


def test_an_ordinary_venue_still_refuses_a_defaulted_member(closeout: World) -> None:
    fill = closeout.fill(buyer=ALICE, seller=EVE, qty=BTC // 4)
    assert closeout.ingestor.submit(fill, sign(fill)).reason is Reason.MEMBER_NOT_ACTIVE


def test_a_resent_close_out_fill_is_a_duplicate_even_once_flat(closeout: World) -> None:
    fill, sig = _signed(closeout, "a1", ALICE, EVE, BTC)
    first = closeout.ingestor.submit(fill, sig)
    again = closeout.ingestor.submit(fill, sig)
    assert (first.status, again.status, again.fill_id) == (AckStatus.ACCEPTED, AckStatus.DUPLICATE, first.fill_id)
