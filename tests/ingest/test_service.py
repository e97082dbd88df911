"""The Ingestor: what it stores, idempotent resends, conflicts, bulks, commit-before-ack, races and
snapshot refresh — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, select

from offchain.core.fills import Fill
from offchain.ingest import AckStatus, Reason, registry
from offchain.ingest.service import Ack, Ingestor
from offchain.ledger import fills_store
from offchain.ledger.schema import fills, rejections
from tests.ingest.conftest import ALICE, BOB, DOMAIN, NOW, OTHER_KEY, STRANGER, World, sign


def test_accepted_fill_is_stored_resolved(world: World) -> None:
    fill = world.fill(buyer=BOB.lower(), seller=ALICE)  # addresses in any case resolve to members
    signature = sign(fill)
    ack = world.ingestor.submit(fill, signature)
    assert ack.status is AckStatus.ACCEPTED and ack.reason is None and ack.fill_id is not None
    with world.engine.connect() as conn:
        row = conn.execute(select(fills).where(fills.c.id == ack.fill_id)).one()
    assert (row.venue, row.venue_fill_id, row.symbol, row.instrument) == ("dexA", "f-1", "BTC-PERP", "BTC-USD-PERP")
    assert (row.buyer, row.seller, row.buyer_address, row.seller_address) == (2, 1, BOB, ALICE)
    assert (row.qty, row.price, row.ts_ms) == (fill.qty, fill.price, fill.ts)
    assert bytes(row.signature) == signature and bytes(row.leaf) == fill.leaf()
    assert row.received_ms == NOW and row.batch_sequence is None
    assert world.rejection_reasons() == []


def test_resend_is_a_duplicate_stored_once(world: World) -> None:
    fill = world.fill()
    first = world.ingestor.submit(fill, sign(fill))
    again = world.ingestor.submit(fill, sign(fill))
    assert again == Ack(AckStatus.DUPLICATE, first.fill_id, None, again.detail)
    # Still a duplicate long after the time window and after the member lost its status.
    world.clock.now += 3_600_000
    with world.engine.begin() as conn:
        registry.set_member_status(conn, 1, "defaulted")
    world.ingestor.refresh()
    late = world.ingestor.submit(fill, sign(fill))
    assert (late.status, late.fill_id) == (AckStatus.DUPLICATE, first.fill_id)
    assert world.fill_count() == 1
    assert world.rejection_reasons() == []


def test_same_id_different_content_is_a_conflict(world: World) -> None:
    fill = world.fill()
    first = world.ingestor.submit(fill, sign(fill))
    changed = fill.model_copy(update={"qty": fill.qty + 1})
    ack = world.ingestor.submit(changed, sign(changed))
    assert (ack.status, ack.reason, ack.fill_id) == (AckStatus.REJECTED, Reason.CONFLICT, None)
    assert world.stored() == {("dexA", "f-1"): fill.leaf()}
    assert world.rejection_reasons() == ["CONFLICT"]
    # The original is still acknowledged as before.
    assert world.ingestor.submit(fill, sign(fill)).fill_id == first.fill_id


def test_a_resend_with_a_forged_signature_is_refused_not_acknowledged(world: World) -> None:
    fill = world.fill()
    world.ingestor.submit(fill, sign(fill))
    assert world.ingestor.submit(fill, sign(fill, OTHER_KEY)).reason is Reason.WRONG_SIGNER


def test_bulk_judges_each_fill_on_its_own(world: World) -> None:
    stored_before = world.fill(venue_fill_id="old")
    old_ack = world.ingestor.submit(stored_before, sign(stored_before))
    good1 = world.fill(venue_fill_id="b1")
    good2 = world.fill(venue_fill_id="b2", buyer=BOB, seller=ALICE)
    forged = world.fill(venue_fill_id="b3")
    stranger = world.fill(venue_fill_id="b4", buyer=STRANGER)
    conflict_in_bulk = good2.model_copy(update={"price": good2.price + 1})
    items = [
        (good1, sign(good1)),
        (forged, sign(forged, OTHER_KEY)),
        (good2, sign(good2)),
        (good1, sign(good1)),  # resent inside the same bulk
        (stranger, sign(stranger)),
        (conflict_in_bulk, sign(conflict_in_bulk)),
        (stored_before, sign(stored_before)),  # stored by an earlier submission
    ]
    acks = world.ingestor.submit_many(items)
    assert [(a.status, a.reason) for a in acks] == [
        (AckStatus.ACCEPTED, None),
        (AckStatus.REJECTED, Reason.WRONG_SIGNER),
        (AckStatus.ACCEPTED, None),
        (AckStatus.DUPLICATE, None),
        (AckStatus.REJECTED, Reason.UNKNOWN_MEMBER),
        (AckStatus.REJECTED, Reason.CONFLICT),
        (AckStatus.DUPLICATE, None),
    ]
    assert acks[3].fill_id == acks[0].fill_id and acks[6].fill_id == old_ack.fill_id
    assert len({acks[0].fill_id, acks[2].fill_id, old_ack.fill_id}) == 3
    assert world.stored() == {(f.venue, f.venue_fill_id): f.leaf() for f in (stored_before, good1, good2)}
    # The fill that did not authenticate is only counted: anyone could have sent it.
    assert world.rejection_reasons() == ["UNKNOWN_MEMBER", "CONFLICT"]
    assert world.ingestor.unauthenticated_counts() == {"WRONG_SIGNER": 1}
    assert world.ingestor.submit_many([]) == []


def test_no_ack_and_nothing_stored_when_the_commit_fails(world: World) -> None:
    fill = world.fill()

    def crash(_conn: Any) -> None:
        raise RuntimeError("power cut before commit")

    event.listen(world.engine, "commit", crash)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            world.ingestor.submit_many([(fill, sign(fill)), (fill, b"bad")])
    finally:
        event.remove(world.engine, "commit", crash)
    assert world.fill_count() == 0 and world.rejection_reasons() == []
    # The venue got no ack, resends, and the fill is accepted then (not a duplicate of a ghost).
    assert world.ingestor.submit(fill, sign(fill)).status is AckStatus.ACCEPTED


@pytest.mark.parametrize("same_content", [True, False])
def test_losing_an_insert_race_rereads_the_winner(
    world: World, monkeypatch: pytest.MonkeyPatch, same_content: bool
) -> None:
    """Another submitter stores the key between our read and our insert: the unique constraint decides."""
    fill = world.fill()
    winner = fill if same_content else fill.model_copy(update={"qty": 1})
    won = world.ingestor.submit(winner, sign(winner))
    real_read = fills_store.read_stored
    calls: list[int] = []

    def read_too_early(conn: Any, keys: Any) -> Any:
        calls.append(1)
        return {} if len(calls) == 1 else real_read(conn, keys)

    monkeypatch.setattr(fills_store, "read_stored", read_too_early)  # the store module ingest calls through
    acks = world.ingestor.submit_many([(fill, sign(fill)), (fill, sign(fill))])
    assert len(calls) == 2  # the first read saw nothing, the insert lost, the re-read found the winner
    if same_content:
        assert [(a.status, a.fill_id) for a in acks] == [(AckStatus.DUPLICATE, won.fill_id)] * 2
        assert world.rejection_reasons() == []
    else:
        assert [a.reason for a in acks] == [Reason.CONFLICT, Reason.CONFLICT]
        assert world.rejection_reasons() == ["CONFLICT", "CONFLICT"]
    assert world.stored() == {("dexA", "f-1"): winner.leaf()}


def test_concurrent_submitters_store_each_fill_once(world: World) -> None:
    batch = [world.fill(venue_fill_id=f"c{i}", qty=1_000 + i) for i in range(120)]
    signed = [(f, sign(f)) for f in batch]
    results: dict[str, list[Ack]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run(name: str, ingestor: Ingestor, chunk: int, reverse: bool) -> None:
        items = signed[::-1] if reverse else signed
        acks: list[Ack] = []
        try:
            barrier.wait()
            for start in range(0, len(items), chunk):
                acks += ingestor.submit_many(items[start : start + chunk])
        except BaseException as exc:  # surfaced below; a thread must not swallow it
            errors.append(exc)
        results[name] = acks[::-1] if reverse else acks

    threads = [
        threading.Thread(target=run, args=("a", world.ingestor, 1, False)),
        threading.Thread(target=run, args=("b", Ingestor(world.engine, DOMAIN, clock=world.clock), 7, False)),
        threading.Thread(target=run, args=("c", Ingestor(world.engine, DOMAIN, clock=world.clock), 5, True)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert world.stored() == {(f.venue, f.venue_fill_id): f.leaf() for f in batch}
    with world.engine.connect() as conn:
        ids = {r.venue_fill_id: r.id for r in conn.execute(select(fills.c.venue_fill_id, fills.c.id))}
    for i, fill in enumerate(batch):
        acks = [results[name][i] for name in "abc"]
        assert sorted(a.status for a in acks) == [AckStatus.ACCEPTED, AckStatus.DUPLICATE, AckStatus.DUPLICATE]
        assert {a.fill_id for a in acks} == {ids[fill.venue_fill_id]}
    assert world.rejection_reasons() == []


def test_registry_changes_apply_after_refresh(world: World) -> None:
    fill = world.fill(venue="cexB")
    assert world.ingestor.submit(fill, sign(fill, OTHER_KEY)).reason is Reason.VENUE_NOT_APPROVED
    with world.engine.begin() as conn:
        registry.approve_venue(conn, "cexB")
    # Within the snapshot's lifetime the cached registry still answers ...
    world.clock.now += 999
    assert world.ingestor.submit(fill, sign(fill, OTHER_KEY)).reason is Reason.VENUE_NOT_APPROVED
    # ... and once it is a second old it is reloaded: the rejected fill, resent, is accepted.
    world.clock.now += 1
    assert world.ingestor.submit(fill, sign(fill, OTHER_KEY)).status is AckStatus.ACCEPTED

    rotated = world.fill(venue="cexB", venue_fill_id="f-2")
    with world.engine.begin() as conn:
        registry.rotate_venue_signer(conn, "cexB", ALICE)  # any new key
    world.ingestor.refresh()
    assert world.ingestor.submit(rotated, sign(rotated, OTHER_KEY)).reason is Reason.WRONG_SIGNER
    # Every refusal above was of an unauthenticated fill: counted, nothing written.
    with world.engine.connect() as conn:
        assert conn.execute(select(rejections.c.venue).distinct()).scalars().all() == []
    assert world.ingestor.unauthenticated_counts() == {"VENUE_NOT_APPROVED": 2, "WRONG_SIGNER": 1}


def test_a_new_mark_moves_the_band_after_refresh(world: World) -> None:
    from sqlalchemy import insert

    from offchain.ledger.schema import marks
    from tests.ingest.conftest import BTC_MARK

    fill = world.fill(price=BTC_MARK * 2)
    assert world.ingestor.submit(fill, sign(fill)).reason is Reason.PRICE_OUT_OF_BAND
    with world.engine.begin() as conn:
        conn.execute(insert(marks).values(instrument="BTC-USD-PERP", price=BTC_MARK * 2, ts_ms=NOW, source="t"))
    world.ingestor.refresh()
    assert world.ingestor.submit(fill, sign(fill)).status is AckStatus.ACCEPTED


def test_fills_are_pydantic_validated_before_they_reach_ingest() -> None:
    with pytest.raises(ValueError):
        Fill(venue="dexA", venue_fill_id="x", symbol="S", buyer="0x12", seller=BOB, qty=1, price=1, ts=0)
