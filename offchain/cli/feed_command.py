"""`crossclear feed`: record price observations of several sources per symbol in the ledger.

``--config FILE`` (production): the sources a settings file names (`FeedSettings`, docs/operators.md):
venues' price endpoints over HTTP and Chainlink AggregatorV3 feeds, polled every ``interval_s``.

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
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("feed", help="record price observations from several sources per symbol in the ledger")
    p.add_argument("--db", default=None, help="ledger URL (default: the settings' or sqlite:///var/crossclear.db)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, default=None, help="feeder settings file (TOML): the price sources")
    source.add_argument(
        "--replay", metavar="FROM", default=None, help="devnet: replay the shipped series from FROM (YYYY-MM-DD[THH])"
    )
    p.add_argument("--speed", type=float, default=1.0, help="history hours per wall-clock hour (default 1)")
    p.add_argument("--interval", type=float, default=None, help="seconds between polls (default: settings' or 2)")
    p.add_argument("--max-polls", type=int, default=None, help="stop after this many polls (default: run forever)")


def run(args: argparse.Namespace) -> int:
    from offchain.ledger.db import DEFAULT_URL, open_ledger
    from offchain.ledger.price_feed_store import LedgerPriceSink
    from offchain.marketdata.feeder import Feeder
    from offchain.marketdata.observations import MarketInputError
    from offchain.marketdata.replay import parse_instant, replay_sources
    from offchain.marketdata.sources import PriceAdapter

    if (args.interval is not None and args.interval <= 0) or (args.max_polls is not None and args.max_polls < 1):
        print("crossclear feed: --interval must be > 0 and --max-polls >= 1", file=sys.stderr)
        return 2
    start = int(time.time() * 1000)
    sources: list[PriceAdapter]
    db_url, interval = args.db or DEFAULT_URL, args.interval or 2.0
    if args.config is not None:
        from offchain.app.settings import FeedSettings
        from offchain.app.wiring import price_sources
        from offchain.config.settings import SettingsError

        try:
            settings = FeedSettings.load(args.config)
        except SettingsError as exc:
            print(f"crossclear feed: {exc}", file=sys.stderr)
            return 2
        sources = price_sources(settings)
        db_url, interval = args.db or settings.db_url, args.interval or settings.interval_s
    else:
        try:
            sources = list(replay_sources(parse_instant(args.replay), start, args.speed))
        except (MarketInputError, OSError) as exc:
            print(f"crossclear feed: {exc}", file=sys.stderr)
            return 2
        if not any(s.poll(start) for s in sources):
            print(
                f"crossclear feed: no replayed series has a price at {args.replay} (see data/market/README.md)",
                file=sys.stderr,
            )
            return 2
    db = open_ledger(db_url)
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
                time.sleep(interval)
    finally:
        db.dispose()
    return 0
