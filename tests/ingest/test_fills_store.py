"""The fills store's driver-level writes (COPY + INSERT ... SELECT on PostgreSQL, multi-row VALUES on
SQLite) keep the ledger's contract on both backends: exact big integers, ON CONFLICT skips, nothing left
staged between transactions, and a rolled-back bulk leaves nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from offchain.ledger import fills_store
from offchain.ledger.schema import fills
from tests.ingest.conftest import ALICE, BOB, NOW, World

BIG = 2**100 + 12_345  # beyond 64 bits: must come back exactly (BigInt is decimal text)


def _row(venue_fill_id: str, qty: int = 5) -> dict[str, Any]:
    return {
        "venue": "dexA",
        "venue_fill_id": venue_fill_id,
        "symbol": "BTC-PERP",
        "instrument": "BTC-USD-PERP",
        "buyer": 1,
        "seller": 2,
        "buyer_address": ALICE,
        "seller_address": BOB,
        "qty": qty,
        "price": 60_000 * 10**6,
        "ts_ms": NOW,
        "signature": bytes(range(65)),
        "leaf": bytes([len(venue_fill_id)]) * 32,
        "received_ms": NOW + 1,
    }


def test_rows_round_trip_exactly_and_conflicts_are_skipped(world: World) -> None:
    with world.engine.begin() as conn:
        first = fills_store.insert_new_fills(conn, [_row("a", BIG), _row("bb")])
    assert set(first) == {("dexA", "a"), ("dexA", "bb")}
    with world.engine.begin() as conn:  # a second transaction: only the new key is stored and returned
        second = fills_store.insert_new_fills(conn, [_row("a", 7), _row("ccc")])
    assert set(second) == {("dexA", "ccc")}
    assert second[("dexA", "ccc")] not in first.values()
    with world.engine.connect() as conn:
        stored = {r.venue_fill_id: r for r in conn.execute(select(fills))}
    assert stored["a"].qty == BIG and stored["a"].id == first[("dexA", "a")]  # the first content stays
    assert bytes(stored["a"].signature) == bytes(range(65)) and bytes(stored["bb"].leaf) == b"\x02" * 32
    assert stored["ccc"].ts_ms == NOW and stored["ccc"].received_ms == NOW + 1 and stored["ccc"].buyer == 1
    with world.engine.connect() as conn:
        found = fills_store.read_stored(conn, [("dexA", "a"), ("dexA", "zz"), ("cexB", "a")])
    assert found == {("dexA", "a"): fills_store.StoredFill(first[("dexA", "a")], b"\x01" * 32)}


def test_a_rolled_back_bulk_leaves_nothing(world: World) -> None:
    with pytest.raises(RuntimeError), world.engine.begin() as conn:
        fills_store.insert_new_fills(conn, [_row("gone")])
        raise RuntimeError("crash before the commit")
    with world.engine.begin() as conn:
        assert set(fills_store.insert_new_fills(conn, [_row("next")])) == {("dexA", "next")}
    assert set(world.stored()) == {("dexA", "next")}


def test_more_rows_than_one_statement_holds(world: World) -> None:
    rows = [_row(f"n{i}") for i in range(2_345)]  # SQLite: three multi-row statements
    with world.engine.begin() as conn:
        ids = fills_store.insert_new_fills(conn, rows)
    assert len(ids) == len(rows) == world.fill_count()
    assert sorted(ids.values()) == list(range(1, len(rows) + 1))  # staging draws no ids: ingest order, no gaps


def test_qty_must_be_an_int(world: World) -> None:
    with pytest.raises(TypeError), world.engine.begin() as conn:
        fills_store.insert_new_fills(conn, [_row("x", "5")])  # type: ignore[arg-type]
