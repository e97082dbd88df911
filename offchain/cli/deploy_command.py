"""`crossclear deploy`: the vault, its modules and the timelock, on the RPC a deployment config names; writes
the deployment description (addresses and parameters, no keys) that `gov` and `engine` read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("deploy", help="deploy the vault and its timelock from a deployment config (TOML)")
    p.add_argument("--config", type=Path, required=True, help="deployment config (docs/operators.md)")
    p.add_argument("--out", type=Path, required=True, help="deployment description to write (JSON, no keys)")


def run(args: argparse.Namespace) -> int:
    from offchain.app.deploy import deploy
    from offchain.app.settings import DeploySettings
    from offchain.chain.errors import ChainError
    from offchain.errors import ConfigError

    if args.out.exists():
        print(f"crossclear deploy: {args.out} exists; a deployment description is never overwritten", file=sys.stderr)
        return 2
    try:
        settings = DeploySettings.load(args.config)
        description = deploy(settings)
    except ConfigError as exc:
        print(f"crossclear deploy: {exc}", file=sys.stderr)
        return 2
    except ChainError as exc:
        print(f"crossclear deploy: the chain refused: {exc}", file=sys.stderr)
        return 1
    description.save(args.out)
    governed = f"timelock {description.timelock}" if description.timelock else "the deployer (devnet)"
    print(f"vault {description.vault} on chain {description.chain_id}, governed by {governed}; wrote {args.out}")
    return 0
