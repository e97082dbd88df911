"""Market data: load candle files, align them on a daily grid, compute returns and EWMA volatility.

File format (see ``data/market/README.md``): gzip or plain CSV, one header line, columns
``timestamp,symbol,open,high,low,close,volume`` (``timestamp`` ISO 8601 UTC, candle **open** time), or
``timestamp,symbol,funding_rate`` for funding files. Hourly candles are reduced to a daily close (the close
of the 23:00 UTC candle, which is the same instant as the daily candle's close) and a daily volume (sum).

Data-quality gate (:func:`load_candles`; docs/risk.md, "Data quality"): a non-positive price, an OHLC row
whose low/high do not bound its open/close, a duplicate or out-of-order timestamp, and an isolated spike
(a close more than ``SPIKE`` times away from both neighbours, which agree with each other within
``SPIKE_REVERT``: a fat finger, not a move) are **rejected** with the file and line. A **gap** (a day
missing inside a series' listed life) is **handled explicitly**: the return after it is measured from
the last close before it (:func:`simple_returns`), the gap day itself has no return and is left out of
every look-back that needs the series (:func:`offchain.risk.scenarios.build_scenarios`), and
:func:`gaps` reports it; it is never filled from another series.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from offchain.marketdata.files import open_text
from offchain.risk.errors import ConfigError, MarketDataError

FloatArray = NDArray[np.float64]
DateArray = NDArray[np.datetime64]

_CANDLE_COLUMNS = ("timestamp", "symbol", "close", "volume")
_OHLC = ("open", "high", "low")

#: A close this many times away from both neighbours (which agree within SPIKE_REVERT) is a fat finger.
SPIKE = 3.0
SPIKE_REVERT = 1.25


@dataclass(frozen=True)
class PriceHistory:
    """Daily closes and volumes of F series on T days (NaN where a series is not listed).

    Attributes:
        dates: (T,) ``datetime64[D]``, strictly increasing, UTC day of the close.
        symbols: F series names (``"BTC"`` for spot, ``"BTC-PERP"`` for a perpetual, ...).
        close: (T, F) float64 close prices in USDT; NaN before listing / after delisting.
        volume: (T, F) float64 traded base-asset quantity per day; NaN where close is NaN.
    """

    dates: DateArray
    symbols: tuple[str, ...]
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        t, f = len(self.dates), len(self.symbols)
        if self.close.shape != (t, f) or self.volume.shape != (t, f):
            raise MarketDataError(f"close/volume must be ({t}, {f}), got {self.close.shape}")
        if t > 1 and not bool(np.all(np.diff(self.dates.astype("int64")) > 0)):
            raise MarketDataError("dates must be strictly increasing")
        if len(set(self.symbols)) != f:
            raise MarketDataError("duplicate symbols")

    def index(self, symbol: str) -> int:
        """Column of ``symbol``; raises :class:`MarketDataError` if absent."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise MarketDataError(f"no price series {symbol!r}; have {', '.join(self.symbols)}") from None

    def select(self, symbols: Sequence[str]) -> PriceHistory:
        """The sub-history of ``symbols``, in that order."""
        cols = [self.index(s) for s in symbols]
        return PriceHistory(self.dates, tuple(symbols), self.close[:, cols], self.volume[:, cols])

    def window(self, start: np.datetime64 | None = None, end: np.datetime64 | None = None) -> PriceHistory:
        """Rows with ``start <= date <= end`` (either bound optional)."""
        mask = np.ones(len(self.dates), dtype=bool)
        if start is not None:
            mask &= self.dates >= start.astype("datetime64[D]")
        if end is not None:
            mask &= self.dates <= end.astype("datetime64[D]")
        return PriceHistory(self.dates[mask], self.symbols, self.close[mask], self.volume[mask])


def _parse_time(text: str, path: Path, line: int) -> np.datetime64:
    try:
        return np.datetime64(text.rstrip("Z"), "h")
    except ValueError:
        raise MarketDataError(f"{path}:{line}: bad timestamp {text!r}") from None


