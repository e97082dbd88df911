"""Price paths for replays: candle files at their own frequency (daily, 4-hour, hourly).

The risk engine works on daily closes (:func:`offchain.risk.marketdata.load_candles`); a replay marks
positions at every candle close of the path. File format: ``data/market/README.md`` (gzip or plain CSV,
header with at least ``timestamp,symbol,close``; ``timestamp`` is the candle's open time, UTC ISO 8601).

* A step is a candle **close** (open time + candle length). All series of a path must have the same
  candle length (mixing a daily spot file with an hourly perp file would leave one leg stale all day).
* A candle missing in one series (an exchange outage) carries that series' previous close forward
  (no price update); a replay keeps the series its instruments and collateral need
  (:meth:`PricePath.select`), from the first step where all of them have a close.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from offchain.marketdata.files import open_text
from offchain.risk.errors import MarketDataError
from offchain.risk.marketdata import PriceHistory

FloatArray = NDArray[np.float64]
TimeArray = NDArray[np.datetime64]


@dataclass(frozen=True)
class PricePath:
    """Closes of F series at N steps.

    Attributes:
        times: (N,) ``datetime64[h]`` candle close times, strictly increasing.
        symbols: F series names (``BTC``, ``BTC-PERP``).
        close: (N, F) close prices (finite, > 0).
        step_hours: candle length in hours (24, 4, 1, ...).
    """

    times: TimeArray
    symbols: tuple[str, ...]
    close: FloatArray
    step_hours: int

    def column(self, symbol: str) -> int:
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise MarketDataError(f"price path has no series {symbol!r}; have {', '.join(self.symbols)}") from None

    def select(self, symbols: Sequence[str]) -> PricePath:
        """The path of ``symbols`` only, from the first step where all of them have a close."""
        cols = [self.column(x) for x in dict.fromkeys(symbols)]
        close = self.close[:, cols]
        keep = np.all(np.isfinite(close), axis=1)
        if not keep.any():
            raise MarketDataError(f"the series {', '.join(symbols)} never all have a close at the same step")
        first = int(np.argmax(keep))
        if not bool(np.all(keep[first:])):
            gone = self.times[first:][~keep[first:]][0]
            raise MarketDataError(f"a series of {', '.join(symbols)} has no close from {gone} on (delisted?)")
        return PricePath(self.times[first:], tuple(dict.fromkeys(symbols)), close[first:], self.step_hours)

    def window(self, start: np.datetime64 | None, end: np.datetime64 | None) -> PricePath:
        """Steps whose candle **opens** on a day in ``[start, end]`` (days, either bound optional)."""
        opens = (self.times - np.timedelta64(self.step_hours, "h")).astype("datetime64[D]")
        mask = np.ones(len(self.times), dtype=bool)
        if start is not None:
            mask &= opens >= start
        if end is not None:
            mask &= opens <= end
        if not mask.any():
            raise MarketDataError(f"no candles between {start} and {end} in the price path")
        return PricePath(self.times[mask], self.symbols, self.close[mask], self.step_hours)


def _read(path: Path) -> list[list[str]]:
    return list(csv.reader(open_text(path, MarketDataError)))


def load_path(path: str | Path, *, suffix: str = "") -> PricePath:
    """One candle file as a :class:`PricePath` (symbols get ``suffix``, e.g. ``-PERP``)."""
    p = Path(path)
    rows = _read(p)
    if not rows:
        raise MarketDataError(f"{p}: empty file")
    header = rows[0]
    for col in ("timestamp", "symbol", "close"):
        if col not in header:
            raise MarketDataError(f"{p}: missing column {col!r}; header is {','.join(header)}")
    it, isym, ic = header.index("timestamp"), header.index("symbol"), header.index("close")
    times: dict[str, list[np.datetime64]] = {}
    closes: dict[str, list[float]] = {}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise MarketDataError(f"{p}:{n}: expected {len(header)} fields, got {len(row)}")
        try:
            t = np.datetime64(row[it].rstrip("Z"), "h")
        except ValueError:
            raise MarketDataError(f"{p}:{n}: bad timestamp {row[it]!r}") from None
        try:
            c = float(row[ic])
        except ValueError:
            raise MarketDataError(f"{p}:{n}: non-numeric close {row[ic]!r}") from None
        if not (np.isfinite(c) and c > 0):
            raise MarketDataError(f"{p}:{n}: close must be finite and > 0, got {row[ic]!r}")
        sym = row[isym] + suffix
        times.setdefault(sym, []).append(t)
        closes.setdefault(sym, []).append(c)
    if not times:
        raise MarketDataError(f"{p}: no rows")
    series: dict[str, tuple[TimeArray, FloatArray]] = {}
    steps: dict[str, int] = {}
    for sym in sorted(times):
        ts: TimeArray = np.array(times[sym], dtype="datetime64[h]")
        d = np.diff(ts.astype("int64"))
        if d.size and not bool(np.all(d > 0)):
            raise MarketDataError(f"{p}: timestamps of {sym} not strictly increasing")
        steps[sym] = int(d.min()) if d.size else 24
        series[sym] = (ts, np.array(closes[sym], dtype=np.float64))
    return _align(series, steps, str(p))


def _align(series: dict[str, tuple[TimeArray, FloatArray]], steps: dict[str, int], where: str) -> PricePath:
    lengths = set(steps.values())
    if len(lengths) != 1:
        listing = ", ".join(f"{s} {h}h" for s, h in sorted(steps.items()))
        raise MarketDataError(f"{where}: all series of a price path must have the same candle length; got {listing}")
    step = lengths.pop()
    if step <= 0 or 24 % step:
        raise MarketDataError(f"{where}: candle length {step}h does not divide a day")
    closes_at = {s: (t + np.timedelta64(step, "h"), c) for s, (t, c) in series.items()}
    grid = np.unique(np.concatenate([t for t, _ in closes_at.values()]))
    out = np.full((len(grid), len(series)), np.nan)
    for j, (t, c) in enumerate(closes_at.values()):
        idx = np.searchsorted(grid, t)
        out[idx, j] = c
    # forward-fill gaps (outages) inside each series
    for j in range(out.shape[1]):
        col = out[:, j]
        ok = np.isfinite(col)
        last = np.where(ok, np.arange(len(col)), -1)
        np.maximum.accumulate(last, out=last)
        out[:, j] = np.where(last >= 0, col[np.maximum(last, 0)], np.nan)
    return PricePath(grid, tuple(series), out, step)


def merge_paths(paths: Sequence[PricePath]) -> PricePath:
    """Union of several paths (distinct symbols, same candle length) on the union of their steps."""
    if not paths:
        raise MarketDataError("no price path")
    series: dict[str, tuple[TimeArray, FloatArray]] = {}
    steps: dict[str, int] = {}
    for pp in paths:
        for j, s in enumerate(pp.symbols):
            if s in series:
                raise MarketDataError(f"symbol {s!r} in more than one price file")
            series[s] = (pp.times - np.timedelta64(pp.step_hours, "h"), pp.close[:, j])
            steps[s] = pp.step_hours
    return _align(series, steps, "price files")


def overlay(history: PriceHistory, update: PriceHistory) -> PriceHistory:
    """``history`` with ``update``'s daily closes/volumes written over it (new days and symbols added)."""
    symbols = tuple(dict.fromkeys([*history.symbols, *update.symbols]))
    days = np.unique(np.concatenate([history.dates, update.dates]))
    close = np.full((len(days), len(symbols)), np.nan)
    volume = np.full_like(close, np.nan)
    for h in (history, update):
        rows = np.searchsorted(days, h.dates)
        for j, s in enumerate(h.symbols):
            ok = np.isfinite(h.close[:, j])
            k = symbols.index(s)
            close[rows[ok], k] = h.close[ok, j]
            volume[rows[ok], k] = h.volume[ok, j]
    return PriceHistory(days, symbols, close, volume)
