"""Trade-off of the anti-procyclicality (APC) choices on the back-test (issue 15, docs/risk.md).

Every variant is computed from the same daily paths (history up to each day only): the FHS model's ES,
VaR and stressed-period measure of every back-test row, the naive FHS baseline (`risk_commands.NAIVE`) and,
for Art. 28(1)(c), the ES of the unfiltered daily returns over up to ten years. Per variant it prints:

* rows whose **final IM** passes Kupiec and Christoffersen at 95 % on the test window (the final IM is
  what members post; the model rows, tested on the FHS ES itself, are the same for every APC variant);
* rows whose final IM has no more exceedances than expected;
* the mean over rows of mean final IM / mean naive IM on the test window (the done-when asks ≤ 1.3);
* the largest 1-day and 5-day rise of the final IM over the shipped crashes (`backtest.CRASHES`).

Usage: ``python scripts/backtest_variants.py [--population FILE] [--train]`` (``--train``: also the
training window before the split, on which a choice between the variants may be made). Markdown on stdout.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from offchain.cli.risk_commands import NAIVE, SPLIT, load_prices, population_portfolios
from offchain.risk.backtest import (
    CRASHES,
    MarginPaths,
    Portfolio,
    christoffersen_ind,
    default_proxies,
    kupiec_pof,
    margin_paths,
    standard_portfolios,
)
from offchain.risk.config import MarginConfig
from offchain.risk.marketdata import PriceHistory
from offchain.risk.measures import expected_shortfall
from offchain.risk.risecap import rise_capped
from offchain.risk.scenarios import ScenarioConfig, filter_history

FloatArray = NDArray[np.float64]
ROOT = Path(__file__).resolve().parents[1]
POPULATION = ROOT / "data" / "replay" / "population.json"
LONG_RUN_DAYS = 3650  # Art. 28(1)(c): a ten-year look-back (the shipped data has ~5-7 years before each day)


@dataclass(frozen=True)
class Paths:
    """(D, P) daily paths of one window: FHS ES, stressed measure, naive ES, long-run ES; (D, P) P&L."""

    fhs: FloatArray
    stress: FloatArray
    naive: FloatArray
    long_run: FloatArray
    loss: FloatArray


def long_run_es(history: PriceHistory, ports: Sequence[Portfolio], paths: MarginPaths) -> FloatArray:
    """(D, P) ES 97.5 % of each portfolio's unfiltered one-day losses over the last ten years to each day."""
    filt = filter_history(history, default_proxies(history.symbols), ScenarioConfig())
    factors = sorted({f for p in ports for f in p.notionals})
    cols = [history.index(f) for f in factors]
    r = np.nan_to_num(filt.returns[:, cols])  # a leg not listed yet contributes nothing that day
    out = np.full(paths.im.shape, np.nan)
    for d in range(paths.im.shape[0]):
        t = paths.first + d
        window = r[max(1, t - LONG_RUN_DAYS + 1) : t + 1]
        active = np.isfinite(paths.im[d])
        out[d, active] = expected_shortfall(-(paths.weights[active] @ window.T), 0.975)
    return out


def window_paths(
    history: PriceHistory, ports: Sequence[Portfolio], start: str, end: str | None, sc: ScenarioConfig
) -> Paths:
    proxies = default_proxies(history.symbols)
    e = None if end is None else np.datetime64(end)
    kw = {"start": np.datetime64(start), "end": e, "margin_config": MarginConfig(apc_weight=0.0)}
    model = margin_paths(history, ports, proxies, scenario_config=sc, **kw)  # type: ignore[arg-type]
    naive = margin_paths(history, ports, proxies, scenario_config=NAIVE, **kw)  # type: ignore[arg-type]
    loss = -(np.nan_to_num(model.realised) @ model.weights.T)
    assert model.stress is not None
    return Paths(model.im, model.stress, naive.im, long_run_es(history, ports, model), loss)


def _posted(model: FloatArray, floor: FloatArray, cap: float | None, release: FloatArray | None = None) -> FloatArray:
    """Column-wise rise cap over a floor (NaN days kept NaN). ``release``: the buffer form, where the
    posted IM may fall back to ``release`` (the bare model) instead of the floor."""
    if cap is None:
        return model
    out = np.full_like(model, np.nan)
    for k in range(model.shape[1]):
        ok = np.isfinite(model[:, k]) & np.isfinite(floor[:, k])
        f = np.minimum(floor[ok, k], model[ok, k]) if release is None else release[ok, k]
        out[ok, k] = rise_capped(model[ok, k], f, cap)
    return out


#: name -> final IM from the paths.
Variant = Callable[[Paths], FloatArray]


def _weight(p: Paths, w: float = 0.25) -> FloatArray:
    return np.maximum(p.fhs, (1 - w) * p.fhs + w * p.stress)


