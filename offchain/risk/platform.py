"""Platform view: directional imbalance, stress losses of every member, Cover-2 default fund.

* Imbalance: per member group (market makers, funds, a venue's retail pool, ...) and instrument, the net
  and gross notional, and the one-sidedness ``net / gross`` in [-1, 1] (+1: the whole group is long).
* Stress losses: loss of each member under each stressed scenario — the historical stressed block of the
  model's scenario matrix (at the liquidation horizons) **and** the hypothetical scenarios
  (:mod:`offchain.risk.hypothetical`; EMIR Art. 30, PFMI 4/6: historical and hypothetical extreme but
  plausible conditions) — and the worst loss per stressed period (each hypothetical scenario is its own).
  With the members' collateral (:class:`CollateralStress`), a member's loss also includes the fall of its
  collateral beyond the haircut (wrong-way: a member long ETH backed by WETH loses on both), in the same
  scenario: ``loss + max(0, collateral fall - haircut amount)``; the haircut amount is the part of the
  collateral that IM never counted, so only a fall deeper than the haircut eats into the IM.
* Cover 2 (PFMI Principle 4, EMIR Art. 43): in each stressed scenario, each member's loss in excess of its
  IM; the fund is the largest, over scenarios, sum of the two largest excesses. Contributions are pro rata
  to each member's own worst excess (pro rata to IM when no member has any), scaled by its tier's
  default-fund multiplier, and rounded up to base units (so they sum to at least the fund).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError
from offchain.risk.haircuts import HaircutModel, collateral_values
from offchain.risk.margin import RiskModel
from offchain.risk.units import to_units_up

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Imbalance:
    """net, gross: (G, I) notionals per group and instrument; one_sided: (G, I) ``net / gross`` (0 if flat);
    platform_one_sided: (I,) the same over all members (0 when every long has a short inside the house)."""

    net: FloatArray
    gross: FloatArray
    one_sided: FloatArray
    platform_one_sided: FloatArray


def directional_imbalance(positions: FloatArray, prices: FloatArray, groups: IntArray, n_groups: int) -> Imbalance:
    """Imbalance of positions (M, I) at prices (I,), members grouped by ``groups`` (M,) in [0, G)."""
    m = positions.shape[0]
    if groups.shape != (m,) or (m and (groups.min() < 0 or groups.max() >= n_groups)):
        raise ConfigError("groups must be (M,) with values in [0, n_groups)")
    x = positions * prices
    onehot = np.zeros((n_groups, m))
    onehot[groups, np.arange(m)] = 1.0
    net = onehot @ x
    gross = onehot @ np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        one_sided = np.where(gross > 0, net / gross, 0.0)
        tot_g = gross.sum(axis=0)
        platform = np.where(tot_g > 0, net.sum(axis=0) / tot_g, 0.0)
    return Imbalance(net, gross, one_sided, platform)


@dataclass(frozen=True)
class StressLosses:
    """by_scenario: (M, K + H) loss per stressed scenario, the K historical ones (the model's stressed block)
    then the H hypothetical ones; by_period: (M, P + H) worst loss per historical stressed period, then each
    hypothetical scenario; periods: the P + H names; n_hypothetical: H."""

    by_scenario: FloatArray
    by_period: FloatArray
    periods: tuple[str, ...]
    n_hypothetical: int = 0


@dataclass(frozen=True)
class CollateralStress:
    """Members' collateral for stress losses: exposure (M, A) market value per asset; haircut (M,) the
    amount the haircuts take off it (market value - haircut value); model: the haircut model built from
    the same scenario set as the risk model (its ``returns`` and ``hypothetical`` moves)."""

    exposure: FloatArray
    haircut: FloatArray
    model: HaircutModel

    @classmethod
    def of(
        cls, holdings: FloatArray, prices: FloatArray, model: HaircutModel, member_tier: IntArray | None = None
    ) -> CollateralStress:
        """From holdings (M, A) at prices (A,), haircut as in the margin (eligibility and caps included)."""
        _, value = collateral_values(holdings, prices, model, member_tier)
        exposure = holdings * prices
        return cls(exposure, np.maximum(exposure.sum(axis=1) - value, 0.0), model)

    def excess_fall(self, moves: FloatArray) -> FloatArray:
        """(M, K) collateral fall beyond the haircut under asset moves (A, K)."""
        return np.asarray(np.maximum(-(self.exposure @ moves) - self.haircut[:, None], 0.0), dtype=np.float64)


def stress_losses(
    positions: FloatArray, prices: FloatArray, model: RiskModel, collateral: CollateralStress | None = None
) -> StressLosses:
    """Loss of every member under every historical stressed and every hypothetical scenario of ``model``,
    with its collateral's fall beyond the haircut when ``collateral`` is given."""
    exposure = positions * prices
    losses = -(exposure @ model.returns[:, model.n_fhs :])
    hyp_c: FloatArray | None = None
    if collateral is not None:
        cm = collateral.model
        if cm.returns is None or cm.returns.shape[1] != model.n_scenarios:
            raise ConfigError("collateral haircut model has no scenario returns aligned with the risk model")
        if collateral.exposure.shape != (positions.shape[0], len(cm.assets)):
            raise ConfigError(f"collateral exposure must be ({positions.shape[0]}, {len(cm.assets)})")
        losses = losses + collateral.excess_fall(cm.returns[:, model.n_fhs :])
        hyp_c = cm.hypothetical
    p = len(model.stress_names)
    by_period = np.zeros((positions.shape[0], p))
    for k in range(p):  # loop over stressed periods (a handful), not members
        cols = model.stress_label == k
        if cols.any():
            by_period[:, k] = losses[:, cols].max(axis=1)
    hyp = model.hypothetical
    if hyp is None or hyp.shape[1] == 0:
        return StressLosses(losses, by_period, model.stress_names)
    h_losses = -(exposure @ hyp)
    if collateral is not None:
        if hyp_c is None or hyp_c.shape[1] != hyp.shape[1]:
            raise ConfigError("collateral haircut model has no hypothetical moves aligned with the risk model")
        h_losses = h_losses + collateral.excess_fall(hyp_c)
    return StressLosses(
        np.concatenate([losses, h_losses], axis=1),
        np.concatenate([by_period, h_losses], axis=1),
        model.stress_names + model.hypothetical_names,
        hyp.shape[1],
    )


@dataclass(frozen=True)
class DefaultFund:
    """size: Cover-2 fund. scenario: the stressed scenario that sets it. members: (2,) the two members
    whose excesses set it. excess: (M, K) losses beyond IM. contributions: (M,) float;
    contribution_units: (M,) rounded up, summing to at least ``size`` in base units."""

    size: float
    scenario: int
    members: IntArray
    excess: FloatArray
    contributions: FloatArray
    contribution_units: IntArray


def cover2(losses: FloatArray, im: FloatArray, df_multiplier: FloatArray, decimals: int) -> DefaultFund:
    """Cover-2 default fund from stressed losses (M, K) and initial margins (M,) (M ≥ 2, K ≥ 1)."""
    m, k = losses.shape
    if m < 2 or k < 1 or im.shape != (m,) or df_multiplier.shape != (m,):
        raise ConfigError("need losses (M, K) with M >= 2, K >= 1, and im, df_multiplier (M,)")
    excess = np.maximum(losses - im[:, None], 0.0)
    top2_idx = np.argpartition(excess, m - 2, axis=0)[m - 2 :]  # (2, K)
    top2 = np.take_along_axis(excess, top2_idx, axis=0).sum(axis=0)  # (K,)
    s = int(np.argmax(top2))
    size = float(top2[s])
    risk = excess.max(axis=1)
    if not np.any(risk > 0):
        risk = np.maximum(im, 0.0)
    weight = risk * df_multiplier
    total = float(weight.sum())
    share = weight / total if total > 0 else np.full(m, 1.0 / m)
    contrib = size * share
    return DefaultFund(
        size=size,
        scenario=s,
        members=np.sort(top2_idx[:, s]).astype(np.int64),
        excess=excess,
        contributions=contrib,
        contribution_units=to_units_up(contrib, decimals),
    )


@dataclass(frozen=True)
class ReverseStress:
    """The smallest multiple ``scale`` of a scenario's moves at which the two largest member losses beyond
    their IM exceed the default fund (``inf``: not even at ``max_scale``), and the two members."""

    scenario: str
    scale: float
    members: IntArray
    excess: float  # sum of the two largest excesses at ``scale`` (the first that exhausts the fund)


def reverse_stress(
    positions: FloatArray,
    prices: FloatArray,
    im: FloatArray,
    fund: float,
    moves: FloatArray,
    name: str,
    max_scale: float = 10.0,
    tol: float = 1e-4,
    collateral: CollateralStress | None = None,
    collateral_moves: FloatArray | None = None,
) -> ReverseStress:
    """Reverse stress test (EMIR RTS 153/2013 Art. 30; PFMI 4.4): scale ``moves`` (I,) — e.g. the
    hypothetical market crash — by k until Cover-2 excess (two largest ``loss - IM``) exceeds ``fund``.

    Losses are ``-(q · p) @ max(k · moves, -1)`` (a price falls at most to zero), non-decreasing in k, so the
    smallest such k is found by bisection to ``tol``. Shapes: positions (M, I), prices (I,), im (M,).
    With ``collateral`` and its assets' ``collateral_moves`` (A,) in the same scenario, each member's loss
    also includes its collateral's fall beyond the haircut (Cover 2 with wrong-way risk, as
    :func:`stress_losses`).
    """
    m = positions.shape[0]
    if m < 2 or im.shape != (m,) or moves.shape != prices.shape or fund < 0 or max_scale <= 0:
        raise ConfigError("need M >= 2, im (M,), moves like prices, fund >= 0, max_scale > 0")
    exposure = positions * prices
    if (collateral is None) != (collateral_moves is None):
        raise ConfigError("collateral and collateral_moves go together")
    if (
        collateral is not None
        and collateral_moves is not None
        and (collateral_moves.shape != (collateral.exposure.shape[1],) or collateral.exposure.shape[0] != m)
    ):
        raise ConfigError("collateral exposure must be (M, A) and collateral_moves (A,)")

    def loss(k: float) -> FloatArray:
        out = -(exposure @ np.maximum(k * moves, -1.0))
        if collateral is not None and collateral_moves is not None:
            out = out + collateral.excess_fall(np.maximum(k * collateral_moves, -1.0)[:, None])[:, 0]
        return np.asarray(out, dtype=np.float64)

    def top2(k: float) -> tuple[float, IntArray]:
        excess = np.maximum(loss(k) - im, 0.0)
        idx = np.argpartition(excess, m - 2)[m - 2 :]
        return float(excess[idx].sum()), np.sort(idx).astype(np.int64)

    hi_excess, hi_members = top2(max_scale)
    if hi_excess <= fund:
        return ReverseStress(name, math.inf, hi_members, hi_excess)
    lo, hi = 0.0, max_scale
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if top2(mid)[0] > fund:
            hi = mid
        else:
            lo = mid
    excess, members = top2(hi)
    return ReverseStress(name, hi, members, excess)
