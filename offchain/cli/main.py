"""`crossclear`: the command-line entry point."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from offchain.cli import (
    audit_command,
    cosign_command,
    deploy_command,
    devnet_command,
    engine_command,
    feed_command,
    gov_command,
    keys_command,
    publish_command,
    replay_command,
    serve_command,
)
from offchain.errors import CrossclearError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossclear", description="Cross-venue clearing for 24/7 crypto markets.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the local demo on a real Anvil chain")
    demo.add_argument("--port", type=int, default=None, help="Anvil port (default: a free one)")
    demo.add_argument("--window", default="may-2021", help="may-2021, nov-2022 or START/END")
    demo.add_argument("--members", metavar="FILE", default=None, help="population JSON (docs/members.md)")
    demo.add_argument("--speed", type=float, default=2400.0, help="seconds of history per second (0: no pacing)")
    demo.add_argument("--out", default="var/demo", help="folder for the report, the ledger and the chain log")
    bt = sub.add_parser("backtest", help="back-test the initial margin on price history (Kupiec, Christoffersen)")
    bt.add_argument("--prices", action="append", metavar="PATH", help="candle file (repeatable; default: shipped data)")
    bt.add_argument("--perp", action="append", metavar="PATH", help="perpetual candle file, symbols get -PERP")
    bt.add_argument("--from", dest="start", metavar="DATE", help="first test day (history before it is look-back)")
    bt.add_argument("--to", dest="end", metavar="DATE", help="last test day")
    bt.add_argument("--json", action="store_true", help="print one JSON object")
    bt.add_argument("--out", default="docs/backtest.md", help="markdown table to write ('' to skip)")
    bt.add_argument("--population", action="append", metavar="FILE", help="also test these members' books")
    mg = sub.add_parser("margin", help="IM, MM, add-ons and collateral value per member")
    mg.add_argument("--positions", required=True, metavar="FILE", help="positions JSON (see docs/risk.md)")
    mg.add_argument("--prices", action="append", required=True, metavar="FILE", help="candle file (repeatable)")
    mg.add_argument("--perp", action="append", metavar="FILE", help="perpetual candle file, symbols get -PERP")
    mg.add_argument("--json", action="store_true", help="print one JSON object")
    devnet_command.add_parser(sub)
    keys_command.add_parser(sub)
    deploy_command.add_parser(sub)
    gov_command.add_parser(sub)
    engine_command.add_parser(sub)
    replay_command.add_parser(sub)
    serve_command.add_parser(sub)
    publish_command.add_parser(sub)
    audit_command.add_parser(sub)
    cosign_command.add_parser(sub)
    feed_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from offchain.cli.demo import run_demo

            return run_demo(port=args.port, window=args.window, members=args.members, speed=args.speed, out=args.out)
        if args.command == "backtest":
            from offchain.cli.risk_commands import run_backtest_command

            return run_backtest_command(
                args.prices, args.perp, args.start, args.end, args.json, args.out, args.population
            )
        if args.command == "margin":
            from offchain.cli.risk_commands import run_margin_command

            return run_margin_command(args.positions, args.prices, args.perp, args.json)
        if args.command == "devnet":
            return devnet_command.run(args)
        if args.command == "keys":
            return keys_command.run(args)
        if args.command == "deploy":
            return deploy_command.run(args)
        if args.command == "gov":
            return gov_command.run(args)
        if args.command == "engine":
            return engine_command.run(args)
        if args.command == "replay":
            return replay_command.run(args)
        if args.command == "serve":
            return serve_command.run(args)
        if args.command == "publish":
            return publish_command.run(args)
        if args.command == "audit":
            return audit_command.run(args)
        if args.command == "cosign":
            return cosign_command.run(args)
        if args.command == "feed":
            return feed_command.run(args)
    except CrossclearError as exc:  # anything crossclear refused on purpose: a message, not a traceback
        print(f"crossclear: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
