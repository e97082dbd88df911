"""The ledger's stores on a real SQLite ledger: the one latest-price rule beside the engine (`guarded_mark`:
index, staleness bound, jump band against the settled mark), and the stored batch payload's JSON form
(a property: every payload reads back equal, margin detail included, in the JSON the API reads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from offchain.core.accounting import CashFlow
from offchain.core.obligations import FundingDue
from offchain.ingest import registry
from offchain.ingest.snapshot import RegistrySnapshot
from offchain.ledger import schema as t
from offchain.ledger.batches import BatchPayload, MarginDetail
from offchain.ledger.db import open_ledger
from offchain.ledger.instruments import load_instruments
from offchain.ledger.prices import guarded_mark, latest_index, latest_indices, record_price
from offchain.marketdata.index import IndexHalt
from tests.core.test_batch_encoding import batches

NOW = 1_760_000_000_000
MARK = 20_000 * 10**6
STALE_MS = 60_000


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Engine]:
    db = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    with db.begin() as conn:
        registry.add_instrument(conn, "BTC-USD-PERP", "perp", "BTC", 8, 500, 1_000, STALE_MS, 1)
    yield db
    db.dispose()


def _settle(db: Engine, price: int) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(t.settled_marks).values(instrument="BTC-USD-PERP", price=price, ts_ms=NOW, batch_sequence=1)
        )


def _mark(db: Engine, now_ms: int) -> int | None:
    with db.connect() as conn:
        return guarded_mark(conn, load_instruments(conn)["BTC-USD-PERP"], now_ms)


def test_the_guarded_mark_is_the_index_of_the_sources_not_the_newest_row(ledger: Engine) -> None:
    with ledger.begin() as conn:
        record_price(conn, "BTC-USD-PERP", MARK, NOW - 3_000, "a")
        record_price(conn, "BTC-USD-PERP", MARK + 2 * 10**6, NOW - 2_000, "b")
        record_price(conn, "BTC-USD-PERP", MARK // 1000, NOW - 1_000, "c")  # the newest row: an outlier
    with ledger.connect() as conn:
        idx = latest_index(conn, "BTC-USD-PERP", NOW, stale_ms=STALE_MS)
    assert idx.price == MARK + 10**6  # median of the two agreeing sources, the outlier rejected
    assert _mark(ledger, NOW) == idx.price


def test_a_stale_index_is_no_mark(ledger: Engine) -> None:
    with ledger.begin() as conn:
        record_price(conn, "BTC-USD-PERP", MARK, NOW, "a")
    assert _mark(ledger, NOW + STALE_MS) == MARK
    assert _mark(ledger, NOW + STALE_MS + 1) is None


def test_a_jump_beyond_the_band_from_the_settled_mark_is_no_mark(ledger: Engine) -> None:
    _settle(ledger, MARK)
    with ledger.begin() as conn:
        record_price(conn, "BTC-USD-PERP", MARK * 11 // 10, NOW, "a")  # +10.00 %: the band's edge
    assert _mark(ledger, NOW) == MARK * 11 // 10
    with ledger.begin() as conn:
        record_price(conn, "BTC-USD-PERP", MARK * 11 // 10 + MARK // 10_000, NOW + 1, "a")  # 1 bp beyond it
    assert _mark(ledger, NOW + 1) is None


ints = st.integers(0, 2**127)
details = st.builds(
    MarginDetail,
    es_core=st.floats(0, 1e15),
    concentration_addon=st.floats(0, 1e15),
    liquidity_addon=st.floats(0, 1e15),
    collateral_value=st.integers(0, 2**53),
    haircut_bps=st.dictionaries(st.integers(0, 20), st.integers(0, 10_000), max_size=3),
)
payloads = st.builds(
    BatchPayload,
    batch=batches,
    fill_ids=st.lists(st.integers(1, 2**40), max_size=4),
    flows=st.lists(
        st.builds(
            CashFlow,
            st.integers(0, 99),
            st.sampled_from(["BTC-USD-PERP", "ETH-USD-PERP"]),
            st.sampled_from(["vm", "fee"]),
            st.integers(-(2**100), 2**100),
        ),
        max_size=3,
    ),
    marks_used=st.dictionaries(st.sampled_from(["BTC-USD-PERP", "ETH-USD-PERP"]), ints, max_size=2),
    mark_ts=st.dictionaries(st.sampled_from(["BTC-USD-PERP"]), st.integers(0, 2**45), max_size=1),
    funding=st.lists(
        st.builds(FundingDue, st.just("BTC-USD-PERP"), st.integers(0, 2**45), st.integers(-(10**6), 10**6)), max_size=2
    ),
    position_changes=st.dictionaries(
        st.tuples(st.integers(0, 99), st.just("BTC-USD-PERP"), st.just("dex")), st.integers(-(2**80), 2**80), max_size=3
    ),
    requirements=st.dictionaries(st.integers(0, 99), st.tuples(ints, ints), max_size=3),
    collateral_marks=st.dictionaries(st.integers(0, 9), st.tuples(ints, st.integers(0, 10_000)), max_size=2),
    margin_detail=st.dictionaries(st.integers(0, 99), details, max_size=3),
)


@given(payloads)
def test_a_stored_payload_reads_back_equal(payload: BatchPayload) -> None:
    data = payload.to_json()
    assert BatchPayload.from_json(data) == payload
    for account, detail in payload.margin_detail.items():  # the JSON the API reads: flat numbers per key
        shown = data["margin_detail"][str(account)]
        assert shown["collateral_value"] == float(detail.collateral_value)
        assert {k for k in shown if k.startswith("haircut_bps.")} == {f"haircut_bps.{a}" for a in detail.haircut_bps}


def _three_sources_one_lying(tmp_path: Path) -> Engine:
    """Three sources of ETH, the last-recorded one printing twice the others (an outlier the index rejects)."""
    db = open_ledger(f"sqlite:///{tmp_path / 'liar.db'}")
    with db.begin() as conn:
        record_price(conn, "ETH", 1_600_000_000, NOW - 2_000, "venue-a")
        record_price(conn, "ETH", 1_600_000_000, NOW - 1_500, "venue-b")
        record_price(conn, "ETH", 3_000_000_000, NOW - 1_000, "venue-c")
    return db


def test_every_reader_of_the_latest_price_uses_the_engines_index(tmp_path: Path) -> None:
    """Ingest's fill band (its registry snapshot) and `GET /v1/marks` (`latest_indices`) read the same index
    as the engine: one source recorded last cannot move them (it moved both when they read the newest row)."""
    db = _three_sources_one_lying(tmp_path)
    with db.connect() as conn:
        index = latest_index(conn, "ETH", NOW)
        snapshot = RegistrySnapshot.load(conn, NOW)
        shown = latest_indices(conn, NOW, {})
    db.dispose()
    assert index.price == 1_600_000_000 and [o.source for o in index.rejected] == ["venue-c"]
    assert (snapshot.marks["ETH"].price, snapshot.marks["ETH"].ts_ms) == (index.price, index.ts_ms)
    assert shown["ETH"] == index


def test_a_halted_index_gives_no_mark_and_says_why(tmp_path: Path) -> None:
    """Two of three sources silent beyond the bound: no quorum, so no band centre for ingest (NO_MARK)."""
    db = _three_sources_one_lying(tmp_path)
    later = NOW + 119_000  # venue-a and venue-b are older than the default 120 s bound, venue-c is not
    with db.connect() as conn:
        snapshot = RegistrySnapshot.load(conn, later)
        shown = latest_indices(conn, later, {})["ETH"]
        bounded = latest_indices(conn, NOW, {"ETH": 1_200})["ETH"]  # a per-symbol bound: only venue-c fresh
    db.dispose()
    assert "ETH" not in snapshot.marks and "quorum" in snapshot.no_mark["ETH"]
    assert (shown.price, shown.halt) == (None, IndexHalt.QUORUM)
    assert (bounded.price, bounded.halt) == (None, IndexHalt.QUORUM)


def test_an_instrument_nobody_reported_is_shown_halted_missing(tmp_path: Path) -> None:
    db = _three_sources_one_lying(tmp_path)
    with db.connect() as conn:
        shown = latest_indices(conn, NOW, {"BTC-USD-PERP": STALE_MS})
    db.dispose()
    assert sorted(shown) == ["BTC-USD-PERP", "ETH"]
    assert (shown["BTC-USD-PERP"].price, shown["BTC-USD-PERP"].halt) == (None, IndexHalt.MISSING)
