"""Every rejection reason, through the service on both backends: the ack carries the code, nothing
lands in `fills`, and the `rejections` table records it when the fill authenticated (a fill that did not
is only counted: anyone can send one)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from offchain.core.batch import INT128_MAX
from offchain.core.fills import Fill
from offchain.ingest import AckStatus, Reason, registry, validate
from offchain.ingest.snapshot import InstrumentInfo, Mark, MemberInfo, RegistrySnapshot, VenueInfo
from offchain.ingest.validation import AUTHENTICATION_REASONS, Accepted, Duplicate, Rejection
from tests.ingest.conftest import (
    ALICE,
    BOB,
    BTC_MARK,
    CAROL,
    DAVE,
    DOMAIN,
    NOW,
    OTHER_KEY,
    STRANGER,
    VENUE_KEY,
    World,
    sign,
)

Case = Callable[[World], tuple[Fill, bytes]]


def _signed(**overrides: object) -> Case:
    def make(world: World) -> tuple[Fill, bytes]:
        fill = world.fill(**overrides)
        return fill, sign(fill)

    return make


def _bad_signature(world: World) -> tuple[Fill, bytes]:
    fill = world.fill()
    return fill, sign(fill)[:64]


def _signed_by_other(venue: str) -> Case:
    def make(world: World) -> tuple[Fill, bytes]:
        fill = world.fill(venue=venue)
        return fill, sign(fill, OTHER_KEY)

    return make


def _zero(field: str) -> Case:
    def make(world: World) -> tuple[Fill, bytes]:
        # A venue could sign qty or price 0 (the EIP-712 type allows it) even though the model refuses to build one.
        fill = Fill.model_construct(**{**world.fill().model_dump(), field: 0})
        return fill, sign(fill)

    return make


def _exiting_grows(world: World) -> tuple[Fill, bytes]:
    # Alice asked the vault to let her leave (the settlement engine marks her `exiting`); flat, she buys.
    with world.engine.begin() as conn:
        registry.set_member_status(conn, 1, "exiting")
    fill = world.fill()
    return fill, sign(fill)


CASES: dict[str, tuple[Reason, Case]] = {
    "bad_signature": (Reason.BAD_SIGNATURE, _bad_signature),
    "unknown_venue": (Reason.UNKNOWN_VENUE, _signed(venue="nowhere")),
    "venue_not_approved": (Reason.VENUE_NOT_APPROVED, _signed_by_other("cexB")),
    "wrong_signer": (Reason.WRONG_SIGNER, _signed_by_other("dexA")),
    "unknown_symbol": (Reason.UNKNOWN_SYMBOL, _signed(symbol="DOGE-PERP")),
    "instrument_inactive": (Reason.INSTRUMENT_INACTIVE, _signed(symbol="OLD-PERP")),
    "ts_too_old": (Reason.TS_TOO_OLD, _signed(ts=NOW - 600_001)),
    "ts_in_future": (Reason.TS_IN_FUTURE, _signed(ts=NOW + 5_001)),
    "zero_qty": (Reason.BAD_QTY, _zero("qty")),
    "zero_price": (Reason.BAD_PRICE, _zero("price")),
    "notional_overflow": (Reason.BAD_QTY, _signed(qty=INT128_MAX // (BTC_MARK // 10**8) + 10**8)),
    "self_trade": (Reason.SELF_TRADE, _signed(buyer=ALICE, seller=ALICE)),
    "unknown_buyer": (Reason.UNKNOWN_MEMBER, _signed(buyer=STRANGER)),
    "unknown_seller": (Reason.UNKNOWN_MEMBER, _signed(seller=STRANGER)),
    "close_only_member": (Reason.MEMBER_NOT_ACTIVE, _signed(seller=DAVE)),
    "exiting_member_grows": (Reason.EXITING, _exiting_grows),
    "not_permitted": (Reason.NOT_PERMITTED, _signed(buyer=CAROL)),
    "no_mark": (Reason.NO_MARK, _signed(symbol="ETH-PERP")),
    "price_above_band": (Reason.PRICE_OUT_OF_BAND, _signed(price=BTC_MARK * 10_500 // 10_000 + 1)),
    "price_below_band": (Reason.PRICE_OUT_OF_BAND, _signed(price=BTC_MARK * 9_500 // 10_000 - 1)),
}


def test_every_reason_has_a_case() -> None:
    # CONFLICT: test_service.py; the close-out venue's reasons: test_closeout.py; POSITION_LIMIT:
    # test_position_limits.py (it needs the risk engine's calibrated model); EXITING's reductions: test_exiting.py
    others = {Reason.CONFLICT, Reason.NOT_CLOSE_OUT, Reason.NOT_REDUCING, Reason.POSITION_LIMIT}
    covered = {reason for reason, _ in CASES.values()} | others
    assert covered == set(Reason)


def test_every_reason_is_in_the_venues_table() -> None:
    """docs/venues.md's table of reasons names every code ingest answers, and no other."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "venues.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", text, flags=re.M))
    assert documented == {r.value for r in Reason}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rejection_reason(world: World, case: str) -> None:
    reason, make = CASES[case]
    fill, signature = make(world)
    ack = world.ingestor.submit(fill, signature)
    assert (ack.status, ack.reason, ack.fill_id) == (AckStatus.REJECTED, reason, None)
    assert ack.detail
    if reason in AUTHENTICATION_REASONS:
        assert world.rejection_reasons() == []
        assert world.ingestor.unauthenticated_counts() == {reason.value: 1}
    else:
        assert world.rejection_reasons() == [reason.value]
        assert world.ingestor.unauthenticated_counts() == {}
    assert world.fill_count() == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"ts": NOW - 600_000},  # oldest allowed
        {"ts": NOW + 5_000},  # furthest ahead allowed
        {"price": BTC_MARK * 10_500 // 10_000},  # on the upper band edge
        {"price": BTC_MARK * 9_500 // 10_000},  # on the lower band edge
    ],
)
def test_window_and_band_edges_are_accepted(world: World, overrides: dict[str, object]) -> None:
    fill = world.fill(**overrides)
    assert world.ingestor.submit(fill, sign(fill)).status is AckStatus.ACCEPTED


