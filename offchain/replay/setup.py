"""The initial state shared by both policies: quantities, capital, reserves, default fund, insurance funds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.replay.config import ReplayConfig, bracket_mm
from offchain.replay.market import Market
from offchain.replay.population import Population
from offchain.risk.errors import ConfigError
from offchain.risk.instruments import net_positions
from offchain.risk.margin import compute_margin
from offchain.risk.platform import CollateralStress, cover2, stress_losses
from offchain.risk.tiers import df_multipliers

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Setup:
    """Initial state (M members, I instruments, V venues, A collateral assets; asset 0 is USDC).

    qv: (V, M, I) quantities per venue. holdings: (M, A) collateral quantities (all of ``capital``).
    capital, reserve (USD), response_hours: (M,). bidder: (M,) bool. tier: (M,) int.
    cc_im0: (M,) crossclear IM at the first step. venue_im0: (V, M) venue-only initial margins.
    contributions: (M,) Cover-2 default-fund contributions; default_fund: their sum's target size;
    operator_capital: L3. insurance0: (V,) initial insurance funds.
    """

    market: Market
    population: Population
    config: ReplayConfig
    qv: FloatArray
    holdings: FloatArray
    capital: FloatArray
    reserve: FloatArray
    response_hours: FloatArray
    bidder: NDArray[np.bool_]
    tier: IntArray
    cc_im0: FloatArray
    venue_im0: FloatArray
    contributions: FloatArray
    default_fund: float
    operator_capital: float
    insurance0: FloatArray

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.population.members)

    @property
    def q0(self) -> FloatArray:
        return np.asarray(self.qv.sum(axis=0), dtype=np.float64)


def venue_mm(qv: FloatArray, prices: FloatArray, config: ReplayConfig) -> FloatArray:
    """(..., I) quantities → (...) venue maintenance margin: brackets per position, summed over instruments."""
    return np.asarray(bracket_mm(qv * prices, config.mmr_brackets).sum(axis=-1), dtype=np.float64)


def build_setup(market: Market, population: Population, config: ReplayConfig) -> Setup:
    members = population.members
    m_n, i_n, v_n = len(members), len(market.universe), len(population.venues)
    a_names = [a.name for a in market.assets]
    p0 = market.prices(0)
    cp0 = market.collateral_prices(0)
    qv = np.zeros((v_n, m_n, i_n))
    for m, spec in enumerate(members):
        for pos in spec.positions:
            i = market.universe.index(pos.instrument)
            qv[population.venue_index(pos.venue), m, i] += pos.notional / p0[i]
    tier = np.array([s.tier for s in members], dtype=np.int64)
    if tier.max() >= len(market.margin_config.tiers):
        raise ConfigError(f"tier index must be < {len(market.margin_config.tiers)}")
    dm = market.model_for(0)
    q = qv.sum(axis=0)
    # IM of the positions alone (collateral valued per unit of each asset below).
    unit = np.zeros((m_n, len(a_names)))
    col = np.array([a_names.index(s.collateral_asset) for s in members], dtype=np.int64)
    unit[np.arange(m_n), col] = 1.0
    r = compute_margin(q, p0, unit, cp0, tier, dm.model, dm.haircuts, market.margin_config)
    venue_im = config.im_to_mm * venue_mm(qv, p0, config)  # (V, M)
    capital = np.zeros(m_n)
    for m, spec in enumerate(members):
        if spec.capital is not None:
            capital[m] = spec.capital
        else:
            assert spec.cushion is not None
            capital[m] = spec.cushion * max(float(r.im[m]), float(venue_im[:, m].sum()))
    # Collateral quantity: capital at the first step's price; the haircut scales what it is worth.
    holdings = unit * (capital / cp0[col])[:, None]
    reserve = np.array([s.reserve for s in members]) * capital
    # Cover 2 from the risk engine's stressed scenarios at the first step.
    # ... with each member's collateral falling in the same scenarios (wrong-way), beyond its haircut.
    losses = stress_losses(q, p0, dm.model, CollateralStress.of(holdings, cp0, dm.haircuts, tier)).by_scenario
    if losses.shape[1] == 0:
        contrib = np.zeros(m_n)
        fund = 0.0
    else:
        df = cover2(losses, r.im, df_multipliers(market.margin_config.tiers, tier), market.margin_config.decimals)
        contrib, fund = df.contributions, df.size
    oi = np.abs(qv * p0).sum(axis=(1, 2))
    insurance0 = np.array([v.insurance_fund for v in population.venues]) * oi
    return Setup(
        market=market,
        population=population,
        config=config,
        qv=qv,
        holdings=holdings,
        capital=capital,
        reserve=reserve,
        response_hours=np.array([s.response_hours for s in members], dtype=np.float64),
        bidder=np.array([s.bidder for s in members], dtype=bool),
        tier=tier,
        cc_im0=np.asarray(r.im, dtype=np.float64),
        venue_im0=venue_im,
        contributions=np.asarray(contrib, dtype=np.float64),
        default_fund=float(fund),
        operator_capital=config.operator_share * float(fund),
        insurance0=insurance0,
    )


def net(qv: FloatArray) -> FloatArray:
    """(V, M, I) → (M, I) net across venues (the risk engine's :func:`net_positions` on the flat rows)."""
    v_n, m_n, i_n = qv.shape
    mm, ii = np.meshgrid(np.arange(m_n), np.arange(i_n), indexing="ij")
    members = np.tile(mm.ravel(), v_n).astype(np.int64)
    inst = np.tile(ii.ravel(), v_n).astype(np.int64)
    return net_positions(m_n, members, inst, qv.reshape(-1), i_n)