def load_candles(path: str | Path, *, suffix: str = "", symbols: Iterable[str] | None = None) -> PriceHistory:
    """Load a candle file (daily, 4-hourly or hourly) as a daily :class:`PriceHistory`.

    Args:
        path: CSV or gzip CSV with at least ``timestamp,symbol,close,volume``.
        suffix: appended to every symbol (``"-PERP"`` for the perpetual file).
        symbols: keep only these base symbols (before the suffix); all if ``None``.

    Sub-daily candles: the day's close is the close of the candle ending at 24:00 UTC (the last candle
    of the day must end at midnight, else the day has no close); the day's volume is the sum.
    """
    p = Path(path)
    keep = None if symbols is None else set(symbols)
    reader = csv.reader(open_text(p, MarketDataError))
    header = next(reader, None)
    if header is None:
        raise MarketDataError(f"{p}: empty file")
    missing = [c for c in _CANDLE_COLUMNS if c not in header]
    if missing:
        raise MarketDataError(f"{p}: missing column(s) {', '.join(missing)}; header is {','.join(header)}")
    it, isym, ic, iv = (header.index(c) for c in _CANDLE_COLUMNS)
    iohl = [header.index(c) for c in _OHLC] if all(c in header for c in _OHLC) else None
    times: dict[str, list[np.datetime64]] = {}
    closes: dict[str, list[float]] = {}
    vols: dict[str, list[float]] = {}
    lines: dict[str, list[int]] = {}
    for n, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise MarketDataError(f"{p}:{n}: expected {len(header)} fields, got {len(row)}")
        sym = row[isym]
        if keep is not None and sym not in keep:
            continue
        try:
            c, v = float(row[ic]), float(row[iv])
        except ValueError:
            raise MarketDataError(f"{p}:{n}: non-numeric close/volume {row[ic]!r}/{row[iv]!r}") from None
        if not (np.isfinite(c) and c > 0 and np.isfinite(v) and v >= 0):
            raise MarketDataError(f"{p}:{n}: close must be > 0 and volume >= 0, got {c}, {v}")
        if iohl is not None:
            _check_ohlc(row, iohl, c, p, n)
        times.setdefault(sym, []).append(_parse_time(row[it], p, n))
        closes.setdefault(sym, []).append(c)
        vols.setdefault(sym, []).append(v)
        lines.setdefault(sym, []).append(n)
    if not times:
        raise MarketDataError(f"{p}: no rows" + ("" if keep is None else f" for {sorted(keep)}"))
    series = {}
    for sym in sorted(times):
        t = np.array(times[sym], dtype="datetime64[h]")
        step = np.diff(t.astype("int64"))
        if len(t) > 1 and not bool(np.all(step > 0)):
            k = int(np.flatnonzero(step <= 0)[0]) + 1
            what = "duplicate timestamp" if step[k - 1] == 0 else "timestamp out of order"
            raise MarketDataError(f"{p}:{lines[sym][k]}: {sym} {what} {t[k]}")
        close = np.array(closes[sym])
        _check_spikes(close, sym, lines[sym], p)
        series[sym + suffix] = _to_daily(t, close, np.array(vols[sym]))
    return _align(series)


def _check_ohlc(row: list[str], cols: list[int], close: float, path: Path, line: int) -> None:
    try:
        o, h, lo = (float(row[k]) for k in cols)
    except ValueError:
        raise MarketDataError(f"{path}:{line}: non-numeric open/high/low") from None
    if not (np.isfinite(o) and np.isfinite(h) and np.isfinite(lo)) or min(o, h, lo) <= 0:
        raise MarketDataError(f"{path}:{line}: open/high/low must be > 0, got {o}, {h}, {lo}")
    if not (lo <= min(o, close) and h >= max(o, close)):
        raise MarketDataError(
            f"{path}:{line}: OHLC inconsistent (low {lo}, high {h} do not bound open {o}, close {close})"
        )


def _check_spikes(close: FloatArray, sym: str, lines: list[int], path: Path) -> None:
    """Reject an isolated spike: a close SPIKE× away from both neighbours, which agree within SPIKE_REVERT."""
    if len(close) < 3:
        return
    prev, mid, nxt = close[:-2], close[1:-1], close[2:]
    jump = np.maximum(mid / prev, prev / mid) > SPIKE
    back = np.maximum(nxt / prev, prev / nxt) < SPIKE_REVERT
    bad = np.flatnonzero(jump & back)
    if bad.size:
        k = int(bad[0]) + 1
        raise MarketDataError(
            f"{path}:{lines[k]}: {sym} close {close[k]} is an isolated spike "
            f"({close[k - 1]} before, {close[k + 1]} after)"
        )


def _to_daily(
    t: NDArray[np.datetime64], close: FloatArray, volume: FloatArray
) -> tuple[DateArray, FloatArray, FloatArray]:
    step = int(np.min(np.diff(t.astype("int64")))) if len(t) > 1 else 24
    day = t.astype("datetime64[D]")
    if step >= 24:
        return day, close, volume
    days, inverse = np.unique(day, return_inverse=True)
    vol = np.bincount(inverse, weights=volume, minlength=len(days))
    last_of_day = (t + np.timedelta64(step, "h")).astype("datetime64[D]") > day
    cl = np.full(len(days), np.nan)
    cl[inverse[last_of_day]] = close[last_of_day]
    ok = np.isfinite(cl)
    return days[ok], cl[ok], vol[ok]


