"""The ledger's stores and read views behind the API, on SQLite and PostgreSQL: a conflicting write is
refused by the database (not by a read before it), and the views return typed rows with the filters and
orders the routes rely on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import to_checksum_address
from sqlalchemy import insert

from offchain.ingest import registry
from offchain.ledger import membership_store, sessions_store, webhooks_store
from offchain.ledger import schema as t
from offchain.ledger.db import open_ledger
from offchain.ledger.handles import Engine
from offchain.ledger.views import batches, fills, members, positions

VENUE_SIGNER = to_checksum_address("0x" + "11" * 20)
ALICE, BOB = to_checksum_address("0x" + "a1" * 20), to_checksum_address("0x" + "b2" * 20)
BTC = "BTC-USD-PERP"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Engine]:
    engine = open_ledger(ledger_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _members(engine: Engine) -> None:
    with engine.begin() as conn:
        registry.register_venue(conn, "v1", VENUE_SIGNER, "dex", created_ms=1)
        registry.add_instrument(conn, BTC, "perp", "BTC", 8, 500, 2_000, 60_000, 1)
        registry.admit_member(conn, 10, ALICE, "alice", "dao", "tier1", "g1", created_ms=2)
        registry.admit_member(conn, 11, BOB, "bob", "hedge_fund", "tier2", "g2", created_ms=3)


def test_nonce_is_spent_once_and_pruned_after_expiry(ledger: Engine) -> None:
    with ledger.begin() as conn:
        assert sessions_store.record_nonce(conn, ALICE, 7, "POST /v1/x" + "y" * 100, expiry_ms=1_000, used_ms=5)
        assert not sessions_store.record_nonce(conn, ALICE, 7, "POST /v1/other", expiry_ms=9_000, used_ms=6)
        assert sessions_store.record_nonce(conn, BOB, 7, "POST /v1/x", expiry_ms=2_000, used_ms=6)
    with ledger.begin() as conn:
        assert sessions_store.prune_nonces(conn, before_ms=1_000) == 0  # strictly before
        assert sessions_store.prune_nonces(conn, before_ms=1_001) == 1
        assert sessions_store.record_nonce(conn, ALICE, 7, "POST /v1/x", expiry_ms=3_000, used_ms=7)


def test_revocation_of_one_token_and_of_every_earlier_one(ledger: Engine) -> None:
    with ledger.begin() as conn:
        assert sessions_store.generation_of(conn, ALICE) == 0
        assert sessions_store.bump_generation(conn, ALICE) == 1
        assert sessions_store.bump_generation(conn, ALICE) == 2
        assert sessions_store.generation_of(conn, BOB) == 0
        sessions_store.revoke_sid(conn, "s1", expires_ms=100)
        sessions_store.revoke_sid(conn, "s1", expires_ms=100)  # a second logout is a no-op
        assert sessions_store.is_sid_revoked(conn, "s1")
        assert not sessions_store.is_sid_revoked(conn, "s2")
        assert sessions_store.prune_revoked(conn, before_ms=101) == 1
        assert not sessions_store.is_sid_revoked(conn, "s1")


def test_one_pending_application_per_address_and_one_decision(ledger: Engine) -> None:
    _members(ledger)
    carol = to_checksum_address("0x" + "c3" * 20)
    with ledger.begin() as conn:
        assert membership_store.insert_pending_application(conn, carol, "carol", "dao", "tier1", "g1", None, 10)
        assert not membership_store.insert_pending_application(conn, carol, "again", "dao", "tier1", "g1", None, 11)
        pending = members.stored_pending_application(conn, carol)
        assert (pending.name, pending.status, pending.account, pending.decided_ms) == ("carol", "pending", None, None)
        assert membership_store.decide_pending(conn, pending.id, status="approved", decided_ms=20, account=12)
        assert not membership_store.decide_pending(conn, pending.id, status="rejected", decided_ms=21, note="late")
        decided = members.stored_application(conn, pending.id)
        assert (decided.status, decided.account, decided.tier, decided.note) == ("approved", 12, "tier1", "")
        # decided: a new application of the same address may be pending again
        assert membership_store.insert_pending_application(conn, carol, "sub", "dao", "tier2", "g1", 10, 30)
    with ledger.connect() as conn:
        mine = members.applications_page(conn, 0, 10, address=carol)
        assert [a.status for a in mine] == ["approved", "pending"]
        assert [a.id for a in members.applications_page(conn, mine[0].id, 10)] == [mine[1].id]
        assert members.applications_page(conn, 0, 10, status="pending") == [mine[1]]
        assert [a.parent for a in members.sub_account_applications(conn, 10)] == [10]


def test_webhook_registered_once_per_url_and_its_cursor_moves(ledger: Engine) -> None:
    _members(ledger)
    with ledger.begin() as conn:
        first = webhooks_store.register(conn, 10, "https://a.example/h", "s" * 64, {"fill": 0}, 5)
        assert first is not None
        assert webhooks_store.register(conn, 10, "https://a.example/h", "t" * 64, {"fill": 9}, 6) is None
        assert webhooks_store.register(conn, 11, "https://a.example/h", "u" * 64, {"fill": 1}, 6) not in (None, first)
        webhooks_store.move_cursor(conn, first, {"fill": 4, "batch": 2})
    with ledger.connect() as conn:
        hooks = {h.id: h for h in webhooks_store.webhooks(conn)}
    assert hooks[first].cursor == {"fill": 4, "batch": 2}
    assert hooks[first].secret == "s" * 64 and len(hooks) == 2


def test_member_and_venue_views(ledger: Engine) -> None:
    _members(ledger)
    with ledger.begin() as conn:
        registry.grant(conn, 10, BTC)
    with ledger.connect() as conn:
        alice = members.member(conn, 10)
        assert alice is not None and (alice.address, alice.group_name, alice.status) == (ALICE, "g1", "active")
        assert members.member(conn, 99) is None
        assert members.account_of(conn, BOB) == 11 and members.account_of(conn, VENUE_SIGNER) is None
        assert members.address_of(conn, 11) == BOB
        assert members.permitted_instruments(conn, 10) == [BTC] and members.permitted_instruments(conn, 11) == []
        assert members.member_groups(conn) == {10: "g1", 11: "g2"}
        assert members.is_venue_signer(conn, VENUE_SIGNER) and not members.is_venue_signer(conn, ALICE)
        assert [v.name for v in members.venues(conn)] == ["v1"]
        assert members.venue(conn, "v1") == members.stored_venue(conn, "v1")
        assert members.venue(conn, "nope") is None


def test_fill_and_position_views(ledger: Engine) -> None:
    _members(ledger)
    with ledger.begin() as conn:
        conn.execute(
            insert(t.batches).values(
                sequence=1,
                status="confirmed",
                prev_hash=b"\0" * 32,
                digest=b"\1" * 32,
                as_of_ms=7_000,
                payload={"batch": {"fills_root": "00" * 32}},
                built_ms=0,
            )
        )
        for fid, seq in ((1, 1), (2, None), (3, 1)):
            conn.execute(
                insert(t.fills).values(
                    id=fid,
                    venue="v1",
                    venue_fill_id=f"f{fid}",
                    symbol="BTC",
                    instrument=BTC,
                    buyer=10,
                    seller=11,
                    buyer_address=ALICE,
                    seller_address=BOB,
                    qty=fid * 10,
                    price=100,
                    ts_ms=fid,
                    signature=b"\2" * 65,
                    leaf=bytes([fid]) * 32,
                    received_ms=fid,
                    batch_sequence=seq,
                )
            )
        conn.execute(insert(t.positions).values(member=10, instrument=BTC, venue="v1", qty=40))
        conn.execute(insert(t.positions).values(member=11, instrument=BTC, venue="v1", qty=-40))
    with ledger.connect() as conn:
        assert [f.id for f in fills.fills_page(conn, 0, 10, venue="v1")] == [1, 2, 3]
        assert [f.id for f in fills.fills_page(conn, 0, 10, venue="v1", batched="pending")] == [2]
        assert [f.id for f in fills.fills_page(conn, 1, 10, batched="included")] == [3]
        assert [f.id for f in fills.fills_page(conn, 0, 1, batch_sequence=1)] == [1]
        one = fills.fill_by_venue_id(conn, "v1", "f3")
        assert one is not None and (one.qty, one.leaf, one.batch_sequence) == (30, b"\3" * 32, 1)
        assert sorted(fills.batch_leaves(conn, 1)) == [b"\1" * 32, b"\3" * 32]
        assert [f.id for f in fills.member_fills_since(conn, 11, 1, 10)] == [2, 3]
        assert fills.venue_fill_count_in(conn, "v1", 1) == 2 and fills.has_pending(conn)
        assert fills.last_fill_id(conn) == 3
        latest = batches.latest_confirmed(conn)
        assert latest is not None and (latest.sequence, latest.as_of) == (1, 7)
        assert batches.fill_counts(conn, [1, 2]) == {1: 2} and batches.last_confirmed_sequence(conn) == 1
        assert batches.unconfirmed(conn) == [] and batches.digests(conn) == {1: ("confirmed", b"\1" * 32)}
        assert positions.netted_positions(conn) == {(10, BTC): 40, (11, BTC): -40}
        assert positions.venue_positions(conn) == {(10, BTC, "v1"): 40, (11, BTC, "v1"): -40}
        assert positions.member_netted(conn, 11) == {BTC: -40}
