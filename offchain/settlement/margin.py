"""Margin requirements and collateral marks for a batch, from the risk engine (offchain/risk).

The vault checks withdrawals with one haircut per asset, so it gets each asset's base haircut (that
of a small holding), rounded up to a basis point. The extra haircut a member's large holding earns
(the concentration term of the haircut model) is added to that member's posted IM instead, so the
on-chain check is never looser than the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from offchain.core.batch import Mark
from offchain.risk import (
    CollateralAsset,
    HaircutModel,
    Instrument,
    Kind,
    MarginConfig,
    RiskModel,
    ScenarioConfig,
    Universe,
    build_haircuts,
    build_model,
    build_scenarios,
    compute_margin,
    filter_history,
)
from offchain.risk.marketdata import load_candles, merge
from offchain.settlement.state import InstrumentSpec

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "market"


@dataclass(frozen=True)
class CollateralSpec:
    asset: int  # vault asset number
    symbol: str  # token symbol, e.g. WETH
    decimals: int
    factor: str | None  # risk factor it moves with (e.g. "ETH"); None for the settlement asset
    horizon_days: float = 2.0
    floor: float = 0.0  # minimum haircut (e.g. a T-bill fund share's redemption risk)


@dataclass(frozen=True)
class MemberMargin:
    im: int  # settlement base units, rounded up
    mm: int
    collateral_value: int  # haircut value, rounded down (the model's own per-member haircuts)
    es_core: float
    concentration_addon: float
    liquidity_addon: float
    haircut_bps: dict[int, int] = field(default_factory=dict)  # asset -> the model's haircut for this holding


class RiskEngineMargin:
    """Adapter from integer ledger state to the risk engine's arrays and back."""

    def __init__(
        self,
        model: RiskModel,
        haircut_model: HaircutModel,
        config: MarginConfig,
        instruments: Mapping[str, InstrumentSpec],
        collateral: Sequence[CollateralSpec],
        settlement_decimals: int = 6,
    ) -> None:
        self.model = model
        self.haircut_model = haircut_model
        self.config = config
        self.instruments = dict(instruments)
        self.collateral = tuple(collateral)
        self.scale = 10**settlement_decimals
        self.columns = {name: model.universe.index(name) for name in instruments}
        self.tier_index = {t.name: i for i, t in enumerate(config.tiers)}

    def base_haircut_bps(self) -> dict[int, int]:
        return {
            c.asset: math.ceil(float(h) * 10_000) for c, h in zip(self.collateral, self.haircut_model.base, strict=True)
        }

    def collateral_marks(self, prices: Mapping[int, int]) -> list[Mark]:
        """The vault's per-asset marks: price per whole token and the base haircut."""
        bps = self.base_haircut_bps()
        return [
            Mark(asset=c.asset, haircut_bps=min(bps[c.asset], 10_000), price=prices[c.asset]) for c in self.collateral
        ]

    def requirements(
        self,
        members: Sequence[tuple[int, str]],
        positions: Mapping[tuple[int, str], int],
        marks: Mapping[str, int],
        holdings: Mapping[tuple[int, int], int],
        collateral_prices: Mapping[int, int],
    ) -> dict[int, MemberMargin]:
        """IM/MM (base units) of every member `(account, tier)` at the given marks and holdings."""
        m, n_i, n_a = len(members), len(self.model.universe), len(self.collateral)
        row = {account: k for k, (account, _) in enumerate(members)}
        q = np.zeros((m, n_i))
        for (account, instrument), qty in positions.items():
            if account in row:
                q[row[account], self.columns[instrument]] += qty / 10 ** self.instruments[instrument].qty_decimals
        prices = np.zeros(n_i)
        for instrument, col in self.columns.items():
            if instrument in marks:
                prices[col] = marks[instrument] / self.scale
        missing = np.flatnonzero((prices == 0) & np.any(q != 0, axis=0))
        if missing.size:
            raise ValueError(f"positions without a mark: {[self.model.universe.names[i] for i in missing]}")
        prices[prices == 0] = 1.0  # no position and no mark: any positive price gives zero risk
        held = np.zeros((m, n_a))
        for k, c in enumerate(self.collateral):
            for account, r in row.items():
                held[r, k] = holdings.get((account, c.asset), 0) / 10**c.decimals
        cprices = np.array([collateral_prices[c.asset] / self.scale for c in self.collateral])
        tiers = np.array([self.tier_index[tier] for _, tier in members], dtype=np.int64)
        result = compute_margin(q, prices, held, cprices, tiers, self.model, self.haircut_model, self.config)
        # Concentration part of the collateral haircut, charged through IM (see module docstring).
        extra = (held * cprices * np.maximum(result.haircuts - self.haircut_model.base, 0.0)).sum(axis=1)
        out: dict[int, MemberMargin] = {}
        for account, r in row.items():
            extra_units = math.ceil(float(extra[r]) * self.scale)
            out[account] = MemberMargin(
                im=int(result.im_units[r]) + extra_units,
                mm=int(result.mm_units[r]) + extra_units,
                collateral_value=int(result.collateral_units[r]),
                es_core=float(result.es_core[r]),
                concentration_addon=float(result.concentration_addon[r]),
                liquidity_addon=float(result.liquidity_addon[r]),
                haircut_bps={
                    c.asset: math.ceil(float(result.haircuts[r, k]) * 10_000) for k, c in enumerate(self.collateral)
                },
            )
        return out


