"""`crossclear`: the command-line entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from offchain.chain.errors import ChainError
from offchain.cli import engine_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossclear", description="Cross-venue clearing for 24/7 crypto markets."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the local demo on a real Anvil chain")
    demo.add_argument("--port", type=int, default=None, help="Anvil port (default: a free one)")
    engine_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from offchain.cli.demo import run_demo

            return run_demo(port=args.port)
        if args.command == "engine":
            return engine_command.run(args)
    except ChainError as exc:
        print(f"crossclear: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
