"""Collateral haircuts: each asset's own tail risk over its liquidation horizon, plus concentration.

Base haircut of asset a: the larger of the core risk measure (anti-procyclical ES, as for positions) of
a long unit holding over the asset's liquidation horizon ``h_a`` and the **worst fall over that horizon in
the stressed periods** (``W_a``: compounded over up to ``ceil(h_a)`` consecutive days of each stressed
period; mirrored periods left out, a holding is long), floored by ``floor_a`` and capped at ``cap``:
``b_a = min(cap, max(floor_a, ES_a, W_a))``. The ES alone is a 97.5 % tail average of sqrt(h)-scaled
one-day returns and did not cover a real crash day's move out of sample; ``W_a`` is the stressed
liquidation-horizon move itself (EMIR RTS 153/2013 Art. 41 and Annex II; PFMI 5.3).
The settlement stablecoin (the numeraire) has no factor and ``b = floor`` (0 by default).

Eligibility and concentration limits (per asset, governed): ``tiers`` lists the member tiers that may
post the asset (None: every tier); an ineligible holding is valued at 0 (haircut 1). ``max_share`` caps the
asset's share of the member's haircut collateral value: the value counted for asset a is
``min(v_ma, max_share_a * sum_b v_mb)`` (a steeper effective haircut beyond the cap).

Wrong-way risk: a holding moves in the same scenario set as the positions (``HaircutModel.returns``,
its factor's FHS and stressed returns at the asset's horizon), so the member's joint risk over positions
plus collateral is measurable (:func:`offchain.risk.margin.portfolio_core`). The on-chain check stays the
conservative one: because the core measure is coherent (subadditive) and ``b_a`` is at least the asset's
own core risk, ``collateral value - IM`` never exceeds ``market value - joint core`` (a long ETH perp backed
by WETH is charged the full WETH haircut on top of the perp's IM; no credit is given to a right-way hedge).

Concentration: a holding ``n`` larger than the asset's depth ``D_a = participation * ADV_a * h_a`` takes
``n / D_a`` horizons to sell; as for positions (:mod:`offchain.risk.addons`) the extra exposure is charged
linearly in the days to liquidate beyond depth, on the log-value multiplier so the haircut stays in
[0, 1) (capped at ``MAX_HAIRCUT``)::

    haircut_ma = 1 - (1 - b_a) ** (1 + SLOPE * max(0, n_ma / D_a - 1)),   SLOPE = 0.5

The value of a member's collateral is ``sum_a n_ma * price_a * (1 - haircut_ma)``.
"""

from __future__ import annotations

import math
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
IntArray = NDArray[np.int64]

#: Upper bound of any haircut (the concentration term alone could otherwise round to exactly 1).
MAX_HAIRCUT = 0.999


@dataclass(frozen=True)
class CollateralAsset:
    """An allow-listed collateral asset. ``factor`` None means the settlement numeraire (no price risk)."""

    name: str
    factor: str | None
    horizon_days: float = 2.0
    floor: float = 0.0
    tiers: frozenset[int] | None = None  # member tiers that may post it; None: every tier
    max_share: float = 1.0  # cap on its share of a member's haircut collateral value

    def __post_init__(self) -> None:
        if self.horizon_days <= 0 or not 0 <= self.floor < 1:
            raise ConfigError(f"collateral {self.name}: need horizon_days > 0 and floor in [0, 1)")
        if not 0 < self.max_share <= 1:
            raise ConfigError(f"collateral {self.name}: max_share must be in (0, 1], got {self.max_share}")

    def eligible(self, tier: int) -> bool:
        return self.tiers is None or tier in self.tiers


@dataclass(frozen=True)
class HaircutModel:
    """Per-asset constants. base: (A,) haircut of a small holding, in [0, cap]. depth: (A,) units (inf for
    the numeraire). stressed: (A,) worst fall over the horizon in the stressed periods (0: numeraire or no
    stressed period). returns: (A, S) the holding's scenario returns at its horizon, columns as the risk
    model's (zeros for the numeraire); hypothetical: (A, H) its factor's hypothetical moves (fall capped at
    -100 %). Both ``None`` when built by hand (no joint measure, no collateral in stress losses)."""

    assets: tuple[CollateralAsset, ...]
    base: FloatArray
    depth: FloatArray
    stressed: FloatArray | None = None
    returns: FloatArray | None = None
    hypothetical: FloatArray | None = None


