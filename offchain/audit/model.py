"""The verifier's own risk model: rebuilt from the published model inputs and the shipped market data with
the pure risk model (offchain/risk), never taken from the engine.

Each batch line publishes the engine's model record (`model`: version, `data_hash`, `inputs`). `inputs`
is the canonical JSON of what the model was built from: the seed's last day, the cleared instruments of
the risk universe (name, kind, underlying) and the collateral specifications (asset, symbol, decimals,
risk factor, horizon, haircut floor). The verifier rebuilds the scenario set and the model from those and
from its own copy of `data/market`, with the risk package's default margin and scenario configuration,
and accepts the record only if the content hash of what it rebuilt is the published `data_hash`: the hash
covers the history and the settings' text (configuration, tier table, universe, collateral), so equal
hashes mean equal models. A model recalibrated on the ledger's daily index closes publishes them in its
inputs (`ledger`); the verifier splices them after the seed as the engine does. Those closes are taken as
published (they are not yet re-derived from the candles of published observations).

The seed (the shipped files, offchain/risk/calibration.py's `load_seed`), the look-back proxies and the
instruments' risk universe (offchain/risk/instruments.py's `risk_universe`) come from the pure risk model,
as the engine's do: they are functions of public data and published inputs, not the engine's decisions.

`MarginRederivation.requirements` is the engine's adapter from integer state to the risk arrays
(offchain/settlement/margin.py, `RiskEngineMargin.requirements`) rewritten here, so that the auditor does
not import the engine; tests/audit/test_rederive.py ties the two together (same hash, same IM/MM, same
haircuts on random books).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from offchain.errors import CrossclearError
from offchain.risk import (
    CollateralAsset,
    HaircutModel,
    MarginConfig,
    RiskModel,
    ScenarioConfig,
    build_haircuts,
    build_model,
    build_scenarios,
    compute_margin,
    filter_history,
)
from offchain.risk.calibration import DATA_DIR, content_hash, load_seed, model_factors, proxies_in, splice
from offchain.risk.errors import RiskError
from offchain.risk.instruments import risk_universe
from offchain.risk.marketdata import PriceHistory
from offchain.risk.platform import CollateralStress, cover2, stress_losses
from offchain.risk.risecap import stress_floor
from offchain.risk.tiers import df_multipliers
from offchain.risk.units import units_per_row


class ModelInputError(CrossclearError, ValueError):
    """A published model record that cannot be rebuilt (malformed inputs, unknown data)."""


@dataclass(frozen=True)
class CollateralSpec:
    """A collateral asset as the model margins it. Same name, fields and order as the engine's
    `offchain.settlement.margin.CollateralSpec`: its repr is part of the settings the data hash covers."""

    asset: int
    symbol: str
    decimals: int
    factor: str | None
    horizon_days: float = 2.0
    floor: float = 0.0
    tiers: tuple[str, ...] | None = None  # the member tiers that may post it, sorted (None: every tier)
    max_share: float = 1.0  # cap on its share of a member's haircut collateral value

    def tier_indices(self, config: MarginConfig) -> frozenset[int] | None:
        """The eligible tiers as indices into the model's tier table (None: every tier)."""
        if self.tiers is None:
            return None
        names = [t.name for t in config.tiers]
        unknown = sorted(set(self.tiers) - set(names))
        if unknown:
            raise ModelInputError(f"collateral {self.symbol}: tiers {unknown} are not in the model's tier table")
        return frozenset(i for i, n in enumerate(names) if n in self.tiers)


@dataclass(frozen=True)
class LedgerCloses:
    """The ledger's daily index closes the engine recalibrated on, after the seed (None: no close)."""

    dates: tuple[str, ...]
    symbols: tuple[str, ...]
    close: tuple[tuple[float | None, ...], ...]

    def history(self) -> PriceHistory:
        close = np.array([[np.nan if v is None else v for v in row] for row in self.close], dtype=np.float64)
        close = close.reshape(len(self.dates), len(self.symbols))
        dates = np.array(self.dates, dtype="datetime64[D]")
        return PriceHistory(dates, self.symbols, close, np.full_like(close, np.nan))


@dataclass(frozen=True)
class ModelInputs:
    seed_end: str  # YYYY-MM-DD: the shipped history's last day
    instruments: tuple[tuple[str, str, str], ...]  # (name, kind, underlying), sorted by name
    collateral: tuple[CollateralSpec, ...]
    ledger: LedgerCloses | None = None

    @classmethod
    def parse(cls, text: str) -> ModelInputs:
        try:
            body = json.loads(text)
            instruments = tuple(sorted((str(n), str(k), str(u)) for n, k, u in body["instruments"]))
            collateral = tuple(
                CollateralSpec(
                    asset=int(c["asset"]),
                    symbol=str(c["symbol"]),
                    decimals=int(c["decimals"]),
                    factor=None if c["factor"] is None else str(c["factor"]),
                    horizon_days=float(c["horizon_days"]),
                    floor=float(c["floor"]),
                    tiers=None if c.get("tiers") is None else tuple(sorted({str(x) for x in c["tiers"]})),
                    max_share=float(c.get("max_share", 1.0)),
                )
                for c in body["collateral"]
            )
            raw = body.get("ledger")
            ledger = (
                None
                if raw is None
                else LedgerCloses(
                    tuple(str(x) for x in raw["dates"]),
                    tuple(str(x) for x in raw["symbols"]),
                    tuple(tuple(None if v is None else float(v) for v in row) for row in raw["close"]),
                )
            )
            return cls(str(body["seed_end"]), instruments, collateral, ledger)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelInputError(f"malformed model inputs: {exc}") from exc


