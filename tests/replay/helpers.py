"""Synthetic candle files and populations for replay tests (no market data needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

HEADER = "timestamp,symbol,open,high,low,close,volume\n"
SECONDS = np.dtype("datetime64[s]")


def to_seconds(t: np.datetime64) -> np.datetime64:
    """``t`` at one-second resolution, the candle files' timestamps (``np.datetime64(t, "s")``, which numpy's
    stubs do not type)."""
    return t.astype(SECONDS)


def write_candles(path: Path, rows: list[tuple[np.datetime64, str, float]], volume: float = 1e6) -> Path:
    lines = [HEADER]
    for t, sym, c in rows:
        lines.append(f"{np.datetime_as_string(t, unit='s')}Z,{sym},{c},{c},{c},{c},{volume}\n")
    path.write_text("".join(lines))
    return path


def history(path: Path, days: int = 420, end: str = "2023-01-01", seed: int = 3) -> Path:
    """Daily BTC and ETH candles (random walks, 3 % / 4 % daily vol) ending the day before ``end`` at 20000 /
    1500."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(end, "D") - np.timedelta64(days, "D")
    rows: list[tuple[np.datetime64, str, float]] = []
    for sym, p0, vol in (("BTC", 20000.0, 0.03), ("ETH", 1500.0, 0.04)):
        walk = np.exp(np.cumsum(rng.normal(0, vol, days)))
        p = p0 * walk / walk[-1]  # the last close is p0, where the test paths start
        rows += [(to_seconds(start + np.timedelta64(d, "D")), sym, float(p[d])) for d in range(days)]
    return write_candles(path, rows)


def hourly_path(path: Path, btc: list[float], eth: list[float] | None = None, start: str = "2023-01-01") -> Path:
    """Hourly candles from ``start`` with the given closes."""
    t0 = np.datetime64(start, "h")
    eth = eth if eth is not None else [1500.0] * len(btc)
    rows = [(to_seconds(t0 + np.timedelta64(k, "h")), "BTC", c) for k, c in enumerate(btc)]
    rows += [(to_seconds(t0 + np.timedelta64(k, "h")), "ETH", c) for k, c in enumerate(eth)]
    return write_candles(path, rows)


def member(name: str, positions: list[tuple[str, str, float]], **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "kind": kw.pop("kind", "other"),
        "tier": kw.pop("tier", 0),
        "positions": [{"venue": v, "instrument": i, "notional": n} for v, i, n in positions],
    }
    if "capital" not in kw and "cushion" not in kw:
        kw["cushion"] = 1.5
    out.update(kw)
    return out


def population(path: Path, members: list[dict[str, Any]], venues: list[dict[str, Any]] | None = None) -> Path:
    path.write_text(json.dumps({"venues": venues or [], "members": members}))
    return path