# Proxies for the look-back before a series was listed (a young coin's history borrows BTC's moves).
PROXIES = {"ETH": "BTC", "SOL": "BTC", "BTC-PERP": "BTC", "ETH-PERP": "ETH"}


def risk_universe(instruments: Mapping[str, InstrumentSpec]) -> Universe:
    """The risk engine's view of the ledger's cleared instruments."""
    out = []
    for spec in sorted(instruments.values(), key=lambda s: s.name):
        major = spec.underlying in ("BTC", "ETH")
        horizon, half_spread = (1.0, 0.0001) if major else (2.0, 0.0005)
        if spec.kind == "perp":
            kind, factor = Kind.PERP, f"{spec.underlying}-PERP"
        elif spec.kind == "future":
            kind, factor = Kind.FUTURE, f"{spec.underlying}-PERP"
        else:
            kind, factor = Kind.SPOT, spec.underlying
        proxy = None if factor == "BTC" else "BTC"
        out.append(Instrument(spec.name, kind, factor, horizon, half_spread, proxy))
    return Universe(tuple(out))


def build_risk_margin(
    instruments: Mapping[str, InstrumentSpec],
    collateral: Sequence[CollateralSpec],
    asof: str,
    config: MarginConfig | None = None,
    scenario_config: ScenarioConfig | None = None,
    data_dir: Path = DATA_DIR,
) -> RiskEngineMargin:
    """Calibrate the risk model on the project's real market data as of the date `asof` (YYYY-MM-DD)."""
    cfg = config or MarginConfig()
    scfg = scenario_config or ScenarioConfig()
    universe = risk_universe(instruments)
    factors = sorted({i.factor for i in universe.instruments} | {c.factor for c in collateral if c.factor})
    spot_symbols = sorted({f for f in factors if not f.endswith("-PERP")} | {"BTC"})
    spot = load_candles(data_dir / "binance-spot-daily.csv.gz", symbols=spot_symbols)
    histories = [spot]
    if any(f.endswith("-PERP") for f in factors):
        histories.append(load_candles(data_dir / "binance-usdm-perp-hourly.csv.gz", suffix="-PERP"))
    history = merge(*histories)
    filtered = filter_history(history, {k: v for k, v in PROXIES.items() if k in history.symbols}, scfg)
    row = int(np.searchsorted(history.dates, np.datetime64(asof), side="right")) - 1
    scenarios = build_scenarios(filtered, row, factors, scfg)
    model = build_model(scenarios, universe, cfg)
    assets = [CollateralAsset(c.symbol, c.factor, c.horizon_days, c.floor) for c in collateral]
    haircut_model = build_haircuts(scenarios, assets, cfg)
    return RiskEngineMargin(model, haircut_model, cfg, instruments, collateral)
