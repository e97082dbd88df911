#!/usr/bin/env python3
"""Ingest benchmark: venue-signed fills per second through `Ingestor`, with signature checks and
durable writes (SQLite WAL, synchronous=FULL: every commit is fsynced), and signature checking alone.

Prints, for one process (one core for the Python work):
 - signature verification alone: EIP-712 digest (ingest's hand encoding) + secp256k1 recovery, fills/s;
 - single submission: `submit()` per fill, one transaction (one fsync) per fill;
 - bulk submission: `submit_many()` in bulks of `--bulk` fills, one transaction per bulk.
`--url` benchmarks another ledger (e.g. PostgreSQL); `--json` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coincurve import PrivateKey  # noqa: E402
from eth_account import Account  # noqa: E402
from sqlalchemy import Engine, insert  # noqa: E402

from offchain.core.eip712 import typed_digest  # noqa: E402
from offchain.core.fills import Fill, fills_domain, recover_signer_bytes  # noqa: E402
from offchain.ingest import AckStatus, Ingestor, registry  # noqa: E402
from offchain.ledger.db import open_ledger  # noqa: E402
from offchain.ledger.schema import marks  # noqa: E402

DOMAIN = fills_domain(31337, "0x" + "ab" * 20)
VENUE_KEY = bytes.fromhex("11" * 32)
MARK = 60_000 * 10**6


def populate(engine: Engine, n_members: int, now_ms: int) -> list[str]:
    venue = Account.from_key(VENUE_KEY).address
    addresses = [Account.from_key((i + 1).to_bytes(32, "big")).address for i in range(n_members)]
    with engine.begin() as conn:
        registry.register_venue(conn, "dex", venue, "dex")
        registry.approve_venue(conn, "dex")
        registry.add_instrument(conn, "BTC-USD-PERP", "perp", "BTC", 8, 500, 2_000, 3_600_000, 1)
        registry.map_symbol(conn, "dex", "BTC-PERP", "BTC-USD-PERP")
        for i, address in enumerate(addresses, start=1):
            registry.admit_member(conn, i, address, f"m{i}", "market_maker", "A", "mm")
            registry.grant(conn, i, "BTC-USD-PERP")
        conn.execute(insert(marks).values(instrument="BTC-USD-PERP", price=MARK, ts_ms=now_ms, source="bench"))
    return addresses


def make_fills(n: int, addresses: list[str], now_ms: int, tag: str) -> list[tuple[Fill, bytes]]:
    rng = random.Random(n)
    key = PrivateKey(VENUE_KEY)
    sep = DOMAIN.separator
    out = []
    for i in range(n):
        buyer, seller = rng.sample(addresses, 2)
        fill = Fill(
            venue="dex",
            venue_fill_id=f"{tag}-{i}",
            symbol="BTC-PERP",
            buyer=buyer,
            seller=seller,
            qty=rng.randint(1, 10**8),
            price=MARK + rng.randint(-(10**9), 10**9),
            ts=now_ms - rng.randint(0, 1_000),
        )
        out.append((fill, key.sign_recoverable(typed_digest(sep, fill.struct_hash()), hasher=None)))
    return out


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=20_000, help="fills for the bulk run and the signature run")
    parser.add_argument("--single", type=int, default=2_000, help="fills for the one-transaction-per-fill run")
    parser.add_argument("--bulk", type=int, default=500, help="fills per submit_many call")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--url", help="ledger URL (default: a fresh SQLite file in a temporary directory)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    now_ms = time.time_ns() // 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_ledger(args.url or f"sqlite:///{tmp}/bench.db")
        addresses = populate(engine, args.members, now_ms)
        bulk_items = make_fills(args.fills, addresses, now_ms, "bulk")
        single_items = make_fills(args.single, addresses, now_ms, "single")

        sep = DOMAIN.separator
        t0 = time.perf_counter()
        for fill, sig in bulk_items:
            recover_signer_bytes(fill.digest_under(sep), sig)
        sig_s = time.perf_counter() - t0

        ingestor = Ingestor(engine, DOMAIN, snapshot_max_age_ms=60_000)
        t0 = time.perf_counter()
        for fill, sig in single_items:
            if ingestor.submit(fill, sig).status is not AckStatus.ACCEPTED:
                raise SystemExit("benchmark fill refused")
        single_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        for start in range(0, len(bulk_items), args.bulk):
            acks = ingestor.submit_many(bulk_items[start : start + args.bulk])
            if any(a.status is not AckStatus.ACCEPTED for a in acks):
                raise SystemExit("benchmark fill refused")
        bulk_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        for start in range(0, len(bulk_items), args.bulk):
            acks = ingestor.submit_many(bulk_items[start : start + args.bulk])
            if any(a.status is not AckStatus.DUPLICATE for a in acks):
                raise SystemExit("resent benchmark fill not a duplicate")
        resend_s = time.perf_counter() - t0
        engine.dispose()

    figures = {
        "backend": engine.dialect.name,
        "signature_checks_per_s_per_core": rate(args.fills, sig_s),
        "single_fills_per_s": rate(args.single, single_s),
        "bulk_fills_per_s": rate(args.fills, bulk_s),
        "bulk_size": args.bulk,
        "bulk_resend_fills_per_s": rate(args.fills, resend_s),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"ledger: {figures['backend']}")
    print(f"signature verification alone:      {figures['signature_checks_per_s_per_core']:>10,.0f} fills/s per core")
    print(f"single submit (1 commit per fill): {figures['single_fills_per_s']:>10,.0f} fills/s ({args.single} fills)")
    bulk = f"bulk submit ({args.bulk} per commit):"
    print(f"{bulk:<35}{figures['bulk_fills_per_s']:>11,.0f} fills/s ({args.fills} fills)")
    print(f"bulk resend (all duplicates):      {figures['bulk_resend_fills_per_s']:>10,.0f} fills/s")


if __name__ == "__main__":
    main()
