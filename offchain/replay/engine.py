"""Run one replay: load prices and population, build the shared initial state, run both policies."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offchain.replay.config import ReplayConfig
from offchain.replay.crossclear import CrossclearResult, run_crossclear
from offchain.replay.market import Market, collateral_asset, make_universe
from offchain.replay.population import Population, load_population
from offchain.replay.prices import PricePath, load_path, merge_paths, overlay
from offchain.replay.setup import Setup, build_setup
from offchain.replay.venue_only import VenueOnlyResult, run_venue_only
from offchain.risk.errors import ConfigError, MarketDataError
from offchain.risk.marketdata import PriceHistory, load_candles, merge, parse_day

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_HISTORY = (ROOT / "data" / "market" / "binance-spot-daily.csv.gz",)
SHIPPED_PERP_HISTORY = (ROOT / "data" / "market" / "binance-usdm-perp-hourly.csv.gz",)
DEFAULT_POPULATION = ROOT / "data" / "replay" / "population.json"


@dataclass(frozen=True)
class ReplayResult:
    window: tuple[str, str]
    steps: int
    step_hours: int
    setup: Setup
    crossclear: CrossclearResult
    venue_only: VenueOnlyResult
    seconds: float


def load_inputs(
    prices: Sequence[str],
    perp: Sequence[str] = (),
    history: Sequence[str] | None = None,
    perp_history: Sequence[str] | None = None,
) -> tuple[PricePath, PriceHistory]:
    """The replay path (``prices`` as written, ``perp`` files' symbols get ``-PERP``) and the daily history
    for the risk engine: ``history`` (default: the shipped daily spot and perpetual files) with the path's
    own daily closes written over it, so a window beyond the shipped data works given enough look-back."""
    if not prices and not perp:
        raise ConfigError("give at least one --prices file")
    path = merge_paths([load_path(f) for f in prices] + [load_path(f, suffix="-PERP") for f in perp])
    hist_files = list(SHIPPED_HISTORY) if history is None else [Path(h) for h in history]
    perp_files = list(SHIPPED_PERP_HISTORY) if perp_history is None else [Path(h) for h in perp_history]
    base = merge(*[load_candles(h) for h in hist_files], *[load_candles(h, suffix="-PERP") for h in perp_files])
    own = merge(*[load_candles(f) for f in prices], *[load_candles(f, suffix="-PERP") for f in perp])
    return path, overlay(base, own)


def run_replay(
    path: PricePath,
    history: PriceHistory,
    population: Population,
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
    config: ReplayConfig | None = None,
) -> ReplayResult:
    t0 = time.perf_counter()
    cfg = config or ReplayConfig()
    win = path.window(start, end)
    win = win.select(_needed(population, win))
    if len(win.times) < 2:
        raise MarketDataError("the replay window needs at least 2 candles")
    universe = make_universe(population.instruments, win, history)
    assets = [collateral_asset("USDC", win)]
    for m in population.members:
        if m.collateral_asset not in [a.name for a in assets]:
            assets.append(collateral_asset(m.collateral_asset, win))
    market = Market(win, history, universe, tuple(assets))
    setup = build_setup(market, population, cfg)
    cc = run_crossclear(setup)
    vo = run_venue_only(setup)
    first = str((win.times[0] - np.timedelta64(win.step_hours, "h")).astype("datetime64[D]"))
    last = str((win.times[-1] - np.timedelta64(win.step_hours, "h")).astype("datetime64[D]"))
    return ReplayResult((first, last), len(win.times), win.step_hours, setup, cc, vo, time.perf_counter() - t0)


def _needed(population: Population, path: PricePath) -> list[str]:
    """Path series the population needs: each instrument's perpetual series if the path has it, and its spot
    series (the fallback factor and the basis leg), plus non-numeraire collateral."""
    out: list[str] = []
    for name in population.instruments:
        base = name.removesuffix("-USD-PERP")
        if name.endswith("-USD-PERP") and f"{base}-PERP" in path.symbols:
            out.append(f"{base}-PERP")
        if base in path.symbols or not name.endswith("-USD-PERP"):
            out.append(base)
    out += [m.collateral_asset for m in population.members if m.collateral_asset not in ("USDC", "USDT", "USD")]
    return out


def replay_files(
    prices: Sequence[str],
    perp: Sequence[str] = (),
    start: str | None = None,
    end: str | None = None,
    members: str | None = None,
    history: Sequence[str] | None = None,
    perp_history: Sequence[str] | None = None,
    config: ReplayConfig | None = None,
) -> ReplayResult:
    """Everything from file names (the CLI's entry point)."""
    d0, d1 = parse_day(start, "--from"), parse_day(end, "--to")
    if d0 is not None and d1 is not None and d1 < d0:
        raise ConfigError("--to is before --from")
    population = load_population(members or DEFAULT_POPULATION)
    path, hist = load_inputs(prices, perp, history, perp_history)
    return run_replay(path, hist, population, d0, d1, config)
