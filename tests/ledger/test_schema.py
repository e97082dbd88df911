"""Migrations produce exactly the declared schema, on SQLite and PostgreSQL, and big integers stay exact."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

from offchain.ledger.db import migrate, open_ledger
from offchain.ledger.schema import metadata, venues


def test_migrations_match_metadata_and_are_idempotent(ledger_url: str) -> None:
    engine = open_ledger(ledger_url)
    migrate(engine)  # a second run changes nothing
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    engine.dispose()


def test_big_integers_round_trip_exactly(ledger_url: str) -> None:
    from offchain.ledger.schema import instruments, marks

    engine = open_ledger(ledger_url)
    big = 2**128 - 1
    with engine.begin() as conn:
        conn.execute(insert(venues).values(name="v", signer="0x" + "00" * 20, kind="dex", approved=True, created_ms=0))
        conn.execute(
            insert(instruments).values(
                name="BTC-USD-PERP",
                kind="perp",
                underlying="BTC",
                qty_decimals=8,
                price_band_bps=500,
                max_mark_jump_bps=2000,
                mark_stale_ms=60_000,
                clearing_fee_bps=1,
                active=True,
            )
        )
        conn.execute(insert(marks).values(instrument="BTC-USD-PERP", price=big, ts_ms=1, source="t"))
    with engine.connect() as conn:
        assert conn.execute(select(marks.c.price)).scalar_one() == big
    engine.dispose()
