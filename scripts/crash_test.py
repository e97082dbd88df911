#!/usr/bin/env python3
"""Full crash campaign: SIGKILL the settlement engine N times (default 50) at random moments while
venues send fills, restart it each time, then reconcile the chain against the ledger. Prints the
campaign's figures; exits non-zero on any discrepancy."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from offchain.devnet.chaos import run_campaign  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default=None, help="ledger URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = run_campaign(Path(tmp), args.kills, args.seed, args.db)
    print(
        f"kills: {r.kills}, batches settled: {r.batches}, fills acknowledged: {r.fills_acknowledged}, "
        f"resent duplicates: {r.duplicates_resent}, time: {r.seconds:.0f} s"
    )
    for state, n in sorted(r.states_at_kill.items()):
        print(f"  killed while {state}: {n}")
    if r.problems:
        print("DISCREPANCIES:")
        for p in r.problems:
            print("  " + p)
        return 1
    print("reconciled: every acknowledged fill settled exactly once; chain and ledger agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
