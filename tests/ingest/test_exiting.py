"""A member with an open exit request on the vault (status `exiting`) may only reduce its positions: a fill
that grows or flips it is refused `EXITING` (issue 11, finding 2), and the ledger's statuses follow the vault's
open requests (`sync_exiting`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, insert

from offchain.ingest import AckStatus, Reason, registry
from offchain.ledger.defaults import member_status
from offchain.ledger.registry_store import sync_exiting
from offchain.ledger.schema import positions
from tests.ingest.conftest import ALICE, BOB, DAVE, World, sign

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


def _statements(world: World, fills: list[tuple[str, str, str, int]]) -> tuple[int, list[AckStatus]]:
    """SQL statements one bulk runs, and its acks."""
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    items = []
    for fid, buyer, seller, qty in fills:
        fill = world.fill(venue_fill_id=fid, buyer=buyer, seller=seller, qty=qty)
        items.append((fill, sign(fill)))
    world.ingestor.refresh()  # the registry snapshot (and its statuses) read before counting
    event.listen(world.engine, "before_cursor_execute", counted)
    try:
        acks = world.ingestor.submit_many(items)
    finally:
        event.remove(world.engine, "before_cursor_execute", counted)
    return count, [a.status for a in acks]


def test_the_exiting_check_reads_no_database_per_fill(exiting: World) -> None:
    """Statuses come from the cached registry snapshot, and an exiting member's live positions are read once
    per bulk: a bulk of 20 reducing fills runs as many statements as a bulk of 2, and the same bulk between
    active members two fewer (`live_positions`: settled positions, then fills no batch has applied)."""
    small, acks = _statements(exiting, [(f"s{i}", BOB, ALICE, BTC // 40) for i in range(2)])
    assert acks == [AckStatus.ACCEPTED] * 2
    large, acks = _statements(exiting, [(f"l{i}", BOB, ALICE, BTC // 40) for i in range(20)])
    assert acks == [AckStatus.ACCEPTED] * 20
    assert large == small
    with exiting.engine.begin() as conn:
        registry.set_member_status(conn, 4, "active")  # dave trades with bob: two active members
    active, acks = _statements(exiting, [(f"a{i}", BOB, DAVE, 1) for i in range(20)])
    assert acks == [AckStatus.ACCEPTED] * 20
    assert large == active + 2
