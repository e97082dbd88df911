"""Initial and maintenance margin of every member at once.

Shapes: M members, I cleared instruments, S = S1 + S2 scenarios (FHS then stressed), A collateral assets.

Fast path. :func:`build_model` pre-computes, once per scenario refresh, the horizon-scaled scenario
return matrix ``R: (I, S)`` (``R[i, s] = sqrt(h_i) * r[factor(i), s]``) and per-instrument constants.
:func:`compute_margin` then needs one elementwise product (notionals ``X = q * price``), one matrix product
``P = X @ R`` (M, S) of scenario P&L, two partial sorts along S, and elementwise add-ons — no Python loop
over members. :class:`MarginBook` keeps ``P`` per member so that one fill re-margins one member in O(S).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.risk import addons
from offchain.risk.config import MarginConfig, Measure
from offchain.risk.errors import ConfigError
from offchain.risk.haircuts import HaircutModel, collateral_values
from offchain.risk.instruments import Universe
from offchain.risk.measures import core_measure, core_measure_pnl
from offchain.risk.scenarios import ApcMode, ScenarioSet
from offchain.risk.tiers import im_multipliers
from offchain.risk.units import units_per_row

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class RiskModel:
    """Everything :func:`compute_margin` needs besides positions, marks and collateral.

    Attributes:
        universe: the I cleared instruments (column order of positions).
        returns: (I, S) horizon-scaled scenario returns, C-contiguous; ``[:, :n_fhs]`` FHS, rest stressed.
        n_fhs: S1.
        es_long, es_short: (I,) stand-alone core risk per unit notional of a long / short position.
        sigma: (I,) one-day volatility forecast. adv: (I,) average daily traded quantity.
        depth: (I,) quantity closable within the base horizon, ``participation * adv * h``.
        stress_label: (S2,) stressed period of each stressed scenario; stress_names: period names.
        n_basis: the last ``n_basis`` stressed scenarios are the basis-dislocation block, measured by the
            mean of its ``basis_count`` worst losses (see :func:`offchain.risk.measures.core_measure`).
        hypothetical: (I, H) instrument returns in the hypothetical scenarios (moves over the liquidation
            horizon, a fall capped at -100 %), or ``None``; used by the platform stress losses and Cover 2,
            never by the margin. hypothetical_names: their H names.
    """

    universe: Universe
    returns: FloatArray
    n_fhs: int
    es_long: FloatArray
    es_short: FloatArray
    sigma: FloatArray
    adv: FloatArray
    depth: FloatArray
    stress_label: IntArray
    stress_names: tuple[str, ...]
    n_basis: int = 0
    basis_count: int = 1
    hypothetical: FloatArray | None = None
    hypothetical_names: tuple[str, ...] = ()

    @property
    def n_scenarios(self) -> int:
        return int(self.returns.shape[1])


@dataclass(frozen=True)
class MarginResult:
    """Margin of M members (all arrays indexed by member; amounts in the settlement currency, USD).

    Attributes:
        es_core: (M,) anti-procyclical core ES (or VaR) of the portfolio over the liquidation horizons.
        es_fhs, es_stress: (M,) its FHS and stressed components.
        concentration_addon, liquidity_addon: (M,) add-ons.
        im: (M,) initial margin = tier multiplier × (core + add-ons). mm: (M,) ``mm_fraction * im``.
        haircuts: (M, A) haircut per member and collateral asset, in [0, 1).
        collateral_value: (M,) sum of haircut collateral values.
        excess: (M,) ``collateral_value - im`` (negative: shortfall).
        im_units, mm_units: (M,) int64 base units, rounded up. collateral_units: (M,) rounded down.
        excess_units: (M,) ``collateral_units - im_units``.
        unrepresentable: members whose IM, MM or collateral value has no integer base units (NaN, infinite,
            or beyond 2**63 units): their unit fields are 0 and must not be used; every other member's are
            exact (one member's absurd amount never aborts the run for the others).
    """

    es_core: FloatArray
    es_fhs: FloatArray
    es_stress: FloatArray
    concentration_addon: FloatArray
    liquidity_addon: FloatArray
    im: FloatArray
    mm: FloatArray
    haircuts: FloatArray
    collateral_value: FloatArray
    excess: FloatArray
    im_units: IntArray
    mm_units: IntArray
    collateral_units: IntArray
    excess_units: IntArray
    unrepresentable: tuple[int, ...] = ()

    def unit_error(self, member: int) -> str | None:
        """Why ``member`` has no base units, or None."""
        if member not in self.unrepresentable:
            return None
        parts = {"IM": self.im[member], "MM": self.mm[member], "collateral value": self.collateral_value[member]}
        bad = ", ".join(f"{k} {v:.6g}" for k, v in parts.items() if not np.isfinite(v) or abs(v) >= 9e12)
        return f"member row {member}: amount beyond the base-unit range (|units| < 2**63): {bad or 'overflow'}"


def _apc(config: MarginConfig) -> tuple[float, float]:
    """(stressed weight, buffer) for :func:`core_measure`."""
    if config.apc_mode is ApcMode.STRESSED_WEIGHT:
        return config.apc_weight, 0.0
    return 0.0, config.apc_weight


def core_risk(
    losses: FloatArray, n_fhs: int, config: MarginConfig, n_basis: int = 0, basis_count: int = 1
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(core, fhs, stress) of losses (..., S) under ``config`` (see :func:`core_measure`)."""
    w, b = _apc(config)
    return core_measure(
        losses,
        n_fhs,
        var=config.measure is Measure.VAR,
        alpha=config.alpha,
        stressed_weight=w,
        buffer=b,
        n_basis=n_basis,
        basis_count=basis_count,
    )


def build_model(scenarios: ScenarioSet, universe: Universe, config: MarginConfig) -> RiskModel:
    """Pre-compute the horizon-scaled scenario matrix and per-instrument constants for ``universe``."""
    rows = scenarios.rows([x.factor for x in universe.instruments])
    h = universe.horizons()
    both = np.concatenate([scenarios.fhs, scenarios.stress], axis=1)[rows]  # (I, S)
    returns = np.ascontiguousarray(both * np.sqrt(h)[:, None])
    n_fhs = scenarios.fhs.shape[1]
    nb, kb = scenarios.n_basis, scenarios.basis_count
    es_long = core_risk(-returns, n_fhs, config, nb, kb)[0]
    es_short = core_risk(returns, n_fhs, config, nb, kb)[0]
    adv = scenarios.depth[rows]
    hyp = None
    if scenarios.hypothetical is not None:
        hyp = np.ascontiguousarray(np.maximum(scenarios.hypothetical[rows], -1.0))
    return RiskModel(
        universe=universe,
        returns=returns,
        n_fhs=n_fhs,
        es_long=es_long,
        es_short=es_short,
        sigma=scenarios.sigma_now[rows],
        adv=adv,
        depth=config.participation * adv * h,
        stress_label=scenarios.stress_label,
        stress_names=scenarios.stress_names,
        n_basis=nb,
        basis_count=kb,
        hypothetical=hyp,
        hypothetical_names=scenarios.hypothetical_names if hyp is not None else (),
    )


def _check(positions: FloatArray, prices: FloatArray, model: RiskModel) -> None:
    i = len(model.universe)
    if positions.ndim != 2 or positions.shape[1] != i:
        raise ConfigError(f"positions must be (M, {i}), got {positions.shape}")
    if prices.shape != (i,):
        raise ConfigError(f"prices must be ({i},), got {prices.shape}")
    if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(prices)) and np.all(prices > 0)):
        raise ConfigError("positions must be finite and prices finite and > 0")


