#!/usr/bin/env python3
"""Back-test the margin model over real history, and benchmark a full-book margin run.

Usage:
    .venv/bin/python scripts/backtest_margin.py [--prices PATH] [--perp PATH] [--from DATE] [--to DATE]
        [--coverage 0.99] [--json] [--no-bench] [--members 10000 --instruments 500 --scenarios 1500]

Back-test: for every asset (long and short) and a set of cross-venue portfolios, the FHS model (before
the anti-procyclicality overlay) is tested with Kupiec and Christoffersen at 95 %, and the final core IM
(with the stressed weight) is reported with its exceedances. History before ``--from`` is the look-back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from offchain.risk.backtest import BacktestRow, Portfolio, run_backtest  # noqa: E402
from offchain.risk.config import MarginConfig  # noqa: E402
from offchain.risk.errors import RiskError  # noqa: E402
from offchain.risk.instruments import Instrument, Kind, Universe  # noqa: E402
from offchain.risk.margin import MarginBook, RiskModel, core_risk, portfolio_im  # noqa: E402
from offchain.risk.marketdata import PriceHistory, load_candles, merge  # noqa: E402
from offchain.risk.scenarios import ScenarioConfig  # noqa: E402


def portfolios(h: PriceHistory) -> list[Portfolio]:
    spot = [s for s in h.symbols if not s.endswith("-PERP")]
    out = []
    for s in list(spot) + [s for s in h.symbols if s.endswith("-PERP")]:
        out += [Portfolio(f"{s} long", {s: 1.0}), Portfolio(f"{s} short", {s: -1.0})]
    if "BTC-PERP" in h.symbols:
        out += [
            Portfolio("basis BTC: long spot (CEX) / short perp (DEX)", {"BTC": 1.0, "BTC-PERP": -1.0}),
            Portfolio("BTC perp long DEX, half hedged short spot OTC", {"BTC-PERP": 1.0, "BTC": -0.5}),
        ]
    if "ETH-PERP" in h.symbols:
        out.append(Portfolio("basis ETH: short spot / long perp", {"ETH": -1.0, "ETH-PERP": 1.0}))
    if {"BTC", "ETH"} <= set(h.symbols):
        out.append(Portfolio("pair: long BTC / short ETH", {"BTC": 1.0, "ETH": -1.0}))
    mm = {s: w for s, w in zip(spot, np.tile([0.3, -0.2, 0.15, -0.25, 0.1], len(spot)), strict=False)}
    out.append(Portfolio("market-maker book (all spot, mixed)", mm))
    if "ETH-PERP" in h.symbols:
        out.append(Portfolio("market-maker book (perps vs alts)",
                             {"BTC-PERP": -0.5, "ETH-PERP": -0.3, "SOL": 0.2, "BNB": 0.3, "XRP": 0.2, "ADA": 0.1}))
    return [p for p in out if all(s in h.symbols for s in p.notionals)]


def backtest(args: argparse.Namespace) -> tuple[list[BacktestRow], list[BacktestRow]]:
    hists = [load_candles(args.prices)]
    if args.perp:
        hists.append(load_candles(args.perp, suffix="-PERP"))
    h = merge(*hists)
    proxies: dict[str, str | None] = {s: "BTC" for s in h.symbols if s != "BTC"}
    proxies.update({s: s.removesuffix("-PERP") for s in h.symbols if s.endswith("-PERP")})
    ports = portfolios(h)
    sc = ScenarioConfig()
    end = np.datetime64(args.to) if args.to else None
    start = np.datetime64(getattr(args, "from"))
    model_rows, _ = run_backtest(h, ports, proxies, start=start, end=end, scenario_config=sc,
                                 margin_config=MarginConfig(apc_weight=0.0), coverage=args.coverage)
    im_rows, _ = run_backtest(h, ports, proxies, start=start, end=end, scenario_config=sc,
                              margin_config=MarginConfig(), coverage=args.coverage)
    return model_rows, im_rows


def bench(m: int, i: int, s: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    returns = np.ascontiguousarray(rng.standard_t(4, size=(i, s)) * 0.02)
    cfg = MarginConfig()
    n_fhs = s - s // 6
    uni = Universe(tuple(Instrument(f"I{k}", Kind.PERP, f"F{k}", 1.0, 0.0005, None) for k in range(i)))
    model = RiskModel(uni, returns, n_fhs, core_risk(-returns, n_fhs, cfg)[0], core_risk(returns, n_fhs, cfg)[0],
                      np.full(i, 0.02), np.full(i, 1e6), np.full(i, 1e5), np.zeros(s - n_fhs, dtype=np.int64),
                      ("p",))
    pos = rng.normal(0, 100, size=(m, i)) * (rng.random((m, i)) < 0.2)
    prices = rng.uniform(1, 1000, size=i)
    x = pos * prices
    t_mat, t_full = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        _ = x @ returns
        t_mat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        portfolio_im(pos, prices, model, cfg)
        t_full.append(time.perf_counter() - t0)
    book = MarginBook(pos, prices, model, cfg)
    lat = []
    for k in range(2000):
        t0 = time.perf_counter()
        book.apply_fill(int(rng.integers(m)), int(rng.integers(i)), float(rng.normal(0, 10)))
        lat.append(time.perf_counter() - t0)
        del k
    full, mat = min(t_full), min(t_mat)
    return {"members": m, "instruments": i, "scenarios": s, "full_book_s": full, "matmul_s": mat,
            "ratio": full / mat, "incremental_median_us": float(np.median(lat) * 1e6),
            "incremental_p99_us": float(np.quantile(lat, 0.99) * 1e6)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prices", default=str(ROOT / "data/market/binance-spot-daily.csv.gz"))
    p.add_argument("--perp", default=str(ROOT / "data/market/binance-usdm-perp-hourly.csv.gz"),
                   help="perpetual candles (series get suffix -PERP); '' to skip")
    p.add_argument("--from", default="2019-01-01")
    p.add_argument("--to", default=None)
    p.add_argument("--coverage", type=float, default=0.99)
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-bench", action="store_true")
    p.add_argument("--members", type=int, default=10_000)
    p.add_argument("--instruments", type=int, default=500)
    p.add_argument("--scenarios", type=int, default=1_500)
    args = p.parse_args(argv)
    try:
        model_rows, im_rows = backtest(args)
    except (RiskError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = []
    for a, b in zip(model_rows, im_rows, strict=True):
        rows.append({**asdict(a), "im_exceedances": b.exceedances, "im_mean": b.mean_im,
                     "im_pass": b.exceedances <= b.expected})
    out: dict[str, object] = {"coverage": args.coverage, "rows": rows,
                              "all_pass": all(r["passed"] for r in rows),
                              "all_im_pass": all(r["im_pass"] for r in rows)}
    if not args.no_bench:
        out["bench"] = bench(args.members, args.instruments, args.scenarios)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{'portfolio':48s} {'n':>5s} {'exp':>5s} {'x':>3s} {'kupiec_p':>8s} {'chris_p':>8s} pass"
          f" | {'x_IM':>4s} {'IM/notional':>11s}")
    for r in rows:
        print(f"{r['name']:48s} {r['observations']:5d} {r['expected']:5.1f} {r['exceedances']:3d}"
              f" {r['kupiec_p']:8.3f} {r['christoffersen_p']:8.3f} {'yes' if r['passed'] else 'NO ':4s}"
              f"| {r['im_exceedances']:4d} {r['im_mean']:11.4f}")
    print(f"model rows passing both tests: {sum(bool(r['passed']) for r in rows)}/{len(rows)}; "
          f"final IM exceedances <= expected on {sum(bool(r['im_pass']) for r in rows)}/{len(rows)}")
    if "bench" in out:
        print("benchmark:", json.dumps(out["bench"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
