#!/usr/bin/env python3
"""Auditor benchmark: how long `crossclear audit` takes over a long devnet history.

Builds a history on a real Anvil with the settlement engine (deposits, fills from three venues, a batch
per round with moving marks, funding, an advance and its repayment, withdrawals: tests/audit/history.py),
publishes it, then audits it (best of `--runs`), and reports the time per batch and per fill, split into
reading the chain (logs, settle calldata) and checking (of which the risk-model rebuild, price-evidence
and IM/MM re-derivation checks: `rederive_s`, `ms_per_batch_rederive`), with an extrapolation to a day
of devnet history at one batch every 2 s (43,200 batches), and the load average. `--json` prints one JSON
object.

What a co-signer pays per batch (`ms_per_batch_steady`): the checks of one batch once its model is built,
i.e. the check time less the one-off model rebuild of each calibration (`rebuild_s`: the first audit run
builds it, later runs in the same process find it cached, as a running co-signer does), plus the copy of the
replay state it checks a proposal on (`fork_ms`, measured on a co-signer's verifier synced over the same
history). Two references measured in the same run: a fixed CPU workload (`reference_ms`) and recovering 20
fill signatures (`reference_sig20_ms`: the signature checks a batch of 20 fills cannot do without).
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
from offchain.core.fills import keccak256, recover_signer  # noqa: E402
from offchain.cosign.verifier import ProposalVerifier  # noqa: E402
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


def reference_sig20_ms() -> float:
    """Recovering the signers of 20 fills (secp256k1 ecrecover): the median of 15 runs."""
    from eth_account import Account

    acct = Account.from_key("0x" + "11" * 32)
    signed = [(d, bytes(acct.unsafe_sign_hash(d).signature)) for d in (keccak256(bytes([k])) for k in range(20))]
    runs = []
    for _ in range(15):
        t0 = time.perf_counter()
        for digest, sig in signed:
            recover_signer(digest, sig)
        runs.append(time.perf_counter() - t0)
    return sorted(runs)[len(runs) // 2] * 1000


def fork_ms(rpc: str, vault: str, registry: str, history: Path) -> tuple[float, float]:
    """A co-signer's verifier started on the history (its sync timed, s) and the median of 5 copies of its
    state (ms): what it does before checking each proposal."""
    from web3 import Web3

    verifier = ProposalVerifier(Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 120})), vault, registry, history)
    t0 = time.perf_counter()
    verifier.sync()
    sync_s = time.perf_counter() - t0
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        verifier.state.fork()
        runs.append(time.perf_counter() - t0)
    return sync_s, sorted(runs)[2] * 1000


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
        sync_s, fork = fork_ms(d.anvil.url, d.spec.vault, d.spec.registry, out)
        sig20 = reference_sig20_ms()
        next(devnets, None)
        size = out.stat().st_size

    best = min(reports, key=lambda r: r.seconds)
    reference = (reference_before + reference_ms()) / 2
    per_batch_read = best.timings["read"] / best.batches
    # Checking cost splits into a per-fill part (signature recovery, leaf, obligations) and a per-batch
    # part; with one history we report the per-batch mean at this fill density.
    per_batch = best.seconds / best.batches
    rebuild_s = best.timings.get("rebuild", 0.0)
    steady = (best.timings["check"] - rebuild_s) / best.batches
    rederive_steady = (best.timings.get("rederive", 0.0) - rebuild_s) / best.batches
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
        "rebuild_s_first_run": round(reports[0].timings.get("rebuild", 0.0), 2),
        "ms_per_batch_steady": round(steady * 1000, 2),
        "ms_per_batch_rederive_steady": round(rederive_steady * 1000, 2),
        "cosigner_sync_s": round(sync_s, 2),
        "fork_ms": round(fork, 2),
        "cosigner_ms_per_batch": round(steady * 1000 + fork, 2),
        "day_43200_batches_s": round(per_batch * DAY_BATCHES, 0),
        "reference_ms": round(reference, 3),
        "rederive_per_batch_over_reference": round(
            best.timings.get("rederive", 0.0) / best.batches * 1000 / reference, 3
        ),
        "audit_per_batch_over_reference": round(per_batch * 1000 / reference, 3),
        "reference_sig20_ms": round(sig20, 3),
        "cosigner_per_batch_over_sig20": round((steady * 1000 + fork) / sig20, 2),
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