def build_haircuts(
    scenarios: ScenarioSet, assets: Sequence[CollateralAsset], config: MarginConfig, cap: float = 0.95
) -> HaircutModel:
    """Base haircuts and depths of ``assets`` from the scenario set."""
    if not 0 < cap < 1:
        raise ConfigError("cap must be in (0, 1)")
    w, b = (config.apc_weight, 0.0) if config.apc_mode is ApcMode.STRESSED_WEIGHT else (0.0, config.apc_weight)
    n = len(assets)
    base = np.zeros(n)
    depth = np.full(n, np.inf)
    stressed = np.zeros(n)
    returns = np.zeros((n, scenarios.fhs.shape[1] + scenarios.stress.shape[1]))
    hyp_all = scenarios.hypothetical
    hyp = np.zeros((n, 0 if hyp_all is None else hyp_all.shape[1]))
    for k, a in enumerate(assets):
        if a.factor is None:
            base[k] = a.floor
            continue
        row = int(scenarios.rows([a.factor])[0])
        r = np.concatenate([scenarios.fhs[row], scenarios.stress[row]]) * np.sqrt(a.horizon_days)
        returns[k] = r
        if hyp_all is not None:
            hyp[k] = np.maximum(hyp_all[row], -1.0)
        stressed[k] = stressed_fall(scenarios, row, a.horizon_days)
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
        base[k] = min(cap, max(a.floor, es, stressed[k]))
        depth[k] = config.participation * scenarios.depth[row] * a.horizon_days
    return HaircutModel(tuple(assets), base, depth, stressed, np.ascontiguousarray(returns), hyp)


def stressed_fall(scenarios: ScenarioSet, row: int, horizon_days: float) -> float:
    """Worst fall (≥ 0) of factor ``row`` compounded over up to ``ceil(horizon_days)`` consecutive days of one
    stressed period (each period is a run of consecutive days; the basis block is not). Mirrored periods
    are left out: a holding is always long, and the negative of a +150 % alt-coin day is no price path."""
    n_periods = scenarios.stress.shape[1] - scenarios.n_basis
    r = scenarios.stress[row, :n_periods]
    labels = scenarios.stress_label[:n_periods]
    w = max(1, math.ceil(horizon_days))
    worst = 0.0
    for k in np.unique(labels):
        if scenarios.stress_names[int(k)].endswith("-mirror"):
            continue
        growth = np.log1p(np.maximum(r[labels == k], -1.0 + 1e-12))
        if growth.size == 0:
            continue
        c = np.concatenate([[0.0], np.cumsum(growth)])
        for span in range(1, min(w, growth.size) + 1):  # a rebound within the horizon is no relief
            moves = c[span:] - c[:-span]  # log-return of every window of ``span`` days
            worst = max(worst, float(-np.expm1(moves.min())))
    return worst


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


def collateral_values(
    holdings: FloatArray, prices: FloatArray, model: HaircutModel, member_tier: IntArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """((M, A) effective haircuts, (M,) haircut collateral value) of holdings at ``prices`` (A,).

    With ``member_tier`` (M,), a holding the member's tier may not post is valued at 0 (haircut 1). Each
    asset's counted value is capped at ``max_share`` of the member's haircut value (the effective haircut
    rises accordingly). Without ``member_tier`` every asset is eligible.
    """
    if prices.shape != (len(model.assets),) or not np.all(np.isfinite(prices)) or np.any(prices <= 0):
        raise ConfigError("collateral prices must be (A,), finite and > 0")
    hc = haircuts(holdings, model)
    if member_tier is not None:
        if member_tier.shape != (holdings.shape[0],):
            raise ConfigError(f"member_tier must be ({holdings.shape[0]},)")
        tiers = np.unique(member_tier)
        # (T, A) eligibility of each distinct tier; reshaped so that no member (T = 0) still broadcasts
        # against the (0, A) haircuts: an engine with no members yet margins nobody, it must not fail.
        ok = np.array([[a.eligible(int(t)) for a in model.assets] for t in tiers], dtype=bool).reshape(
            tiers.size, len(model.assets)
        )
        hc = np.where(ok[np.searchsorted(tiers, member_tier)], hc, 1.0)
    market = holdings * prices
    value = market * (1.0 - hc)
    share = np.array([a.max_share for a in model.assets])
    if np.any(share < 1.0):
        capped = np.minimum(value, share[None, :] * value.sum(axis=1, keepdims=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            hc = np.where(market > 0, np.maximum(hc, 1.0 - capped / market), hc)
        value = capped
    return hc, np.asarray(value.sum(axis=1), dtype=np.float64)
