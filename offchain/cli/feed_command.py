"""`crossclear feed`: record price observations of several sources per symbol in the ledger.

``--replay FROM`` (devnet): the three Binance series of BTC and ETH in data/market (spot, perpetual, mark)
replayed as live tickers from the history instant FROM, ``--speed`` hours of history per hour (1: real
time). Each poll records every source's price of ``BTC``, ``ETH``, ``BTC-USD-PERP`` and ``ETH-USD-PERP``;
the engine takes their index (docs/risk.md, "Market data and the index").
"""

from __future__ import annotations

import argparse
import signal
import sys
import time


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("feed", help="record price observations from several sources per symbol in the ledger")
    p.add_argument("--db", default="sqlite:///var/crossclear.db", help="ledger URL")
    p.add_argument(
        "--replay", required=True, metavar="FROM", help="replay the shipped series from FROM (YYYY-MM-DD[THH])"
    )
    p.add_argument("--speed", type=float, default=1.0, help="history hours per wall-clock hour (default 1)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    p.add_argument("--max-polls", type=int, default=None, help="stop after this many polls (default: run forever)")


def run(args: argparse.Namespace) -> int:
    from offchain.ledger.db import open_ledger
    from offchain.ledger.price_feed_store import LedgerPriceSink
    from offchain.marketdata.feeder import Feeder
    from offchain.marketdata.observations import MarketInputError
    from offchain.marketdata.replay import parse_instant, replay_sources

    if args.interval <= 0 or (args.max_polls is not None and args.max_polls < 1):
        print("crossclear feed: --interval must be > 0 and --max-polls >= 1", file=sys.stderr)
        return 2
    start = int(time.time() * 1000)
    try:
        sources = replay_sources(parse_instant(args.replay), start, args.speed)
    except (MarketInputError, OSError) as exc:
        print(f"crossclear feed: {exc}", file=sys.stderr)
        return 2
    if not any(s.poll(start) for s in sources):
        print(
            f"crossclear feed: no replayed series has a price at {args.replay} (see data/market/README.md)",
            file=sys.stderr,
        )
        return 2
    db = open_ledger(args.db)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    feeder = Feeder(LedgerPriceSink(db), sources)
    polls = 0
    try:
        while not stopping and (args.max_polls is None or polls < args.max_polls):
            recorded = feeder.step(int(time.time() * 1000))
            polls += 1
            print(f"poll {polls}: {len(recorded)} observations from {len({o.source for o in recorded})} sources")
            sys.stdout.flush()
            if args.max_polls is None or polls < args.max_polls:
                time.sleep(args.interval)
    finally:
        db.dispose()
    return 0
