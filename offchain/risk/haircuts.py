"""Collateral haircuts: each asset's own tail risk over its liquidation horizon, plus concentration.

Base haircut of asset a: the core risk measure (anti-procyclical ES, as for positions) of a long unit
holding over the asset's liquidation horizon ``h_a``, floored by ``floor_a`` and capped at ``cap``:
``b_a = min(cap, max(floor_a, ES_a))``. The settlement stablecoin (the numeraire) has no factor and
``b = floor`` (0 by default).

Concentration: a holding ``n`` larger than the asset's depth ``D_a = participation * ADV_a * h_a`` takes
``n / D_a`` horizons to sell; as for positions (:mod:`offchain.risk.addons`) the extra exposure is charged
linearly in the days to liquidate beyond depth, on the log-value multiplier so the haircut stays in
[0, 1) (capped at ``MAX_HAIRCUT``)::

    haircut_ma = 1 - (1 - b_a) ** (1 + SLOPE * max(0, n_ma / D_a - 1)),   SLOPE = 0.5

The value of a member's collateral is ``sum_a n_ma * price_a * (1 - haircut_ma)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.risk.addons import CONCENTRATION_SLOPE
from offchain.risk.config import MarginConfig, Measure
from offchain.risk.errors import ConfigError
from offchain.risk.measures import core_measure
from offchain.risk.scenarios import ApcMode, ScenarioSet

FloatArray = NDArray[np.float64]

#: Upper bound of any haircut (the concentration term alone could otherwise round to exactly 1).
MAX_HAIRCUT = 0.999


@dataclass(frozen=True)
class CollateralAsset:
    """An allow-listed collateral asset. ``factor`` None means the settlement numeraire (no price risk)."""

    name: str
    factor: str | None
    horizon_days: float = 2.0
    floor: float = 0.0

    def __post_init__(self) -> None:
        if self.horizon_days <= 0 or not 0 <= self.floor < 1:
            raise ConfigError(f"collateral {self.name}: need horizon_days > 0 and floor in [0, 1)")


@dataclass(frozen=True)
class HaircutModel:
    """Per-asset constants. base: (A,) haircut of a small holding, in [0, cap]. depth: (A,) units (inf for
    the numeraire)."""

    assets: tuple[CollateralAsset, ...]
    base: FloatArray
    depth: FloatArray


def build_haircuts(
    scenarios: ScenarioSet, assets: Sequence[CollateralAsset], config: MarginConfig, cap: float = 0.95
) -> HaircutModel:
    """Base haircuts and depths of ``assets`` from the scenario set."""
    if not 0 < cap < 1:
        raise ConfigError("cap must be in (0, 1)")
    w, b = (config.apc_weight, 0.0) if config.apc_mode is ApcMode.STRESSED_WEIGHT else (0.0, config.apc_weight)
    base = np.zeros(len(assets))
    depth = np.full(len(assets), np.inf)
    for k, a in enumerate(assets):
        if a.factor is None:
            base[k] = a.floor
            continue
        row = int(scenarios.rows([a.factor])[0])
        r = np.concatenate([scenarios.fhs[row], scenarios.stress[row]]) * np.sqrt(a.horizon_days)
        es = float(
            core_measure(
                -r,
                scenarios.fhs.shape[1],
                var=config.measure is Measure.VAR,
                alpha=config.alpha,
                stressed_weight=w,
                buffer=b,
                n_basis=scenarios.n_basis,
                basis_count=scenarios.basis_count,
            )[0]
        )
        base[k] = min(cap, max(a.floor, es))
        depth[k] = config.participation * scenarios.depth[row] * a.horizon_days
    return HaircutModel(tuple(assets), base, depth)


def haircuts(holdings: FloatArray, model: HaircutModel) -> FloatArray:
    """(M, A) haircuts in [0, 1) of holdings (M, A) ≥ 0."""
    if holdings.ndim != 2 or holdings.shape[1] != len(model.assets):
        raise ConfigError(f"holdings must be (M, {len(model.assets)}), got {holdings.shape}")
    if not np.all(np.isfinite(holdings)) or np.any(holdings < 0):
        raise ConfigError("collateral holdings must be finite and >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(holdings == 0, 0.0, holdings / model.depth)
    mult = 1.0 + CONCENTRATION_SLOPE * np.maximum(ratio - 1.0, 0.0)
    return np.asarray(np.minimum(1.0 - (1.0 - model.base) ** mult, MAX_HAIRCUT), dtype=np.float64)


def collateral_values(holdings: FloatArray, prices: FloatArray, model: HaircutModel) -> tuple[FloatArray, FloatArray]:
    """((M, A) haircuts, (M,) haircut collateral value) of holdings at ``prices`` (A,)."""
    if prices.shape != (len(model.assets),) or not np.all(np.isfinite(prices)) or np.any(prices <= 0):
        raise ConfigError("collateral prices must be (A,), finite and > 0")
    hc = haircuts(holdings, model)
    return hc, np.asarray((holdings * prices * (1.0 - hc)).sum(axis=1), dtype=np.float64)
