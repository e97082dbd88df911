"""Signer recovery over worker processes gives exactly what recovery in the calling thread gives, in order."""

from __future__ import annotations

from offchain.core.fills import Fill, recover_signer_bytes
from offchain.ingest import AckStatus, Ingestor, Reason
from offchain.ingest.recovery import PARALLEL_MIN, SignerRecovery, check_all, recover_all
from tests.ingest.conftest import ALICE, BOB, DOMAIN, OTHER_KEY, World, sign


def test_parallel_recovery_matches_serial(world: World) -> None:
    fills = [world.fill(venue_fill_id=f"p-{i}") for i in range(PARALLEL_MIN + 37)]
    pairs = []
    for i, f in enumerate(fills):
        sig = sign(f, OTHER_KEY) if i % 7 == 0 else sign(f)
        if i % 11 == 0:
            sig = sig[:64] + b"\x05"  # a v that does not recover
        pairs.append((f.digest(DOMAIN), sig))
    recovery = SignerRecovery(2)
    try:
        assert recovery.recover(pairs) == recover_all(pairs)
    finally:
        recovery.close()


def test_a_big_bulk_through_workers_is_judged_like_one_without(world: World) -> None:
    fills = [world.fill(venue_fill_id=f"w-{i}") for i in range(PARALLEL_MIN * 2)]
    items = [(f, sign(f, OTHER_KEY) if i % 5 == 0 else sign(f)) for i, f in enumerate(fills)]
    parallel = Ingestor(world.engine, DOMAIN, clock=world.clock, recovery_workers=2)
    try:
        acks = parallel.submit_many(items)
    finally:
        parallel.close()
    expected = [AckStatus.REJECTED if i % 5 == 0 else AckStatus.ACCEPTED for i in range(len(items))]
    assert [a.status for a in acks] == expected
    assert world.fill_count() == expected.count(AckStatus.ACCEPTED)


def test_workers_hash_and_recover_exactly_as_the_calling_thread(world: World) -> None:
    fills = [world.fill(venue_fill_id=f"h-{i}", qty=1 + i) for i in range(PARALLEL_MIN + 5)]
    items = [(f.leaf_values(), sign(f, OTHER_KEY) if i % 3 == 0 else sign(f)) for i, f in enumerate(fills)]
    items[4] = (items[4][0], b"\x00" * 65)  # does not recover
    recovery = SignerRecovery(2)
    try:
        parallel = recovery.check(DOMAIN.separator, items)
    finally:
        recovery.close()
    assert parallel == check_all(DOMAIN.separator, items)
    assert [leaf for _, leaf in parallel] == [f.leaf() for f in fills]
    assert parallel[1][0] == recover_signer_bytes(fills[1].digest(DOMAIN), items[1][1])
    assert isinstance(parallel[4][0], str)


def test_a_big_mixed_bulk_is_judged_the_same_with_and_without_workers(world: World) -> None:
    """Through the workers, terms are judged while signatures recover: forged, refused, duplicate and new
    fills in one bulk get the same acks as in the calling thread (each ingestor on its own fresh keys)."""

    def bulk(tag: str) -> list[tuple[Fill, bytes]]:
        out = []
        for i in range(PARALLEL_MIN + 20):
            f = world.fill(venue_fill_id=f"{tag}-{i % (PARALLEL_MIN + 10)}", buyer=BOB if i % 9 == 0 else ALICE)
            out.append((f, sign(f, OTHER_KEY) if i % 13 == 0 else sign(f)))  # i % 9: self-trade; i % 13: forged
        return out

    serial = world.ingestor.submit_many(bulk("s"))
    parallel_ingestor = Ingestor(world.engine, DOMAIN, clock=world.clock, recovery_workers=2)
    try:
        parallel = parallel_ingestor.submit_many(bulk("p"))
    finally:
        parallel_ingestor.close()
    assert [(a.status, a.reason) for a in parallel] == [(a.status, a.reason) for a in serial]
    assert {a.reason for a in serial} == {None, Reason.SELF_TRADE, Reason.WRONG_SIGNER, Reason.CONFLICT}
    assert {a.status for a in serial} == {AckStatus.ACCEPTED, AckStatus.DUPLICATE, AckStatus.REJECTED}