def portfolio_im(
    positions: FloatArray, prices: FloatArray, model: RiskModel, config: MarginConfig
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Core risk and add-ons before tier scaling: (core, fhs, stress, concentration, liquidity), each (M,)."""
    _check(positions, prices, model)
    exposure = positions * prices
    pnl = exposure @ model.returns  # (M, S); the tails are read from its low end, never negated
    w, b = _apc(config)
    core, fhs, stress = core_measure_pnl(
        pnl,
        model.n_fhs,
        var=config.measure is Measure.VAR,
        alpha=config.alpha,
        stressed_weight=w,
        buffer=b,
        n_basis=model.n_basis,
        basis_count=model.basis_count,
    )
    conc, liq = _addons(positions, prices, exposure, model.universe.linear_costs(), model, config)
    return core, fhs, stress, conc, liq


def _addons(
    positions: FloatArray,
    prices: FloatArray,
    exposure: FloatArray,
    half_spread: FloatArray,
    model: RiskModel,
    config: MarginConfig,
) -> tuple[FloatArray, FloatArray]:
    a = np.abs(positions)  # shared by both add-ons: one pass over (M, I)
    conc = addons.concentration_addon(positions, exposure, model.depth, model.es_long, model.es_short, a)
    liq = addons.liquidity_addon(positions, prices, half_spread, model.sigma, model.adv, config.impact_coeff, a)
    return conc, liq


def compute_margin(
    positions: FloatArray,
    prices: FloatArray,
    holdings: FloatArray,
    collateral_prices: FloatArray,
    member_tier: IntArray,
    model: RiskModel,
    haircut_model: HaircutModel,
    config: MarginConfig,
) -> MarginResult:
    """Margin every member at once.

    Args:
        positions: (M, I) net signed quantities per cleared instrument (already netted across venues).
        prices: (I,) marks of the instruments.
        holdings: (M, A) collateral quantities (≥ 0) per asset.
        collateral_prices: (A,) marks of the collateral assets in the settlement currency.
        member_tier: (M,) tier index of each member (into ``config.tiers``).
        model: from :func:`build_model`. haircut_model: from :func:`offchain.risk.haircuts.build_haircuts`.
        config: parameters.

    Returns:
        :class:`MarginResult`; float amounts and integer base units (IM/MM rounded up, collateral down).
    """
    m = positions.shape[0]
    if member_tier.shape != (m,):
        raise ConfigError(f"member_tier must be ({m},)")
    core, fhs, stress, conc, liq = portfolio_im(positions, prices, model, config)
    im = im_multipliers(config.tiers, member_tier) * (core + conc + liq)
    mm = config.mm_fraction * im
    hc, value = collateral_values(holdings, collateral_prices, haircut_model, member_tier)
    im_u, ok_im = units_per_row(im, config.decimals, up=True)
    mm_u, ok_mm = units_per_row(mm, config.decimals, up=True)
    coll_u, ok_c = units_per_row(value, config.decimals, up=False)
    bad = ~(ok_im & ok_mm & ok_c)
    im_u, mm_u, coll_u = (np.where(bad, 0, u) for u in (im_u, mm_u, coll_u))
    return MarginResult(
        es_core=core,
        es_fhs=fhs,
        es_stress=stress,
        concentration_addon=conc,
        liquidity_addon=liq,
        im=im,
        mm=mm,
        haircuts=hc,
        collateral_value=value,
        excess=value - im,
        im_units=im_u,
        mm_units=mm_u,
        collateral_units=coll_u,
        excess_units=coll_u - im_u,
        unrepresentable=tuple(int(k) for k in np.flatnonzero(bad)),
    )


def portfolio_core(
    positions: FloatArray,
    prices: FloatArray,
    holdings: FloatArray,
    collateral_prices: FloatArray,
    model: RiskModel,
    haircut_model: HaircutModel,
    config: MarginConfig,
) -> FloatArray:
    """(M,) core risk of each member's positions **and** collateral in the same scenarios (wrong-way risk).

    The holdings are long positions of their factors at their own horizons (``haircut_model.returns``,
    same columns as ``model.returns``). By subadditivity of the core measure this never exceeds the core
    of the positions plus each holding's own core, which the haircut covers: the on-chain check
    (haircut value ≥ IM) is the conservative one, and this is its audit (docs/risk.md, "Collateral").
    """
    _check(positions, prices, model)
    hr = haircut_model.returns
    if hr is None or hr.shape != (len(haircut_model.assets), model.n_scenarios):
        raise ConfigError("haircut model has no scenario returns aligned with the risk model")
    if holdings.shape != (positions.shape[0], hr.shape[0]):
        raise ConfigError(f"holdings must be ({positions.shape[0]}, {hr.shape[0]})")
    pnl = (positions * prices) @ model.returns + (holdings * collateral_prices) @ hr
    w, b = _apc(config)
    return core_measure_pnl(
        pnl,
        model.n_fhs,
        var=config.measure is Measure.VAR,
        alpha=config.alpha,
        stressed_weight=w,
        buffer=b,
        n_basis=model.n_basis,
        basis_count=model.basis_count,
    )[0]


class MarginBook:
    """Positions and scenario P&L of all members, for O(S) re-margining of one member after a fill.

    Holds ``positions`` (M, I) and ``pnl`` (M, S) = ``(positions * prices) @ model.returns`` at fixed
    marks; :meth:`apply_fill` updates one row in place (``pnl[m] += dq * price_i * R[i]``) and returns
    that member's pre-tier IM. A new batch of marks calls for a full :func:`compute_margin`.
    """

    def __init__(self, positions: FloatArray, prices: FloatArray, model: RiskModel, config: MarginConfig):
        _check(positions, prices, model)
        self.model = model
        self.config = config
        self.prices = prices.copy()
        self.positions = positions.astype(np.float64, copy=True)
        self.pnl = (self.positions * self.prices) @ model.returns
        self._w, self._b = _apc(config)
        self._half_spread = model.universe.linear_costs()

    def apply_fill(self, member: int, instrument: int, quantity: float) -> float:
        """Add ``quantity`` of ``instrument`` to ``member``; return its IM before tier scaling."""
        price = float(self.prices[instrument])
        self.positions[member, instrument] += quantity
        self.pnl[member] += (quantity * price) * self.model.returns[instrument]
        return self.member_im(member)

    def member_im(self, member: int) -> float:
        """Core risk + add-ons of one member (before tier scaling)."""
        q = self.positions[member : member + 1]
        core = core_measure_pnl(
            self.pnl[member : member + 1],
            self.model.n_fhs,
            var=self.config.measure is Measure.VAR,
            alpha=self.config.alpha,
            stressed_weight=self._w,
            buffer=self._b,
            n_basis=self.model.n_basis,
            basis_count=self.model.basis_count,
            threads=1,
        )[0][0]
        conc, liq = _addons(q, self.prices, q * self.prices, self._half_spread, self.model, self.config)
        return float(core) + float(conc[0]) + float(liq[0])
