#!/usr/bin/env python3
"""Ingest benchmark: venue-signed fills per second through `Ingestor`, with signature checks and
durable writes (SQLite WAL, synchronous=FULL: every commit is fsynced), and signature checking alone.

Prints, in one run:
 - signature verification alone on one core: EIP-712 digest (ingest's hand encoding) + secp256k1 recovery;
 - per ledger (a fresh SQLite file, then PostgreSQL 16 from pgserver; `--url` for another one):
   single submission (`submit()`, one transaction and one fsync per fill), bulk submission
   (`submit_many()` in bulks of `--bulk`, signers recovered over `--workers` processes, one transaction
   per bulk) and its ratio to the single-core signature rate, the same with `--submitters` threads
   submitting bulks at once (as an API process serving several venues does: one bulk's database work
   overlaps another's recovery), and the resend of every bulk (duplicates).
`--json` prints the figures as one JSON object (with the load average and the cores this process may use).
The ratio can exceed 1 only by using more than one core: on a machine whose cores are busy with other
work, read it beside the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coincurve import PrivateKey  # noqa: E402
from eth_account import Account  # noqa: E402

from offchain.core.eip712 import typed_digest  # noqa: E402
from offchain.core.fills import Fill, fills_domain, recover_signer_bytes  # noqa: E402
from offchain.ingest import AckStatus, Ingestor, registry  # noqa: E402
from offchain.ingest.recovery import default_workers  # noqa: E402
from offchain.ledger.db import open_ledger  # noqa: E402
from offchain.ledger.handles import Engine  # noqa: E402
from offchain.ledger.market import record_observation  # noqa: E402
from offchain.marketdata.observations import Observation  # noqa: E402

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
        record_observation(conn, Observation("BTC-USD-PERP", "bench", MARK, now_ms))
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


def run_backend(url: str, args: argparse.Namespace, workers: int) -> dict[str, object]:
    """Single and bulk submission (fresh ledger at `url`), then the resend of every bulk."""
    now_ms = time.time_ns() // 1_000_000
    engine = open_ledger(url)
    addresses = populate(engine, args.members, now_ms)
    bulk_items = make_fills(args.fills, addresses, now_ms, "bulk")
    single_items = make_fills(args.single, addresses, now_ms, "single")
    concurrent_items = make_fills(args.fills, addresses, now_ms, "concurrent")
    ingestor = Ingestor(engine, DOMAIN, snapshot_max_age_ms=60_000, recovery_workers=workers)
    try:
        ingestor.submit_many(make_fills(args.bulk, addresses, now_ms, "warm"))  # start the workers
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

        concurrent_s = submit_concurrently(ingestor, concurrent_items, args.bulk, args.submitters)
    finally:
        ingestor.close()
        engine.dispose()
    return {
        "backend": engine.dialect.name,
        "single_fills_per_s": rate(args.single, single_s),
        "bulk_fills_per_s": rate(args.fills, bulk_s),
        "bulk_resend_fills_per_s": rate(args.fills, resend_s),
        "bulk_concurrent_fills_per_s": rate(args.fills, concurrent_s),
    }


def submit_concurrently(ingestor: Ingestor, items: list[tuple[Fill, bytes]], bulk: int, submitters: int) -> float:
    """Seconds for `submitters` threads to submit `items` in bulks (thread k takes bulks k, k + n, ...)."""
    bulks = [items[i : i + bulk] for i in range(0, len(items), bulk)]
    failures: list[str] = []

    def run(k: int) -> None:
        for b in bulks[k::submitters]:
            if any(a.status is not AckStatus.ACCEPTED for a in ingestor.submit_many(b)):
                failures.append("benchmark fill refused")

    threads = [threading.Thread(target=run, args=(k,)) for k in range(submitters)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - t0
    if failures:
        raise SystemExit(failures[0])
    return seconds


def signature_rate(n: int) -> float:
    """Single-core signature checks per second: the fill's EIP-712 digest and secp256k1 recovery."""
    now_ms = time.time_ns() // 1_000_000
    addresses = [Account.from_key((i + 1).to_bytes(32, "big")).address for i in range(20)]
    items = make_fills(n, addresses, now_ms, "sig")
    sep = DOMAIN.separator
    t0 = time.perf_counter()
    for fill, sig in items:
        recover_signer_bytes(fill.digest_under(sep), sig)
    return rate(n, time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=20_000, help="fills for the bulk run and the signature run")
    parser.add_argument("--single", type=int, default=2_000, help="fills for the one-transaction-per-fill run")
    parser.add_argument("--bulk", type=int, default=1_000, help="fills per submit_many call")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--submitters", type=int, default=2, help="threads of the concurrent bulk run")
    parser.add_argument("--workers", type=int, default=None, help="recovery processes (default: one per core)")
    parser.add_argument("--url", help="ledger URL (default: a fresh SQLite file, then a pgserver PostgreSQL)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workers = default_workers() if args.workers is None else args.workers

    # The reference is measured right before and right after each run, and the ratio taken against the
    # higher of the two: the machine's other load moves between runs, and a reference measured in a busier
    # moment than the run would flatter it.
    sig_samples: list[float] = []

    runs = []
    # Without recovery workers and with them (unless --workers names one count), on each ledger.
    counts = sorted({0, workers}) if args.workers is None else [workers]
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            urls: list[tuple[str, Any]] = []  # (ledger URL, the pgserver to stop after it, if any)
            if args.url:
                urls.append((args.url, None))
            else:
                urls.append((f"sqlite:///{tmp}/bench-{n}.db", None))
                if not args.sqlite_only:
                    import pgserver

                    server = pgserver.get_server(str(Path(tmp) / f"pg-{n}"), cleanup_mode="stop")
                    urls.append((server.get_uri(), server))
            for url, server in urls:
                try:
                    before = signature_rate(args.fills)
                    run: dict[str, object] = {**run_backend(url, args, n), "workers": n}
                    after = signature_rate(args.fills)
                finally:
                    if server is not None:
                        server.cleanup()
                reference = max(before, after)
                sig_samples += [before, after]
                run["signature_checks_per_s"] = reference
                run["bulk_vs_signature_rate"] = round(float(run["bulk_fills_per_s"]) / reference, 2)  # type: ignore[arg-type]
                run["bulk_concurrent_vs_signature_rate"] = round(
                    float(run["bulk_concurrent_fills_per_s"]) / reference,  # type: ignore[arg-type]
                    2,
                )
                runs.append(run)
    sig_rate = max(sig_samples)
    figures = {
        "signature_checks_per_s_per_core": sig_rate,
        "bulk_size": args.bulk,
        "submitters": args.submitters,
        "cores": len(os.sched_getaffinity(0)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"signature verification alone: up to {sig_rate:>10,.0f} fills/s on one core (measured around each run)")
    print(f"bulks of {args.bulk}, {figures['cores']} cores, load average {figures['load_average']}")
    for r in runs:
        print(
            f"{r['backend']:>10}, {r['workers']} recovery workers: bulk {r['bulk_fills_per_s']:>9,.0f} fills/s "
            f"({r['bulk_vs_signature_rate']}x the signature rate {r['signature_checks_per_s']:,.0f}/s), "
            f"{args.submitters} submitters "
            f"{r['bulk_concurrent_fills_per_s']:>9,.0f} fills/s ({r['bulk_concurrent_vs_signature_rate']}x), "
            f"single {r['single_fills_per_s']:>7,.0f} fills/s, resend {r['bulk_resend_fills_per_s']:>9,.0f} fills/s"
        )


if __name__ == "__main__":
    main()
