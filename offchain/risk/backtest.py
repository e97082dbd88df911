"""Back-test of the core initial margin over real history.

For every test day ``t`` (a close), the scenario set is rebuilt from history up to ``t`` only (look-back,
EWMA forecast, stressed periods that ended before ``t``), the core IM of each test portfolio is computed
at a one-day horizon, and compared with the portfolio's realised P&L from ``t`` to ``t + 1``. A loss larger
than IM is an exceedance. One-day windows do not overlap, so exceedances of a correct model are
independent Bernoulli(p) draws with ``p = 1 - coverage`` and the two classic tests apply:

* Kupiec (1995) proportion of failures: LR_POF ~ chi2(1) under H0 "exceedance rate = p".
* Christoffersen (1998) independence: LR_IND ~ chi2(1) under H0 "exceedances are not clustered".

A row passes when neither test rejects at 95 % confidence (p-value ≥ 0.05).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.risk.config import MarginConfig
from offchain.risk.errors import ConfigError, MarketDataError
from offchain.risk.margin import core_risk
from offchain.risk.marketdata import PriceHistory
from offchain.risk.scenarios import ScenarioConfig, build_scenarios, filter_history

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Portfolio:
    """A test portfolio: USD notional per price series (negative = short), held constant every day."""

    name: str
    notionals: Mapping[str, float]


@dataclass(frozen=True)
class BacktestRow:
    """Result of one portfolio."""

    name: str
    observations: int
    exceedances: int
    expected: float
    kupiec_p: float
    christoffersen_p: float
    mean_im: float
    passed: bool


def chi2_1_sf(x: float) -> float:
    """Survival function of the chi-square distribution with one degree of freedom."""
    return math.erfc(math.sqrt(max(x, 0.0) / 2.0))


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


def kupiec_pof(exceedances: int, observations: int, p: float) -> float:
    """p-value of Kupiec's proportion-of-failures test of H0: exceedance probability = ``p``."""
    n, x = observations, exceedances
    if n <= 0 or not 0 <= x <= n or not 0 < p < 1:
        raise ConfigError("need 0 <= exceedances <= observations, observations > 0, 0 < p < 1")
    phat = x / n
    ll0 = _xlogy(n - x, 1 - p) + _xlogy(x, p)
    ll1 = _xlogy(n - x, 1 - phat) + _xlogy(x, phat)
    return chi2_1_sf(-2.0 * (ll0 - ll1))


def christoffersen_ind(hits: NDArray[np.bool_]) -> float:
    """p-value of Christoffersen's independence test on a hit sequence (True = exceedance)."""
    h = hits.astype(np.int64)
    if h.size < 2:
        return 1.0
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum((prev == 0) & (cur == 0)))
    n01 = int(np.sum((prev == 0) & (cur == 1)))
    n10 = int(np.sum((prev == 1) & (cur == 0)))
    n11 = int(np.sum((prev == 1) & (cur == 1)))
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    ll0 = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    ll1 = _xlogy(n00, 1 - pi0) + _xlogy(n01, pi0) + _xlogy(n10, 1 - pi1) + _xlogy(n11, pi1)
    return chi2_1_sf(-2.0 * (ll0 - ll1))