def test_stale_mark_is_no_mark(world: World) -> None:
    world.clock.now = NOW - 2_000 + 60_001  # the BTC mark is older than mark_stale_ms (60 s)
    fill = world.fill()
    ack = world.ingestor.submit(fill, sign(fill))
    assert ack.reason is Reason.NO_MARK
    assert "stale" in ack.detail


def test_unauthenticated_input_learns_nothing_about_members(world: World) -> None:
    """A fill signed by the wrong key with unknown members is refused for its signature alone."""
    fill = world.fill(buyer=STRANGER, seller=CAROL, symbol="DOGE-PERP")
    assert world.ingestor.submit(fill, sign(fill, OTHER_KEY)).reason is Reason.WRONG_SIGNER
    assert world.ingestor.submit(fill, b"\x00" * 65).reason is Reason.BAD_SIGNATURE


def _snapshot() -> RegistrySnapshot:
    return RegistrySnapshot(
        venues={"dexA": VenueInfo(VENUE_KEY.address, True)},
        symbols={("dexA", "BTC-PERP"): "BTC-USD-PERP"},
        instruments={"BTC-USD-PERP": InstrumentInfo("BTC-USD-PERP", 8, 500, 60_000, True)},
        members={
            ALICE: MemberInfo(1, "active", frozenset({"BTC-USD-PERP"})),
            BOB: MemberInfo(2, "active", frozenset({"BTC-USD-PERP"})),
        },
        marks={"BTC-USD-PERP": Mark(BTC_MARK, NOW)},
        loaded_ms=NOW,
    )


def test_pure_validate_resolves_and_judges_against_stored() -> None:
    snap = _snapshot()
    fill = Fill(
        venue="dexA", venue_fill_id="x", symbol="BTC-PERP", buyer=ALICE, seller=BOB, qty=1, price=BTC_MARK, ts=NOW
    )
    sig = sign(fill)
    sep = DOMAIN.separator
    assert validate(fill, sig, snap, NOW, domain_separator=sep) == Accepted("BTC-USD-PERP", 1, 2)
    assert validate(fill, sig, snap, NOW, domain_separator=sep, stored_leaf=fill.leaf()) == Duplicate()
    other = fill.model_copy(update={"qty": 2}).leaf()
    conflict = validate(fill, sig, snap, NOW, domain_separator=sep, stored_leaf=other)
    assert isinstance(conflict, Rejection) and conflict.reason is Reason.CONFLICT
    # A stored duplicate is still refused when the signature is not the venue's.
    wrong = validate(fill, sign(fill, OTHER_KEY), snap, NOW, domain_separator=sep, stored_leaf=fill.leaf())
    assert isinstance(wrong, Rejection) and wrong.reason is Reason.WRONG_SIGNER
    # Unapproving the venue in the snapshot is enough to refuse.
    unapproved = replace(snap, venues={"dexA": VenueInfo(VENUE_KEY.address, False)})
    refused = validate(fill, sig, unapproved, NOW, domain_separator=sep)
    assert isinstance(refused, Rejection) and refused.reason is Reason.VENUE_NOT_APPROVED