def _align(series: dict[str, tuple[DateArray, FloatArray, FloatArray]]) -> PriceHistory:
    all_days = np.unique(np.concatenate([d for d, _, _ in series.values()]))
    close = np.full((len(all_days), len(series)), np.nan)
    volume = np.full_like(close, np.nan)
    for j, (d, c, v) in enumerate(series.values()):
        rows = np.searchsorted(all_days, d)
        close[rows, j] = c
        volume[rows, j] = v
    return PriceHistory(all_days, tuple(series), close, volume)


def merge(*histories: PriceHistory) -> PriceHistory:
    """Union of several histories on the union of their dates (symbols must be distinct)."""
    series: dict[str, tuple[DateArray, FloatArray, FloatArray]] = {}
    for h in histories:
        for j, s in enumerate(h.symbols):
            if s in series:
                raise MarketDataError(f"symbol {s!r} in more than one history")
            ok = np.isfinite(h.close[:, j])
            series[s] = (h.dates[ok], h.close[ok, j], h.volume[ok, j])
    return _align(series)


def simple_returns(close: FloatArray) -> FloatArray:
    """(T, F) closes → (T, F) simple returns ``close[t] / close[prev] - 1`` with ``prev`` the last day
    with a close: the return after a gap spans it (explicit, never borrowed from another series). Row 0,
    days without a close and days before a series' first close are NaN."""
    out = np.full_like(close, np.nan)
    t_len = close.shape[0]
    have = np.isfinite(close)
    idx = np.where(have, np.arange(t_len)[:, None], -1)
    last = np.maximum.accumulate(idx, axis=0)  # (T, F) last row with a close at or before t
    prev = np.vstack([np.full((1, close.shape[1]), -1), last[:-1]])
    ok = have & (prev >= 0)
    cols = np.broadcast_to(np.arange(close.shape[1]), close.shape)
    out[ok] = close[ok] / close[prev[ok], cols[ok]] - 1.0
    return out


def gaps(history: PriceHistory) -> dict[str, list[str]]:
    """Days missing inside each series' listed life (between its first and last close)."""
    out: dict[str, list[str]] = {}
    for j, s in enumerate(history.symbols):
        have = np.flatnonzero(np.isfinite(history.close[:, j]))
        if have.size:
            inside = np.arange(have[0], have[-1] + 1)
            missing = inside[~np.isfinite(history.close[inside, j])]
            if missing.size:
                out[s] = [str(history.dates[k]) for k in missing]
    return out


def ewma_sigma(returns: FloatArray, lam: float, seed: int = 20) -> FloatArray:
    """EWMA volatility *forecast*: ``sigma[t]`` uses returns strictly before ``t``.

    ``sigma[t]**2 = lam * sigma[t-1]**2 + (1 - lam) * r[t-1]**2``, seeded per series with the mean square
    of its first ``seed`` returns (those rows stay NaN). Shapes: (T, F) → (T, F). A return that is NaN
    inside a series (never happens in the shipped data) leaves the variance unchanged.
    """
    if not 0.0 < lam < 1.0:
        raise MarketDataError(f"EWMA lambda must be in (0, 1), got {lam}")
    t_len, f_len = returns.shape
    var = np.full((t_len, f_len), np.nan)
    finite = np.isfinite(returns)
    first = np.where(finite.any(axis=0), finite.argmax(axis=0), t_len)
    r2 = np.where(finite, returns * returns, np.nan)
    state = np.full(f_len, np.nan)
    for t in range(t_len):  # loop over time only (vectorised over series)
        start = first + seed
        seeding = start == t
        if seeding.any():
            cols = np.flatnonzero(seeding)
            state[cols] = np.nanmean(r2[t - seed : t, cols], axis=0)
        var[t] = np.where(t >= start, state, np.nan)
        upd = np.isfinite(r2[t]) & np.isfinite(state)
        state = np.where(upd, lam * state + (1.0 - lam) * np.where(upd, r2[t], 0.0), state)
    return np.asarray(np.sqrt(var), dtype=np.float64)


def parse_day(text: str | None, flag: str) -> np.datetime64 | None:
    """A command-line date (YYYY-MM-DD) as a day, None when not given; ConfigError naming the flag."""
    if text is None:
        return None
    try:
        return np.datetime64(text, "D")
    except ValueError:
        raise ConfigError(f"{flag}: not a date (YYYY-MM-DD): {text!r}") from None
