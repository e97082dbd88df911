"""`crossclear engine`: run the settlement engine against a devnet (or any chain described the same way)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from offchain.settlement.engine import DivergenceError, StepResult


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("engine", help="run the settlement engine: a netted, signed batch every few seconds")
    p.add_argument("--devnet", type=Path, default=Path("var/devnet.json"), help="devnet description file")
    p.add_argument("--db", default="sqlite:///var/crossclear.db", help="ledger URL (SQLite file or PostgreSQL)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between batches when idle")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (default: run forever)")


def run(args: argparse.Namespace) -> int:
    from offchain.core.logs import configure_json_logging
    from offchain.devnet.runtime import settlement_engine
    from offchain.devnet.spec import DevnetSpec
    from offchain.ledger.db import open_ledger

    configure_json_logging(logging.INFO)
    try:
        spec = DevnetSpec.load(args.devnet)
    except ValueError as exc:
        print(f"crossclear engine: {exc}", file=sys.stderr)
        return 2
    db = open_ledger(args.db)
    engine = settlement_engine(spec, db)
    stopping = False
    steps = 0

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def counted(_: StepResult) -> None:
        nonlocal steps
        steps += 1

    try:
        engine.run(
            args.interval,
            stop=lambda: stopping or (args.max_steps is not None and steps >= args.max_steps),
            on_step=counted,
        )
    except DivergenceError as exc:
        print(f"crossclear engine: chain and ledger diverge: {exc}", file=sys.stderr)
        return 3
    return 0
