"""Run the stress replays and write the generated part of docs/stress-replays.md.

    .venv/bin/python scripts/stress_replays.py [--no-write]

Main table: the four stress windows on hourly BTC/ETH spot and perpetual candles with the default
population and parameters. Then robustness rows (the same windows on 4-hour and daily candles) and
sensitivity rows (one documented parameter changed at a time), so the reader sees what the result hinges on.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np

from offchain.defaults.auction import AuctionParams
from offchain.defaults.calls import CallPolicy
from offchain.replay.config import ReplayConfig
from offchain.replay.engine import DEFAULT_POPULATION, ReplayResult, load_inputs, run_replay
from offchain.replay.population import Population, load_population
from offchain.replay.report import markdown_tables
from offchain.replay.waterfall import MUTUALISED

ROOT = Path(__file__).resolve().parents[1]
MARKET = ROOT / "data" / "market"
DOC = ROOT / "docs" / "stress-replays.md"
BEGIN, END = "<!-- BEGIN GENERATED (scripts/stress_replays.py) -->", "<!-- END GENERATED -->"
WINDOWS = (
    ("March 2020 (COVID)", "2020-03-01", "2020-03-31"),
    ("May 2021 (sell-off)", "2021-05-01", "2021-05-31"),
    ("May 2022 (LUNA/UST)", "2022-05-01", "2022-05-31"),
    ("November 2022 (FTX)", "2022-11-01", "2022-11-30"),
)


class VenueChanges(TypedDict, total=False):
    """The numeric VenueSpec parameters a sensitivity row may override."""

    volume_share: float
    liquidation_fee: float
    insurance_fund: float


def _venues(pop: Population, **changes: Unpack[VenueChanges]) -> Population:
    return dataclasses.replace(pop, venues=tuple(dataclasses.replace(v, **changes) for v in pop.venues))


def _mut(r: ReplayResult) -> float:
    return sum(r.crossclear.layers[k] for k in MUTUALISED)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    t_all = time.perf_counter()
    pop = load_population(DEFAULT_POPULATION)
    t0 = time.perf_counter()
    hourly = load_inputs(
        [str(MARKET / "binance-spot-hourly-stress.csv.gz")], [str(MARKET / "binance-usdm-perp-hourly.csv.gz")]
    )
    four = load_inputs([str(MARKET / "binance-spot-4h-stress.csv.gz")])
    daily = load_inputs([str(MARKET / "binance-spot-daily.csv.gz")])
    load_s = time.perf_counter() - t0

    def run(
        inputs: tuple[object, object], w: tuple[str, str, str], p: Population = pop, cfg: ReplayConfig | None = None
    ) -> ReplayResult:
        path, hist = inputs
        return run_replay(path, hist, p, np.datetime64(w[1]), np.datetime64(w[2]), cfg)  # type: ignore[arg-type]

    main_rows = [(w[0], run(hourly, w)) for w in WINDOWS]
    lines = [BEGIN, "", "### Result: the four stress windows (hourly candles, default population and parameters)", ""]
    lines.append(markdown_tables(main_rows))
    lines += [
        "",
        "### Robustness: the same windows on 4-hour and daily candles",
        "",
        "Perpetuals on 4-hour / daily candles ride on their spot series (the perpetual file is hourly only).",
        "",
        "| window | candles | crossclear defaults | mutualised (USD M) | crossclear ADL | "
        "venue-only bankrupt accounts | venue-only ADL (n / USD M) |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in WINDOWS:
        for inputs in (four, daily):
            r = run(inputs, w)
            lines.append(
                f"| {w[0]} | {r.steps} × {r.step_hours} h | {len(r.crossclear.defaults)} | "
                f"{_mut(r) / 1e6:,.2f} | {r.crossclear.adl_count} | {len(r.venue_only.defaults)} | "
                f"{r.venue_only.adl_count} / {r.venue_only.adl_amount / 1e6:,.2f} |"
            )
    base = ReplayConfig()
    variants: list[tuple[str, Population, ReplayConfig]] = [
        ("venue books as deep as the whole market (volume_share 1)", _venues(pop, volume_share=1.0), base),
        ("venue insurance funds 5 % of OI (default 1 %)", _venues(pop, insurance_fund=0.05), base),
        ("no auction bidders' excess (bid_excess_share 0)", pop, dataclasses.replace(base, bid_excess_share=0.0)),
        ("bidders commit all their excess (bid_excess_share 1)", pop, dataclasses.replace(base, bid_excess_share=1.0)),
        (
            "slower close-out: 8 tranches every 4 h",
            pop,
            dataclasses.replace(base, auction=AuctionParams(tranche_bps=1_250, interval_s=4 * 3600)),
        ),
        (
            "longer cure: 24 h (deep breach 4 h)",
            pop,
            dataclasses.replace(base, calls=CallPolicy(cure_s=24 * 3600, deep_cure_s=4 * 3600)),
        ),
        ("impact coefficient Y = 2 (both policies)", pop, dataclasses.replace(base, impact_coeff=2.0)),
    ]
    lines += [
        "",
        "### Sensitivity: one parameter changed at a time (hourly candles)",
        "",
        "Each cell: crossclear defaults / mutualised USD M / ADL count ‖ venue-only bankrupt accounts / "
        "ADL count / ADL USD M.",
        "",
        "| variant | " + " | ".join(w[0] for w in WINDOWS) + " |",
        "|---|" + "---|" * len(WINDOWS),
    ]
    for label, p, cfg in variants:
        cells = []
        for w in WINDOWS:
            r = run(hourly, w, p, cfg)
            cells.append(
                f"{len(r.crossclear.defaults)} / {_mut(r) / 1e6:,.2f} / {r.crossclear.adl_count} ‖ "
                f"{len(r.venue_only.defaults)} / {r.venue_only.adl_count} / "
                f"{r.venue_only.adl_amount / 1e6:,.2f}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    total = time.perf_counter() - t_all
    lines += [
        "",
        f"Run times: loading the price files {load_s:.1f} s; each hourly window "
        + ", ".join(f"{r.seconds:.1f} s" for _, r in main_rows)
        + f" (both policies, {main_rows[0][1].steps} steps); the whole script (4 + 8 + 28 runs) {total:.0f} s.",
        "",
        END,
    ]
    block = "\n".join(lines)
    print(block)
    if not args.no_write:
        text = DOC.read_text()
        if BEGIN not in text or END not in text:
            print(f"{DOC}: markers missing", file=sys.stderr)
            return 1
        head, rest = text.split(BEGIN, 1)
        DOC.write_text(head + block + rest.split(END, 1)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