@dataclass(frozen=True)
class RebuiltModel:
    inputs: ModelInputs
    model: RiskModel
    haircut_model: HaircutModel
    config: MarginConfig
    data_hash: str

    def base_haircut_bps(self) -> dict[int, int]:
        """Each asset's haircut for a small holding, rounded up to a basis point (what the vault is posted)."""
        return dict(self._base_bps)

    @cached_property
    def _base_bps(self) -> dict[int, int]:
        base = self.haircut_model.base.tolist()
        return {
            c.asset: min(math.ceil(float(h) * 10_000), 10_000)
            for c, h in zip(self.inputs.collateral, base, strict=True)
        }

    @cached_property
    def columns(self) -> dict[str, int]:
        return {name: k for k, name in enumerate(self.model.universe.names)}

    @cached_property
    def tier_index(self) -> dict[str, int]:
        return {t.name: k for k, t in enumerate(self.config.tiers)}


@lru_cache(maxsize=8)
def rebuild(inputs_text: str, data_dir: Path = DATA_DIR) -> RebuiltModel:
    """The model the published inputs describe (cached: one build per calibration, not per batch)."""
    inputs = ModelInputs.parse(inputs_text)
    config, scfg = MarginConfig(), ScenarioConfig()
    universe = risk_universe(inputs.instruments)
    collateral = inputs.collateral
    factors = model_factors(universe, (c.factor for c in collateral))
    try:
        seed = load_seed(factors, inputs.seed_end, data_dir)
        history = splice(seed, None if inputs.ledger is None else inputs.ledger.history())
        filtered = filter_history(history, proxies_in(history), scfg)
        scenarios = build_scenarios(filtered, len(history.dates) - 1, factors, scfg)
        model = build_model(scenarios, universe, config)
        assets = [
            CollateralAsset(c.symbol, c.factor, c.horizon_days, c.floor, c.tier_indices(config), c.max_share)
            for c in collateral
        ]
        haircut_model = build_haircuts(scenarios, assets, config)
    except (RiskError, ValueError, OSError) as exc:
        raise ModelInputError(f"cannot rebuild the model from its inputs: {exc}") from exc
    digest = content_hash(history, repr((config, scfg, universe, collateral)))
    return RebuiltModel(inputs, model, haircut_model, config, digest)


@dataclass(frozen=True)
class Rederived:
    im: int
    mm: int
    haircut_bps: dict[int, int]  # asset -> the model's haircut for this member's holding
    # With the rise cap (config.max_daily_rise): the lowest IM/MM the engine may post (the stressed floor).
    floor_im: int | None = None
    floor_mm: int | None = None


