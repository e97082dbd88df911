"""The operator's registry functions: what they write and what they refuse."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from offchain.ingest import RegistryError, registry
from offchain.ingest.errors import (
    AlreadyExistsError,
    AlreadyGrantedError,
    InstrumentExistsError,
    InvalidRegistryValueError,
    MemberExistsError,
    NotFoundError,
    SymbolMappedError,
    UnknownInstrumentError,
    UnknownMemberError,
    UnknownVenueError,
    VenueExistsError,
)
from offchain.ingest.snapshot import RegistrySnapshot
from offchain.ledger.schema import members, venues
from tests.ingest.conftest import ALICE, NOW, OTHER_KEY, STRANGER, World

BTC = "BTC-USD-PERP"


def test_registered_venue_starts_unapproved_with_a_checksummed_signer(world: World) -> None:
    with world.engine.begin() as conn:
        registry.register_venue(conn, "otcC", STRANGER.lower(), "otc", created_ms=5)
        row = conn.execute(select(venues).where(venues.c.name == "otcC")).one()
        assert (row.signer, row.kind, row.approved, row.created_ms) == (STRANGER, "otc", False, 5)
        registry.approve_venue(conn, "otcC")
        registry.rotate_venue_signer(conn, "otcC", ALICE)
        snap = RegistrySnapshot.load(conn, NOW)
    assert (snap.venues["otcC"].signer, snap.venues["otcC"].approved) == (ALICE, True)


def test_snapshot_reflects_the_world(world: World) -> None:
    with world.engine.connect() as conn:
        snap = RegistrySnapshot.load(conn, NOW)
    assert snap.symbols[("cexB", "BTC-PERP")] == snap.symbols[("dexA", "BTC-PERP")] == "BTC-USD-PERP"
    assert not snap.instruments["OLD-USD-PERP"].active
    assert snap.members[ALICE].permitted == {"BTC-USD-PERP", "ETH-USD-PERP", "OLD-USD-PERP"}
    assert set(snap.marks) == {"BTC-USD-PERP"}
    assert snap.venues["cexB"].signer == OTHER_KEY.address and not snap.venues["cexB"].approved


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: registry.register_venue(c, "dexA", STRANGER, "dex"), VenueExistsError),
        (lambda c: registry.register_venue(c, "new", STRANGER, "broker"), InvalidRegistryValueError),
        (lambda c: registry.register_venue(c, "new", "0x1234", "dex"), InvalidRegistryValueError),
        (lambda c: registry.register_venue(c, "", STRANGER, "dex"), InvalidRegistryValueError),
        (lambda c: registry.approve_venue(c, "nowhere"), UnknownVenueError),
        (lambda c: registry.rotate_venue_signer(c, "nowhere", STRANGER), UnknownVenueError),
        (lambda c: registry.map_symbol(c, "nowhere", "X", "BTC-USD-PERP"), UnknownVenueError),
        (lambda c: registry.map_symbol(c, "dexA", "X", "NOPE"), UnknownInstrumentError),
        (lambda c: registry.map_symbol(c, "dexA", "BTC-PERP", "ETH-USD-PERP"), SymbolMappedError),
        (lambda c: registry.add_instrument(c, BTC, "perp", "BTC", 8, 500, 2000, 1, 1), InstrumentExistsError),
        (lambda c: registry.add_instrument(c, "X", "option", "BTC", 8, 500, 2000, 1, 1), InvalidRegistryValueError),
        (lambda c: registry.add_instrument(c, "X", "perp", "BTC", 8, 0, 2000, 1, 1), InvalidRegistryValueError),
        (lambda c: registry.add_instrument(c, "X", "perp", "BTC", 39, 500, 2000, 1, 1), InvalidRegistryValueError),
        (lambda c: registry.admit_member(c, 1, STRANGER, "x", "dao", "A", "g"), MemberExistsError),
        (lambda c: registry.admit_member(c, 9, ALICE.lower(), "x", "dao", "A", "g"), MemberExistsError),
        (lambda c: registry.set_member_status(c, 9, "active"), UnknownMemberError),
        (lambda c: registry.set_member_status(c, 1, "sleeping"), InvalidRegistryValueError),
        (lambda c: registry.grant(c, 9, "BTC-USD-PERP"), UnknownMemberError),
        (lambda c: registry.grant(c, 3, "NOPE"), UnknownInstrumentError),
        (lambda c: registry.grant(c, 1, "BTC-USD-PERP"), AlreadyGrantedError),
    ],
)
def test_refusals(world: World, call: object, error: type[RegistryError]) -> None:
    assert callable(call)
    with world.engine.begin() as conn, pytest.raises(error):
        call(conn)
    assert issubclass(error, RegistryError)


def test_error_families() -> None:
    assert issubclass(VenueExistsError, AlreadyExistsError) and issubclass(UnknownVenueError, NotFoundError)
    assert issubclass(InvalidRegistryValueError, ValueError) and issubclass(NotFoundError, LookupError)


def test_admitted_member_is_active_with_checksummed_address(world: World) -> None:
    with world.engine.begin() as conn:
        registry.admit_member(conn, 7, STRANGER.lower(), "fund", "hedge_fund", "B", "funds", created_ms=3)
        row = conn.execute(select(members).where(members.c.account == 7)).one()
    assert (row.address, row.status, row.tier, row.group_name, row.created_ms) == (STRANGER, "active", "B", "funds", 3)
