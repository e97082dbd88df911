"""`crossclear publish`: write the published fills file (docs/auditors.md) from the ledger (what it holds:
offchain/ledger/publication.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from offchain.ledger.publication import publish


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("publish", help="write the published fills file that auditors check batches against")
    p.add_argument("--db", default="sqlite:///var/crossclear.db", help="ledger URL (SQLite file or PostgreSQL)")
    p.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")


def run(args: argparse.Namespace) -> int:
    from offchain.ledger.db import open_ledger

    db = open_ledger(args.db)
    try:
        n = publish(db, args.out)
    finally:
        db.dispose()
    print(f"published {n} batches to {args.out}", file=sys.stderr)
    return 0
