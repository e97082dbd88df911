"""Migration 0004 backfills `position_entries` from the fills of confirmed batches, in settlement order,
to the same rows `apply_confirmed` would have kept."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, select

from offchain.ingest import registry
from offchain.ledger import schema as t
from offchain.ledger.db import make_engine, migrate

VENUE = "0x" + "11" * 20


def test_backfill_from_confirmed_fills(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    migrate(engine, "0003_defaults")
    with engine.begin() as conn:
        registry.register_venue(conn, "v", VENUE, "dex", created_ms=0)
        registry.add_instrument(conn, "BTC-USD-PERP", "perp", "BTC", 8, 500, 2_000, 60_000, 1)
        for account in (10, 11):
            registry.admit_member(
                conn, account, "0x" + f"{account:040x}", f"m{account}", "x", "tier1", "g", created_ms=0
            )
        for seq, status in ((1, "confirmed"), (2, "confirmed"), (3, "built")):
            conn.execute(
                insert(t.batches).values(
                    sequence=seq,
                    status=status,
                    prev_hash=b"\0" * 32,
                    digest=b"\1" * 32,
                    as_of_ms=0,
                    payload={},
                    built_ms=0,
                )
            )
        # ids out of settlement order on purpose: fill 1 settles in batch 2, fill 2 in batch 1.
        for fid, seq, qty, price in ((1, 2, 10, 300), (2, 1, 30, 100), (3, 3, 99, 1)):
            conn.execute(
                insert(t.fills).values(
                    id=fid,
                    venue="v",
                    venue_fill_id=f"f{fid}",
                    symbol="B",
                    instrument="BTC-USD-PERP",
                    buyer=10,
                    seller=11,
                    buyer_address="0x" + "00" * 20,
                    seller_address="0x" + "00" * 20,
                    qty=qty,
                    price=price,
                    ts_ms=0,
                    signature=b"\0" * 65,
                    leaf=b"\0" * 32,
                    received_ms=0,
                    batch_sequence=seq,
                )
            )
    migrate(engine)
    with engine.connect() as conn:
        rows = {
            r.member: (int(r.qty), int(r.entry_price), r.batch_sequence)
            for r in conn.execute(select(t.position_entries))
        }
    # Batch 1: +30 @ 100; batch 2: +10 @ 300 -> 40 @ 150. The built batch 3 does not count.
    assert rows == {10: (40, 150, 2), 11: (-40, 150, 2)}
    engine.dispose()
