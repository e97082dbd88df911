"""The devnet's price sources: three Binance series of BTC and ETH replayed from ``data/market``.

Each venue series is its own source, publishing both the underlying's index symbol (``BTC``) and the
perpetual's mark (``BTC-USD-PERP``): ``binance-spot`` (spot last trade, hourly), ``binance-perp``
(perpetual last trade, hourly) and ``binance-mark`` (the exchange's perpetual mark price, hourly). The spot
and mark files are cuts of the four stress windows (data/market/README.md), the perpetual file is whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from offchain.marketdata.observations import MarketInputError
from offchain.marketdata.sources import ReplaySource, load_series

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "market"
UNDERLYINGS = ("BTC", "ETH")
FILES = {
    "binance-spot": "binance-spot-hourly-stress.csv.gz",
    "binance-perp": "binance-usdm-perp-hourly.csv.gz",
    "binance-mark": "binance-usdm-mark-hourly-stress.csv.gz",
}


def parse_instant(text: str) -> int:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH`` (UTC) as ms since the epoch; MarketInputError otherwise."""
    try:
        return int(np.datetime64(text.rstrip("Z"), "ms").astype(np.int64))
    except ValueError:
        raise MarketInputError("bad_instant", f"not a date or hour (YYYY-MM-DD[THH]): {text!r}") from None


def replay_sources(
    history_start_ms: int, start_ms: int, speed: float = 1.0, data_dir: Path = DATA_DIR
) -> list[ReplaySource]:
    """The three replayed sources, history instant ``history_start_ms`` shown at ledger time ``start_ms``."""
    publishes = {u: [u, f"{u}-USD-PERP"] for u in UNDERLYINGS}
    out = []
    for name, file in FILES.items():
        series = load_series(data_dir / file, UNDERLYINGS)
        out.append(ReplaySource(name, series, publishes, history_start_ms, start_ms, speed))
    return out
