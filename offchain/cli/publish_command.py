"""`crossclear publish`: write the published fills file (docs/auditors.md) from the ledger.

One header line (venues with their signer keys and symbol maps, instruments: a cache of the on-chain
registry, which the auditor checks it against), then one line per
confirmed batch in sequence order with its canonical context string (exactly the bytes its contextHash
commits to), its fills in ingest order (the order its fillsRoot and its transfers were built from) and,
for a batch with default actions, the engine's context of its DECLAREs and its waterfall plans.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from offchain.audit import published as pub
from offchain.ledger.handles import Engine
from offchain.ledger.views.published import read_batches, read_header


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("publish", help="write the published fills file that auditors check batches against")
    p.add_argument("--db", default="sqlite:///var/crossclear.db", help="ledger URL (SQLite file or PostgreSQL)")
    p.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")


def publish(db: Engine, out: Path) -> int:
    """Write the file; returns the number of batches published."""
    with db.connect() as conn:
        return pub.write(out, read_header(conn), read_batches(conn))


def run(args: argparse.Namespace) -> int:
    from offchain.ledger.db import open_ledger

    db = open_ledger(args.db)
    try:
        n = publish(db, args.out)
    finally:
        db.dispose()
    print(f"published {n} batches to {args.out}", file=sys.stderr)
    return 0