VARIANTS: dict[str, Variant] = {
    "FHS model alone (no APC)": lambda p: p.fhs,
    "(b) 25 % stressed weight (current)": _weight,
    "(b) + 25 %/day rise cap over the stressed floor (live rule)": lambda p: _posted(_weight(p), p.stress, 0.25),
    "(a) 25 % buffer": lambda p: 1.25 * p.fhs,
    "(a) 25 % buffer, released by a 25 %/day rise cap": lambda p: _posted(1.25 * p.fhs, p.fhs, 0.25, p.fhs),
    "(a) 25 % buffer + 25 %/day rise cap over the stressed floor": lambda p: _posted(1.25 * p.fhs, p.stress, 0.25),
    "(c) 10-year floor: max(FHS, long-run ES)": lambda p: np.maximum(p.fhs, p.long_run),
    "(c) + 25 %/day rise cap over the long-run floor": lambda p: _posted(
        np.maximum(p.fhs, p.long_run), p.long_run, 0.25
    ),
}


def row_stats(im: FloatArray, loss: FloatArray, naive: FloatArray) -> tuple[int, int, float, int, int]:
    """(rows passing Kupiec + Christoffersen, rows with exceedances <= expected, mean IM / naive, rows,
    rows Kupiec rejects for too many exceedances)."""
    passed = within = n_rows = many = 0
    ratios = []
    for k in range(im.shape[1]):
        ok = np.isfinite(im[:, k])
        n = int(ok.sum())
        if n == 0:
            continue
        n_rows += 1
        hits = loss[ok, k] > im[ok, k]
        x = int(hits.sum())
        passed += kupiec_pof(x, n, 0.01) >= 0.05 and christoffersen_ind(hits) >= 0.05
        within += x <= 0.01 * n
        many += x > 0.01 * n and kupiec_pof(x, n, 0.01) < 0.05
        ratios.append(float(np.nanmean(im[ok, k]) / np.nanmean(naive[ok, k])))
    return passed, within, float(np.mean(ratios)), n_rows, many


def rises(im: FloatArray) -> tuple[float, float]:
    """Largest 1-day and 5-day ratio over all columns of a (D, P) path."""
    out = []
    for lag in (1, 5):
        with np.errstate(invalid="ignore", divide="ignore"):
            r = im[lag:] / im[:-lag]
        out.append(float(np.nanmax(np.where(np.isfinite(r), r, np.nan))))
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", default=str(POPULATION), help="replay population ('' for none)")
    ap.add_argument("--train", action="store_true", help="also the training window before the split")
    args = ap.parse_args()
    t0 = time.perf_counter()
    history = load_prices(None, None)
    standard = standard_portfolios(history.symbols)
    members = population_portfolios(args.population, history.symbols) if args.population else []
    ports = standard + members
    sc = ScenarioConfig()
    windows: list[tuple[str, str, str | None]] = [("test", SPLIT, None)]
    if args.train:
        windows.append(("train", "2018-09-01", "2022-12-31"))
    paths = {name: window_paths(history, ports, a, b, sc) for name, a, b in windows}
    crashes = [window_paths(history, standard, str(np.datetime64(a) - 5), b, sc) for _, a, b in CRASHES]
    ns = len(standard)
    header = "| variant |"
    for name, _, _ in windows:
        header += (
            f" {name}: final IM K+C pass ({ns} / {len(ports)}) | ≤ expected | too many"
            f" | IM / naive ({ns} / {len(ports)}) |"
        )
    header += " largest 1-day rise | largest 5-day rise |"
    print(header)
    print("|---" * (1 + 4 * len(windows) + 2) + "|")
    for vname, fn in VARIANTS.items():
        line = f"| {vname} |"
        for name, _, _ in windows:
            p = paths[name]
            im = fn(p)
            a = row_stats(im[:, :ns], p.loss[:, :ns], p.naive[:, :ns])
            b = row_stats(im, p.loss, p.naive)
            line += f" {a[0]} / {b[0]} | {b[1]}/{b[3]} | {b[4]} | {a[2]:.3f} / {b[2]:.3f} |"
        r1, r5 = zip(*(rises(fn(c)) for c in crashes), strict=True)
        line += f" ×{max(r1):.2f} | ×{max(r5):.2f} |"
        print(line)
    p = paths["test"]
    a = row_stats(p.fhs[:, :ns], p.loss[:, :ns], p.naive[:, :ns])
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"\nFHS model rows passing Kupiec + Christoffersen on the test window: {a[0]}/{ns} standard; "
        f"{time.perf_counter() - t0:.0f} s, load average {' '.join(load)}"
    )
    if not math.isfinite(a[2]):
        raise SystemExit("no test rows")


if __name__ == "__main__":
    main()
