"""`crossclear replay`: members through a real price path, crossclear vs venue-only (docs/stress-replays.md).

Exit 0 on success, 2 with a message on stderr for bad input (missing or malformed price/members file,
unknown instrument, a window with no candles or without look-back history).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from offchain.risk.errors import RiskError


def add_parser(sub: Any) -> None:
    rp = sub.add_parser("replay", help="replay a member population through a price path: crossclear vs venue-only")
    rp.add_argument(
        "--prices",
        action="append",
        required=True,
        metavar="FILE",
        help="candle file (daily, 4-hour or hourly; repeatable), symbols as written",
    )
    rp.add_argument(
        "--perp",
        action="append",
        default=[],
        metavar="FILE",
        help="perpetual candle file of the same candle length, symbols get -PERP (repeatable)",
    )
    rp.add_argument("--from", dest="start", metavar="DATE", help="first day of the replay (default: first candle)")
    rp.add_argument("--to", dest="end", metavar="DATE", help="last day of the replay (default: last candle)")
    rp.add_argument("--members", metavar="FILE", help="population JSON or CSV (default: data/replay/population.json)")
    rp.add_argument(
        "--history",
        action="append",
        metavar="FILE",
        help="daily history for the risk engine's look-back (default: the shipped spot file)",
    )
    rp.add_argument(
        "--history-perp",
        action="append",
        metavar="FILE",
        help="perpetual history, symbols get -PERP (default: the shipped perpetual file)",
    )
    rp.add_argument("--json", action="store_true", help="print one JSON object")
    rp.add_argument("--events", action="store_true", help="with --json: include the event log")


def run(args: argparse.Namespace) -> int:
    from offchain.replay.engine import replay_files
    from offchain.replay.report import text_summary, to_json

    try:
        result = replay_files(
            args.prices, args.perp, args.start, args.end, args.members, args.history, args.history_perp
        )
    except (RiskError, OSError) as exc:
        print(f"crossclear: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(result, events=args.events)))
    else:
        print(text_summary(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command on its own (``python -m offchain.cli.replay_command --prices ...``)."""
    parser = argparse.ArgumentParser(prog="crossclear")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["replay", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
