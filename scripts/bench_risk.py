#!/usr/bin/env python3
"""Benchmark the risk engine: full-book IM against the bare matrix product, and incremental re-margin.

Usage:
    .venv/bin/python scripts/bench_risk.py [--members 10000] [--instruments 500] [--scenarios 1500]
        [--repeats 5] [--fills 2000] [--json]

Full book: ``portfolio_im`` (core ES with the stressed weight, concentration and liquidity add-ons) for
M members × I instruments × S scenarios, and in the same run the bare float64 product ``X @ R`` of the same
shapes; both are the best of ``--repeats`` runs, interleaved. Incremental: ``MarginBook.apply_fill`` (one
member, one fill: update its P&L row, recompute its tails and add-ons), median and p99 over ``--fills``.
``--json`` prints exactly one object with ``full_book_s``, ``matmul_s``, ``ratio``,
``incremental_median_us``, ``incremental_p99_us`` and ``load_avg`` (1, 5 and 15 minutes, at the end of the
run: the ratio is only comparable between runs on a similarly loaded machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offchain.risk.config import MarginConfig
from offchain.risk.instruments import Instrument, Kind, Universe
from offchain.risk.margin import MarginBook, RiskModel, core_risk, portfolio_im


def synthetic(m: int, i: int, s: int, seed: int = 0) -> tuple[RiskModel, np.ndarray, np.ndarray]:
    """A model over fat-tailed returns (1/6 stressed) and a book with 20 % of positions non-zero."""
    rng = np.random.default_rng(seed)
    returns = np.ascontiguousarray(rng.standard_t(4, size=(i, s)) * 0.02)
    cfg = MarginConfig()
    n_fhs = s - s // 6
    uni = Universe(tuple(Instrument(f"I{k}", Kind.PERP, f"F{k}", 1.0, 0.0005, None) for k in range(i)))
    model = RiskModel(
        uni,
        returns,
        n_fhs,
        core_risk(-returns, n_fhs, cfg)[0],
        core_risk(returns, n_fhs, cfg)[0],
        np.full(i, 0.02),
        np.full(i, 1e6),
        np.full(i, 1e5),
        np.zeros(s - n_fhs, dtype=np.int64),
        ("p",),
    )
    pos = rng.normal(0, 100, size=(m, i)) * (rng.random((m, i)) < 0.2)
    prices = rng.uniform(1, 1000, size=i)
    return model, pos, prices


def bench(m: int, i: int, s: int, repeats: int = 5, fills: int = 2000) -> dict[str, Any]:
    model, pos, prices = synthetic(m, i, s)
    cfg = MarginConfig()
    x = pos * prices
    t_mat, t_full = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _ = x @ model.returns
        t_mat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        portfolio_im(pos, prices, model, cfg)
        t_full.append(time.perf_counter() - t0)
    book = MarginBook(pos, prices, model, cfg)
    rng = np.random.default_rng(1)
    who, what, qty = rng.integers(m, size=fills), rng.integers(i, size=fills), rng.normal(0, 10, size=fills)
    lat = np.empty(fills)
    for k in range(fills):
        t0 = time.perf_counter()
        book.apply_fill(int(who[k]), int(what[k]), float(qty[k]))
        lat[k] = time.perf_counter() - t0
    full, mat = min(t_full), min(t_mat)
    return {
        "full_book_s": full,
        "matmul_s": mat,
        "ratio": full / mat,
        "incremental_median_us": float(np.median(lat) * 1e6),
        "incremental_p99_us": float(np.quantile(lat, 0.99) * 1e6),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=10_000)
    p.add_argument("--instruments", type=int, default=500)
    p.add_argument("--scenarios", type=int, default=1_500)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--fills", type=int, default=2000)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if min(a.members, a.instruments, a.scenarios, a.repeats, a.fills) < 1 or a.scenarios < 6:
        p.error("sizes must be positive (scenarios >= 6)")
    out = bench(a.members, a.instruments, a.scenarios, a.repeats, a.fills)
    if a.json:
        print(json.dumps(out))
        return 0
    print(
        f"full book {a.members} members x {a.instruments} instruments x {a.scenarios} scenarios: "
        f"{out['full_book_s']:.3f} s; bare matmul {out['matmul_s']:.3f} s; ratio {out['ratio']:.2f}x"
    )
    print(
        f"incremental re-margin (1 member, 1 fill): median {out['incremental_median_us']:.0f} us, "
        f"p99 {out['incremental_p99_us']:.0f} us"
    )
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in out['load_avg'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
