#!/usr/bin/env python3
"""Pipeline benchmark: ingest throughput, fill-to-inclusion latency, and the netting ratio.

 - ingest: venue-signed fills per second through `Ingestor` with signature checks and durable writes
   (scripts/bench_ingest.py, bulk submission), on SQLite and, with --postgres, on PostgreSQL;
 - latency: venues send fills continuously to a devnet on Anvil with 1-second blocks while the
   settlement engine runs; for every fill, the blocks between its acknowledgement and the inclusion of
   the batch that settles it (p50, p90) and the seconds;
 - netting ratio: in the same run, fills settled per on-chain transfer (fills from three venues among
   the members, netted per member and asset).
`--cosigners`: three `crossclear cosign` processes verify and sign every batch (the engine holds no risk key).
`--json` prints one JSON object (keys `ingest_fills_per_s`, `latency_blocks_p50`, `netting_ratio`, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from offchain.chain.anvil import Anvil  # noqa: E402
from offchain.chain.deploy import mint  # noqa: E402
from offchain.chain.vault import vault_sender  # noqa: E402
from offchain.core.fills import fills_domain  # noqa: E402
from offchain.cosign.client import RemoteCosigners  # noqa: E402
from offchain.devnet.bootstrap import bring_up  # noqa: E402
from offchain.devnet.chaos import random_signed_fill  # noqa: E402
from offchain.devnet.cosigners import running_cosigners  # noqa: E402
from offchain.devnet.runtime import connect, ingestor, settlement_engine  # noqa: E402
from offchain.ingest.service import AckStatus  # noqa: E402
from offchain.ledger.db import open_ledger  # noqa: E402
from offchain.ledger.prices import publish_underlyings  # noqa: E402
from offchain.ledger.publication import publish  # noqa: E402
from offchain.ledger.views import batches as batch_views  # noqa: E402
from offchain.ledger.views import fills as fill_views  # noqa: E402

USDC = 10**6
KINDS = [
    ("market_maker", "tier1", "professional"),
    ("hedge_fund", "tier2", "buy_side"),
    ("retail_pool", "tier2", "retail"),
    ("dao", "tier2", "treasury"),
    ("family_office", "tier3", "buy_side"),
]


def ingest_rate(url: str | None) -> float:
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_ingest.py"), "--json", "--single", "200"]
    if url:
        cmd += ["--url", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["bulk_fills_per_s"])


def latency_run(
    seconds: float, members: int, rate_per_s: float, seed: int, cosigners: bool = False
) -> dict[str, float]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp, Anvil(block_time=1) as anvil, ExitStack() as stack:
        db = open_ledger(f"sqlite:///{tmp}/ledger.db")
        names = [(f"member-{i}", *KINDS[i % len(KINDS)]) for i in range(members)]
        spec = bring_up(anvil.web3(), anvil.url, db, names, "2022-11-01")
        vault = connect(spec)
        w3 = vault.w3
        operator = vault_sender(w3, spec.operator_key)
        for m in spec.members:
            mint(operator, spec.tokens["USDC"], m.address, 10_000_000 * USDC)
            vault.deposit(vault_sender(w3, m.key), m.address, 0, 10_000_000 * USDC)
        prices = {"BTC": 20_000.0, "ETH": 1_500.0}

        publish_underlyings(db, prices, "bench")
        engine = settlement_engine(spec, db)
        if cosigners:  # three `crossclear cosign` processes sign instead of the engine's keys
            history = Path(tmp) / "history.jsonl"
            publish(db, history)
            procs = stack.enter_context(
                running_cosigners(anvil.url, spec.vault, spec.registry, spec.signer_keys, history, Path(tmp))
            )
            domain = engine.vault.domain
            engine.cosigners = RemoteCosigners([c.url for c in procs], spec.threshold, db, domain, timeout_s=120)
            engine.signers = []
        stop = threading.Event()
        runner = threading.Thread(target=engine.run, args=(0.1, stop.is_set), daemon=True)
        runner.start()
        ing = ingestor(spec, db)
        domain = fills_domain(spec.chain_id, spec.vault)
        acked: dict[int, tuple[int, float]] = {}  # fill id -> (block at ack, time at ack)
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            for u in prices:
                prices[u] *= 1 + rng.uniform(-0.0005, 0.0005)
            publish_underlyings(db, prices, "bench")
            items = []
            for _ in range(max(1, int(rng.expovariate(1 / (rate_per_s / 10))))):
                n += 1
                items.append(random_signed_fill(spec, domain, rng, prices, n, max_lots=100))
            acks = ing.submit_many(items)
            block, now = w3.eth.block_number, time.monotonic()
            for a in acks:
                if a.status == AckStatus.ACCEPTED and a.fill_id is not None:
                    acked[a.fill_id] = (block, now)
            time.sleep(0.1)
        # Let the last fills settle, then stop the engine.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.connect() as conn:
                if not fill_views.has_pending(conn):
                    break
            time.sleep(0.2)
        stop.set()
        runner.join(timeout=30)
        with db.connect() as conn:
            fills = [(f.id, f.batch_sequence) for f in fill_views.fill_settlements(conn)]
            batches = {
                b.sequence: (b.block_number, b.confirmed_ms, b.payload) for b in batch_views.batches_from(conn, 0)
            }
        blocks: list[int] = []
        for fid, seq in fills:
            landed = None if seq is None else batches[seq][0]  # the block of the batch that settled it
            if fid in acked and landed is not None:
                blocks.append(landed - acked[fid][0])
        with_fills = [p for _b, _c, p in batches.values() if p["fill_ids"]]
        n_fills = sum(len(p["fill_ids"]) for p in with_fills)
        n_transfers = sum(len(p["batch"]["transfers"]) for p in with_fills)
        db.dispose()
    blocks.sort()
    return {
        "fills": float(len(blocks)),
        "batches_with_fills": float(len(with_fills)),
        "latency_blocks_p50": float(statistics.median(blocks)),
        "latency_blocks_p90": float(blocks[int(0.9 * (len(blocks) - 1))]),
        "netting_ratio": round(n_fills / max(n_transfers, 1), 2),
        "fills_per_batch": round(n_fills / max(len(with_fills), 1), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the latency run")
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="fills per second sent during the latency run")
    parser.add_argument("--postgres", action="store_true", help="also measure ingest on a PostgreSQL (pgserver)")
    parser.add_argument(
        "--cosigners", action="store_true", help="three co-signer processes verify and sign every batch (no engine key)"
    )
    parser.add_argument("--skip-ingest", action="store_true", help="only the latency run")
    args = parser.parse_args()
    figures: dict[str, float] = {} if args.skip_ingest else {"ingest_fills_per_s": round(ingest_rate(None))}
    if args.postgres:
        import pgserver

        with tempfile.TemporaryDirectory() as pgdir:
            server = pgserver.get_server(pgdir, cleanup_mode="stop")
            try:
                figures["ingest_fills_per_s_postgresql"] = round(ingest_rate(server.get_uri()))
            finally:
                server.cleanup()
    figures.update(latency_run(args.seconds, args.members, args.rate, seed=3, cosigners=args.cosigners))
    figures["cosigners"] = 3.0 if args.cosigners else 0.0
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(figures))
        return 0
    if "ingest_fills_per_s" in figures:
        print(
            f"ingest (SQLite, bulk, signature checks + fsynced commits): {figures['ingest_fills_per_s']:,.0f} fills/s"
        )
    if "ingest_fills_per_s_postgresql" in figures:
        print(f"ingest (PostgreSQL): {figures['ingest_fills_per_s_postgresql']:,.0f} fills/s")
    print(
        f"latency, acknowledgement to inclusion, 1-second blocks: p50 {figures['latency_blocks_p50']:.0f} blocks, "
        f"p90 {figures['latency_blocks_p90']:.0f} blocks ({figures['fills']:.0f} fills)"
        + (", three co-signers verifying and signing every batch" if args.cosigners else "")
        + f"; load average {figures['load_average_1m']}"
    )
    print(
        f"netting: {figures['fills_per_batch']} fills per batch, {figures['netting_ratio']} fills per on-chain transfer"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