@dataclass(frozen=True)
class MarginRederivation:
    """IM/MM of members from integer state, by the rebuilt model (the engine adapter's arithmetic)."""

    rebuilt: RebuiltModel
    settlement_decimals: int = 6

    def requirements(
        self,
        members: Sequence[tuple[int, str]],
        positions: Mapping[tuple[int, str], int],
        qty_decimals: Mapping[str, int],
        marks: Mapping[str, int],
        holdings: Mapping[tuple[int, int], int],
        collateral_prices: Mapping[int, int],
    ) -> dict[int, Rederived | str]:
        """Per member `(account, tier)`: its re-derived requirement, or why it has none (a string)."""
        r = self.rebuilt
        model, scale = r.model, 10**self.settlement_decimals
        names = model.universe.names
        columns, tier_index = r.columns, r.tier_index
        m, n_i, coll = len(members), len(names), r.inputs.collateral
        row = {account: k for k, (account, _) in enumerate(members)}
        q = np.zeros((m, n_i))
        for (account, instrument), qty in positions.items():
            if account in row and qty:
                if instrument not in columns:
                    raise ModelInputError(f"instrument {instrument} is not in the model's universe")
                q[row[account], columns[instrument]] += qty / 10 ** qty_decimals[instrument]
        prices = np.zeros(n_i)
        for instrument, col in columns.items():
            if instrument in marks:
                prices[col] = marks[instrument] / scale
        missing = np.flatnonzero((prices == 0) & np.any(q != 0, axis=0))
        if missing.size:
            raise ModelInputError(f"positions without a mark: {[names[i] for i in missing]}")
        prices[prices == 0] = 1.0  # no position and no mark: any positive price gives zero risk
        held = np.zeros((m, len(coll)))
        for k, c in enumerate(coll):
            for account, j in row.items():
                held[j, k] = holdings.get((account, c.asset), 0) / 10**c.decimals
        cprices = np.array([collateral_prices[c.asset] / scale for c in coll])
        unknown = sorted({tier for _, tier in members if tier not in tier_index})
        if unknown:
            raise ModelInputError(f"tiers {unknown} are not in the model's tier table")
        tiers = np.array([tier_index[tier] for _, tier in members], dtype=np.int64)
        result = compute_margin(q, prices, held, cprices, tiers, model, r.haircut_model, r.config)
        extra = (held * cprices * np.maximum(result.haircuts - r.haircut_model.base, 0.0)).sum(axis=1)
        addons = result.concentration_addon + result.liquidity_addon
        floor = stress_floor(result.es_core, result.es_stress, addons, r.config.tiers, tiers)
        floor_units, floor_ok = units_per_row(floor, r.config.decimals, up=True)
        out: dict[int, Rederived | str] = {}
        for account, j in row.items():
            error = result.unit_error(j)
            if error is not None or not math.isfinite(float(extra[j])):
                out[account] = f"account {account}: {error or 'haircut overflow'}"
                continue
            extra_units = math.ceil(float(extra[j]) * scale)
            im = int(result.im_units[j]) + extra_units
            floor_im = floor_mm = None
            if r.config.max_daily_rise is not None and floor_ok[j]:
                # the engine's arithmetic at the floor (offchain/settlement/margin.py, RiskEngineMargin._capped)
                floor_im = min(int(floor_units[j]), int(result.im_units[j])) + extra_units
                floor_mm = min(
                    int(result.mm_units[j]) + extra_units,
                    math.ceil(r.config.mm_fraction * (floor_im - extra_units)) + extra_units,
                )
            out[account] = Rederived(
                im=im,
                mm=int(result.mm_units[j]) + extra_units,
                haircut_bps={c.asset: math.ceil(float(result.haircuts[j, k]) * 10_000) for k, c in enumerate(coll)},
                floor_im=floor_im,
                floor_mm=floor_mm,
            )
        return out

    def cover2_targets(
        self,
        members: Sequence[tuple[int, str]],
        positions: Mapping[tuple[int, str], int],
        qty_decimals: Mapping[str, int],
        marks: Mapping[str, int],
        im: Mapping[int, int],
        holdings: Mapping[tuple[int, int], int],
        collateral_prices: Mapping[int, int],
    ) -> dict[int, int]:
        """Each member's Cover-2 default-fund target in base units (rounded up), the engine's sizing
        (offchain/defaults/fund.py, `cover2_targets`) on the rebuilt model: every member's loss in each stressed
        scenario (historical and hypothetical) with its collateral's fall beyond the haircut, its excess over
        its IM; the fund is the largest sum of the two largest excesses, split pro rata to each member's
        worst excess x its tier's default-fund multiplier."""
        if len(members) < 2:
            return {a: 0 for a, _ in members}
        r = self.rebuilt
        model, scale, coll = r.model, 10**self.settlement_decimals, r.inputs.collateral
        columns, tier_index = r.columns, r.tier_index
        row = {account: k for k, (account, _) in enumerate(members)}
        q = np.zeros((len(members), len(model.universe)))
        for (account, instrument), qty in positions.items():
            if account in row and qty:
                if instrument not in columns:
                    raise ModelInputError(f"instrument {instrument} is not in the model's universe")
                q[row[account], columns[instrument]] += qty / 10 ** qty_decimals[instrument]
        prices = np.ones(len(model.universe))
        for instrument, col in columns.items():
            if instrument in marks:
                prices[col] = marks[instrument] / scale
        unknown = sorted({tier for _, tier in members if tier not in tier_index})
        if unknown:
            raise ModelInputError(f"tiers {unknown} are not in the model's tier table")
        tiers = np.array([tier_index[tier] for _, tier in members], dtype=np.int64)
        held = np.zeros((len(members), len(coll)))
        for k, c in enumerate(coll):
            for account, j in row.items():
                held[j, k] = holdings.get((account, c.asset), 0) / 10**c.decimals
        cprices = np.array([collateral_prices[c.asset] / scale for c in coll], dtype=np.float64)
        stress = CollateralStress.of(held, cprices, r.haircut_model, tiers)
        losses = stress_losses(q, prices, model, stress).by_scenario
        im_f = np.array([im.get(a, 0) / scale for a, _ in members])
        fund = cover2(losses, im_f, df_multipliers(r.config.tiers, tiers), r.config.decimals)
        return {a: int(fund.contribution_units[k]) for a, k in row.items()}


def record_inputs(record: Mapping[str, Any]) -> str | None:
    """The inputs text of a published model record, or None when it has none."""
    text = record.get("inputs")
    return text if isinstance(text, str) and text else None
