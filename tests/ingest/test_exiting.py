"""A member with an open exit request on the vault (status `exiting`) may only reduce its positions: a fill
that grows or flips it is refused `EXITING` (issue 11, finding 2), and the ledger's statuses follow the vault's
open requests (`sync_exiting`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert

from offchain.ingest import AckStatus, Reason, registry
from offchain.ledger.defaults import member_status
from offchain.ledger.registry_store import sync_exiting
from offchain.ledger.schema import positions
from tests.ingest.conftest import ALICE, BOB, World, sign

BTC = 10**8


@pytest.fixture
def exiting(world: World) -> Iterator[World]:
    """alice (account 1) asked to exit, long 1 BTC."""
    with world.engine.begin() as conn:
        registry.set_member_status(conn, 1, "exiting")
        conn.execute(insert(positions).values(member=1, instrument="BTC-USD-PERP", venue="dexA", qty=BTC))
    yield world


def _submit(world: World, fid: str, buyer: str, seller: str, qty: int) -> AckStatus:
    fill = world.fill(venue_fill_id=fid, buyer=buyer, seller=seller, qty=qty)
    return world.ingestor.submit(fill, sign(fill)).status


def test_an_exiting_member_may_reduce_its_position(exiting: World) -> None:
    assert _submit(exiting, "r1", BOB, ALICE, BTC // 2) is AckStatus.ACCEPTED  # alice sells half
    assert _submit(exiting, "r2", BOB, ALICE, BTC // 2) is AckStatus.ACCEPTED  # and the rest, to flat
    assert exiting.rejection_reasons() == []


def test_an_exiting_member_cannot_add_exposure(exiting: World) -> None:
    assert _submit(exiting, "g1", ALICE, BOB, 1) is AckStatus.REJECTED  # alice buys more
    assert _submit(exiting, "g2", BOB, ALICE, BTC + 1) is AckStatus.REJECTED  # alice sells past flat: a flip
    assert exiting.rejection_reasons() == [Reason.EXITING.value] * 2


def test_a_flat_exiting_member_cannot_trade_again(world: World) -> None:
    """The griefing of finding 2: request an exit while flat, then trade again so that the IM rises."""
    with world.engine.begin() as conn:
        registry.set_member_status(conn, 1, "exiting")
    assert _submit(world, "f1", ALICE, BOB, 1) is AckStatus.REJECTED
    assert world.rejection_reasons() == [Reason.EXITING.value]


def test_sync_exiting_follows_the_vaults_open_requests(world: World) -> None:
    with world.engine.begin() as conn:
        assert sync_exiting(conn, frozenset({1, 4})) == [(1, "exiting")]  # dave (4) is close_only: it stays
        assert member_status(conn, [1, 2, 4]) == {1: "exiting", 2: "active", 4: "close_only"}
        assert sync_exiting(conn, frozenset({1, 4})) == []
        assert sync_exiting(conn, frozenset()) == [(1, "active")]  # alice cancelled her request
        assert member_status(conn, [1]) == {1: "active"}