def run_backtest(
    history: PriceHistory,
    portfolios: Sequence[Portfolio],
    proxies: Mapping[str, str | None],
    *,
    start: np.datetime64,
    end: np.datetime64 | None = None,
    scenario_config: ScenarioConfig | None = None,
    margin_config: MarginConfig | None = None,
    coverage: float = 0.99,
) -> tuple[list[BacktestRow], dict[str, NDArray[np.bool_]]]:
    """Back-test every portfolio on the days ``start <= t < end`` (P&L from t to the next close).

    A portfolio enters the test on the first day all its series have a price and a look-back. Returns
    the rows and each portfolio's hit sequence.
    """
    sc = scenario_config or ScenarioConfig()
    mc = margin_config or MarginConfig()
    if not 0.5 < coverage < 1:
        raise ConfigError("coverage must be in (0.5, 1)")
    factors = sorted({f for p in portfolios for f in p.notionals})
    for f in factors:
        history.index(f)
    filt = filter_history(history, proxies, sc)
    cols = np.array([history.index(f) for f in factors])
    weights = np.array([[p.notionals.get(f, 0.0) for f in factors] for p in portfolios])  # (P, F)
    dates = history.dates
    last = len(dates) - 1 if end is None else int(np.searchsorted(dates, end.astype("datetime64[D]")))
    first = int(np.searchsorted(dates, start.astype("datetime64[D]")))
    first = max(first, sc.lookback_days + sc.ewma_seed + 1)
    if first >= min(last, len(dates) - 1):
        raise MarketDataError("back-test window is empty (or has no look-back before it)")
    realised = filt.returns[first + 1 : last + 1][:, cols]  # (D, F) next-day returns
    n_days = realised.shape[0]
    im = np.full((n_days, len(portfolios)), np.nan)
    for d in range(n_days):
        t = first + d
        listed = np.isfinite(filt.sigma[t, cols]) & np.isfinite(realised[d])
        active = np.all(listed[None, :] | (weights == 0), axis=1)
        if not active.any():
            continue
        sset = build_scenarios(filt, t, [factors[k] for k in np.flatnonzero(listed)], sc)
        w = weights[active][:, listed]
        r_all = np.concatenate([sset.fhs, sset.stress], axis=1)
        im[d, active] = core_risk(-(w @ r_all), sset.fhs.shape[1], mc, sset.n_basis, sset.basis_count)[0]
    pnl = np.nan_to_num(realised) @ weights.T  # (D, P)
    rows: list[BacktestRow] = []
    hits_out: dict[str, NDArray[np.bool_]] = {}
    for k, p in enumerate(portfolios):
        ok = np.isfinite(im[:, k])
        hits = (-pnl[ok, k]) > im[ok, k]
        n, x = int(ok.sum()), int(hits.sum())
        if n == 0:
            raise MarketDataError(f"portfolio {p.name}: no test day with prices")
        kp = kupiec_pof(x, n, 1 - coverage)
        cp = christoffersen_ind(hits)
        rows.append(
            BacktestRow(p.name, n, x, n * (1 - coverage), kp, cp, float(im[ok, k].mean()), kp >= 0.05 and cp >= 0.05)
        )
        hits_out[p.name] = hits
    return rows, hits_out


def default_proxies(symbols: Sequence[str]) -> dict[str, str | None]:
    """Proxy of each series for look-back days before it was listed: ``X-PERP`` → ``X``, others → BTC."""
    out: dict[str, str | None] = {s: "BTC" for s in symbols if s != "BTC"}
    spot = set(symbols)
    out.update({s: s.removesuffix("-PERP") for s in symbols if s.endswith("-PERP") and s.removesuffix("-PERP") in spot})
    return out


def standard_portfolios(symbols: Sequence[str]) -> list[Portfolio]:
    """Every series long and short, plus the cross-venue portfolios the data allows (USD 1 per leg).

    Basis trades (spot on a CEX against the perp on a DEX), a half-hedged perp, a BTC/ETH pair, and two
    market-maker books (all spot with mixed signs; perps against alts).
    """
    have = set(symbols)
    spot = [s for s in symbols if not s.endswith("-PERP")]
    out: list[Portfolio] = []
    for s in [*spot, *(s for s in symbols if s.endswith("-PERP"))]:
        out += [Portfolio(f"{s} long", {s: 1.0}), Portfolio(f"{s} short", {s: -1.0})]
    if {"BTC", "BTC-PERP"} <= have:
        out += [
            Portfolio("basis BTC: long spot (CEX) / short perp (DEX)", {"BTC": 1.0, "BTC-PERP": -1.0}),
            Portfolio("BTC perp long DEX, half hedged short spot OTC", {"BTC-PERP": 1.0, "BTC": -0.5}),
        ]
    if {"ETH", "ETH-PERP"} <= have:
        out.append(Portfolio("basis ETH: short spot / long perp", {"ETH": -1.0, "ETH-PERP": 1.0}))
    if {"BTC", "ETH"} <= have:
        out.append(Portfolio("pair: long BTC / short ETH", {"BTC": 1.0, "ETH": -1.0}))
    if len(spot) > 2:
        weights = np.tile([0.3, -0.2, 0.15, -0.25, 0.1], len(spot))
        out.append(Portfolio("market-maker book (all spot, mixed)", dict(zip(spot, weights.tolist(), strict=False))))
    mm = {"BTC-PERP": -0.5, "ETH-PERP": -0.3, "SOL": 0.2, "BNB": 0.3, "XRP": 0.2, "ADA": 0.1}
    if set(mm) <= have:
        out.append(Portfolio("market-maker book (perps vs alts)", mm))
    return out
