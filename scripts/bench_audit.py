#!/usr/bin/env python3
"""Auditor benchmark: how long `crossclear audit` takes over a long devnet history.

Builds a history on a real Anvil with the settlement engine (deposits, fills from three venues, a batch
per round with moving marks, funding, an advance and its repayment, withdrawals: tests/audit/history.py),
publishes it, then audits it (best of `--runs`), and reports the time per batch and per fill, split into
reading the chain (logs, settle calldata) and checking (of which the risk-model rebuild, price-evidence
and IM/MM re-derivation checks: `rederive_s`, `ms_per_batch_rederive`), with an extrapolation to a day
of devnet history at one batch every 2 s (43,200 batches), and the load average. `--json` prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from offchain.audit import run_audit  # noqa: E402
from offchain.ledger.publication import publish  # noqa: E402
from tests.audit.history import build_history  # noqa: E402
from tests.settlement.conftest import make_devnet  # noqa: E402

DAY_BATCHES = 43_200


def reference_ms() -> float:
    """A fixed CPU-bound workload, measured in the same run: how fast this machine is right now (the
    figures divided by it compare across loads). The median of 30 runs: a best-of would catch the one
    quiet time slice of a loaded machine."""
    runs = []
    for _ in range(30):
        t0 = time.perf_counter()
        sum(range(200_000))
        runs.append(time.perf_counter() - t0)
    return sorted(runs)[len(runs) // 2] * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=300, help="engine batches to build")
    ap.add_argument("--fills-per-batch", type=int, default=20)
    ap.add_argument("--runs", type=int, default=2, help="audits to time (best is reported)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    reference_before = reference_ms()
    with tempfile.TemporaryDirectory() as tmp:
        devnets = make_devnet(f"sqlite:///{tmp}/ledger.db")
        d = next(devnets)
        stats = build_history(d, args.batches, args.fills_per_batch)
        out = Path(tmp) / "fills.jsonl"
        t0 = time.perf_counter()
        publish(d.db, out)
        publish_s = time.perf_counter() - t0
        reports = [run_audit(d.anvil.url, d.spec.vault, out) for _ in range(args.runs)]
        next(devnets, None)
        size = out.stat().st_size

    best = min(reports, key=lambda r: r.seconds)
    reference = (reference_before + reference_ms()) / 2
    per_batch_read = best.timings["read"] / best.batches
    # Checking cost splits into a per-fill part (signature recovery, leaf, obligations) and a per-batch
    # part; with one history we report the per-batch mean at this fill density.
    per_batch = best.seconds / best.batches
    result = {
        "batches": best.batches,
        "fills": best.fills,
        "fills_per_batch": round(best.fills / best.batches, 1),
        "file_bytes": size,
        "build_s": round(stats.seconds, 1),
        "publish_s": round(publish_s, 2),
        "audit_s": round(best.seconds, 2),
        "audit_runs_s": [round(r.seconds, 2) for r in reports],
        "read_s": round(best.timings["read"], 2),
        "check_s": round(best.timings["check"], 2),
        "final_s": round(best.timings["final"], 2),
        "rederive_s": round(best.timings.get("rederive", 0.0), 2),
        "ms_per_batch_rederive": round(best.timings.get("rederive", 0.0) / best.batches * 1000, 2),
        "ms_per_batch_check": round(best.timings["check"] / best.batches * 1000, 2),
        "ms_per_batch": round(per_batch * 1000, 2),
        "ms_per_batch_read": round(per_batch_read * 1000, 2),
        "us_per_fill_check": round(best.timings["check"] / max(best.fills, 1) * 1e6, 1),
        "day_43200_batches_s": round(per_batch * DAY_BATCHES, 0),
        "reference_ms": round(reference, 3),
        "rederive_per_batch_over_reference": round(
            best.timings.get("rederive", 0.0) / best.batches * 1000 / reference, 3
        ),
        "audit_per_batch_over_reference": round(per_batch * 1000 / reference, 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
