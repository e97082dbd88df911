"""`crossclear engine`: run the settlement engine, leader or hot standby, from a settings file (production)
or from a devnet file (the same wiring, with the devnet's plain keys)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from offchain.errors import ConfigError
from offchain.ledger.leader import LeadershipLost
from offchain.settlement.engine import DivergenceError, StepResult


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "engine",
        help="run the settlement engine (a netted, signed batch every few seconds); a second one stands by",
    )
    p.add_argument("--config", type=Path, default=None, help="engine settings file (TOML; docs/operators.md)")
    p.add_argument("--devnet", type=Path, default=None, help="devnet description file instead of --config")
    p.add_argument("--db", default=None, help="ledger URL (default: the settings' db_url; with --devnet: var/)")
    p.add_argument("--interval", type=float, default=None, help="seconds between batches when idle")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (default: run forever)")


def run(args: argparse.Namespace) -> int:
    from offchain.app.settings import EngineSettings
    from offchain.app.wiring import build_engine, deployment_of, engine_lock, run_node
    from offchain.core.logs import configure_json_logging
    from offchain.devnet.runtime import engine_settings
    from offchain.devnet.spec import DevnetSpec
    from offchain.ledger.leader import open_ledger_serialised

    configure_json_logging(logging.INFO)
    if (args.config is None) == (args.devnet is None):
        print("crossclear engine: give --config FILE (settings) or --devnet FILE", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in (("db_url", args.db), ("interval_s", args.interval)) if v is not None}
    try:
        if args.config is not None:
            settings = EngineSettings.load(args.config, **overrides)
            deployment = deployment_of(settings)
            chain_id, vault = deployment.chain_id, deployment.vault
        else:
            spec = DevnetSpec.load(args.devnet)
            base = engine_settings(spec, args.db or "sqlite:///var/crossclear.db")
            settings = base.model_copy(update=overrides)
            chain_id, vault = spec.chain_id, spec.vault
        db = open_ledger_serialised(settings.db_url)
        engine = build_engine(settings, chain_id, vault, db)
    except (ConfigError, ValueError) as exc:
        print(f"crossclear engine: {exc}", file=sys.stderr)
        return 2
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
        run_node(
            engine,
            engine_lock(settings, db, vault),
            settings.interval_s,
            stop=lambda: stopping or (args.max_steps is not None and steps >= args.max_steps),
            on_step=counted,
        )
    except DivergenceError as exc:
        print(f"crossclear engine: chain and ledger diverge: {exc}", file=sys.stderr)
        return 3
    except LeadershipLost as exc:
        print(f"crossclear engine: {exc}; exiting so that a standby leads", file=sys.stderr)
        return 4
    finally:
        db.dispose()
    return 0
