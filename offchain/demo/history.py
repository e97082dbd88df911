"""The replayed window: real hourly perpetual closes and funding rates from `data/market/`.

A window is a named episode (`may-2021`, `nov-2022`) or `START/END` in ISO UTC hours
(`2021-05-19T00/2021-05-19T12`). Every hour of the window becomes one tick of the demo.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from offchain.errors import CrossclearError

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "market"
PERP_FILE = "binance-usdm-perp-hourly.csv.gz"
FUNDING_FILE = "binance-usdm-funding.csv.gz"
UNDERLYINGS = ("BTC", "ETH")

# Named episodes: (first hour, end hour exclusive, what happened).
WINDOWS: dict[str, tuple[str, str, str]] = {
    "may-2021": (
        "2021-05-17T00",
        "2021-05-20T00",
        "19 May 2021: China's mining and payments crackdown; BTC −30% intraday, ETH −40%",
    ),
    "nov-2022": (
        "2022-11-07T00",
        "2022-11-10T00",
        "8–9 Nov 2022: FTX halts withdrawals; BTC −25% in two days, ETH −30%",
    ),
}
DEFAULT_WINDOW = "may-2021"


class WindowError(CrossclearError, ValueError):
    """The window cannot be read from the data."""


@dataclass(frozen=True)
class Window:
    """Hourly closes of the BTC and ETH perpetuals over the window.

    Attributes:
        name: the window's name or its `START/END` text.
        note: what happened then.
        hours: (T,) `datetime64[h]`, consecutive hours (candle open times, UTC).
        close: (T, 2) float64 closes in USD (columns: BTC, ETH).
        funding: funding fixings inside the window: (hour index, underlying, rate as a fraction).
    """

    name: str
    note: str
    hours: NDArray[np.datetime64]
    close: NDArray[np.float64]
    funding: tuple[tuple[int, str, float], ...]

    def __len__(self) -> int:
        return len(self.hours)

    def price(self, tick: int, underlying: str) -> float:
        return float(self.close[tick, UNDERLYINGS.index(underlying)])

    def label(self, tick: int) -> str:
        return str(self.hours[tick]).replace("T", " ") + ":00 UTC"

    @property
    def first_day(self) -> str:
        return str(self.hours[0].astype("datetime64[D]"))


def parse_window(text: str) -> tuple[str, str, str, str]:
    """(name, start, end, note) from a named window or `START/END`."""
    if text in WINDOWS:
        start, end, note = WINDOWS[text]
        return text, start, end, note
    parts = text.split("/")
    if len(parts) != 2:
        raise WindowError(
            f"window {text!r}: use one of {', '.join(WINDOWS)} or START/END (e.g. 2021-05-19T00/2021-05-19T12)"
        )
    try:
        lo, hi = (np.datetime64(p.strip().rstrip("Z"), "h") for p in parts)
    except ValueError as exc:
        raise WindowError(f"window {text!r}: {exc}") from None
    if hi <= lo:
        raise WindowError(f"window {text!r}: the end must be after the start")
    return text, str(lo), str(hi), "a custom window"


def _rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise WindowError(f"market data not found: {path}")
    with gzip.open(path, "rt", newline="") as f:
        return list(csv.reader(f))


def load_window(text: str = DEFAULT_WINDOW, data_dir: Path = DATA_DIR) -> Window:
    name, start_s, end_s, note = parse_window(text)
    start, end = np.datetime64(start_s, "h"), np.datetime64(end_s, "h")
    hours = np.arange(start, end, dtype="datetime64[h]")
    close = np.full((len(hours), len(UNDERLYINGS)), np.nan)
    rows = _rows(data_dir / PERP_FILE)
    header = rows[0]
    it, isym, ic = header.index("timestamp"), header.index("symbol"), header.index("close")
    lo, hi = str(start), str(end)
    for row in rows[1:]:
        ts = row[it][:13]
        if lo <= ts < hi and row[isym] in UNDERLYINGS:
            k = int((np.datetime64(ts, "h") - start).astype(int))
            close[k, UNDERLYINGS.index(row[isym])] = float(row[ic])
    if np.isnan(close).any():
        missing = sorted({str(hours[k]) for k in np.flatnonzero(np.isnan(close).any(axis=1))})
        raise WindowError(f"window {name}: no perpetual close for {len(missing)} hour(s), e.g. {missing[:3]}")
    if len(hours) < 2:
        raise WindowError(f"window {name}: needs at least two hours")
    funding: list[tuple[int, str, float]] = []
    frows = _rows(data_dir / FUNDING_FILE)
    fh = frows[0]
    ft, fs, fr = fh.index("timestamp"), fh.index("symbol"), fh.index("funding_rate")
    for row in frows[1:]:
        ts = row[ft][:13]
        if lo < ts < hi and row[fs] in UNDERLYINGS:  # a fixing at the first hour has no interval inside
            funding.append((int((np.datetime64(ts, "h") - start).astype(int)), row[fs], float(row[fr])))
    funding.sort()
    return Window(name, note, hours, close, tuple(funding))
