"""Back-test of the core initial margin over real history.

For every test day ``t`` (a close), the scenario set is rebuilt from history up to ``t`` only (look-back,
EWMA forecast, stressed periods that ended before ``t``), the core IM of each test portfolio is computed
at a one-day horizon, and compared with the portfolio's realised P&L from ``t`` to ``t + 1``. A loss larger
than IM is an exceedance. One-day windows do not overlap, so exceedances of a correct model are
independent Bernoulli(p) draws with ``p = 1 - coverage`` and the two classic tests apply:

* Kupiec (1995) proportion of failures: LR_POF ~ chi2(1) under H0 "exceedance rate = p".
* Christoffersen (1998) independence: LR_IND ~ chi2(1) under H0 "exceedances are not clustered".

A row passes when neither test rejects at 95 % confidence (p-value ≥ 0.05). Even a correct model fails
a row at some rate (:func:`correct_model_pass_rate`; about 7 % at 546 days and p = 1 %), which the
command reports beside the count of failing rows.

Beside them, an **ES-magnitude test** (McNeil & Frey 2000, in the ratio form of Acerbi & Székely 2014's
Z1): on the days the loss exceeds the VaR at the ES level (97.5 %), the loss divided by the predicted ES
should be 1 on average if the ES is right; a one-sided t-test of H0 "mean ratio ≤ 1" (p < 0.05: the ES
understates the tail's size) is reported as ``es_p`` (needs at least 5 tail days; otherwise 1.0).

Robustness: a portfolio with no test day is reported (``observations == 0`` and a note), not fatal; a
portfolio that has entered the test keeps being tested when one of its series stops (a delisting): that
leg is dropped from its IM and P&L from that day, with a note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from offchain.risk.config import MarginConfig, Measure
from offchain.risk.errors import ConfigError, MarketDataError
from offchain.risk.margin import core_risk
from offchain.risk.marketdata import PriceHistory
from offchain.risk.risecap import rise_capped
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
    es_ratio: float = math.nan  # mean loss / ES on the days the loss exceeded VaR at the ES level
    es_p: float = 1.0  # one-sided p-value of H0 "ES not understated" (mean ratio <= 1)
    es_tail_days: int = 0
    note: str = ""

    @property
    def tested(self) -> bool:
        return self.observations > 0

    @property
    def es_passed(self) -> bool:
        return self.es_p >= 0.05


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


def es_ratio_test(losses: FloatArray, var: FloatArray, es: FloatArray) -> tuple[float, float, int]:
    """(mean ratio, one-sided p-value, tail days) of ``loss / ES`` on the days ``loss > VaR``."""
    tail = (losses > var) & (es > 0)
    n = int(tail.sum())
    if n == 0:
        return math.nan, 1.0, 0
    ratio = losses[tail] / es[tail]
    mean = float(ratio.mean())
    if n < 5:
        return mean, 1.0, n
    sd = float(ratio.std(ddof=1))
    if sd == 0:
        return mean, 0.0 if mean > 1 else 1.0, n
    z = (mean - 1.0) / (sd / math.sqrt(n))
    return mean, 0.5 * math.erfc(z / math.sqrt(2.0)), n


def kupiec_pass_probability(observations: int, p: float) -> float:
    """Exact probability that a **correct** model (exceedances Binomial(n, p)) passes Kupiec at 95 %."""
    n = observations
    if n <= 0 or not 0 < p < 1:
        raise ConfigError("need observations > 0 and 0 < p < 1")
    log_pmf = [
        math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1) + _xlogy(x, p) + _xlogy(n - x, 1 - p)
        for x in range(n + 1)
    ]
    return float(sum(math.exp(lp) for x, lp in enumerate(log_pmf) if kupiec_pof(x, n, p) >= 0.05))


def correct_model_pass_rate(observations: int, p: float, sims: int = 4_000, seed: int = 0) -> float:
    """Probability that a **correct** model (i.i.d. Bernoulli(p) hits) passes both Kupiec and
    Christoffersen at 95 % on ``observations`` days, by simulation (seeded, reproducible).

    Why: a row-by-row verdict needs its base rate. At n = 546 and p = 1 % a correct model passes a row only
    about 93 % of the time, so over 52 independent rows it is expected to fail 3-4 of them and passes all
    with probability about 2 %; a failing row or two is evidence against the model only beyond that."""
    if sims < 1:
        raise ConfigError("sims must be >= 1")
    rng = np.random.default_rng(seed)
    hits = rng.random((sims, observations)) < p
    passed = 0
    for h in hits:  # sims rows of a cheap O(n) test: no vector form of the two likelihood ratios
        passed += kupiec_pof(int(h.sum()), observations, p) >= 0.05 and christoffersen_ind(h) >= 0.05
    return passed / sims


@dataclass(frozen=True)
class MarginPaths:
    """Daily core IM and VaR of every portfolio on the test days (``first <= t < last``).

    im, var: (D, P), NaN on days a portfolio is not tested. realised: (D, F) next-day returns of the
    factors; weights: (P, F). dropped: per portfolio, factor -> the day it was dropped (delisted).
    """

    first: int
    last: int
    im: FloatArray
    var: FloatArray
    realised: FloatArray
    weights: FloatArray
    dropped: dict[int, dict[str, str]]
    stress: FloatArray | None = None  # (D, P) the stressed-period part of each day's IM (the rise cap's floor)


def margin_paths(
    history: PriceHistory,
    portfolios: Sequence[Portfolio],
    proxies: Mapping[str, str | None],
    *,
    start: np.datetime64,
    end: np.datetime64 | None = None,
    scenario_config: ScenarioConfig | None = None,
    margin_config: MarginConfig | None = None,
) -> MarginPaths:
    """The IM each portfolio would have been charged every day, from history up to that day only."""
    sc = scenario_config or ScenarioConfig()
    mc = margin_config or MarginConfig()
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
    var = np.full_like(im, np.nan)
    stress = np.full_like(im, np.nan)
    vc = replace(mc, measure=Measure.VAR)
    held = weights != 0
    closes = np.isfinite(history.close[:, cols])
    last_close = np.where(closes.any(axis=0), len(dates) - 1 - np.argmax(closes[::-1], axis=0), -1)  # (F,)
    dropped: dict[int, dict[str, str]] = {k: {} for k in range(len(portfolios))}
    for d in range(n_days):
        t = first + d
        listed = np.isfinite(filt.sigma[t, cols]) & np.isfinite(realised[d])
        full = np.all(listed[None, :] | ~held, axis=1)
        # A leg whose series has ended (delisted: no close after this day) is dropped; a portfolio waits
        # only for legs not listed yet, and is tested while any leg has a price.
        gone = last_close <= t
        active = np.all(listed[None, :] | ~held | gone[None, :], axis=1) & np.any(listed[None, :] & held, axis=1)
        if not active.any():
            continue
        for row in np.flatnonzero(active & ~full):
            for j in np.flatnonzero(held[row] & ~listed):
                dropped[int(row)].setdefault(factors[j], str(dates[t]))
        sset = build_scenarios(filt, t, [factors[k] for k in np.flatnonzero(listed)], sc)
        w = weights[active][:, listed]
        losses = -(w @ np.concatenate([sset.fhs, sset.stress], axis=1))
        n1, nb, kb = sset.fhs.shape[1], sset.n_basis, sset.basis_count
        im[d, active], _, stress[d, active] = core_risk(losses, n1, mc, nb, kb)
        var[d, active] = core_risk(losses, n1, vc, nb, kb)[0]
    return MarginPaths(first, last, im, var, realised, weights, dropped, stress)


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
    if not 0.5 < coverage < 1:
        raise ConfigError("coverage must be in (0.5, 1)")
    paths = margin_paths(
        history, portfolios, proxies, start=start, end=end, scenario_config=scenario_config, margin_config=margin_config
    )
    im, var, realised, weights, dropped = paths.im, paths.var, paths.realised, paths.weights, paths.dropped
    dates, first, last = history.dates, paths.first, paths.last
    pnl = np.nan_to_num(realised) @ weights.T  # (D, P); a dropped leg's missing return counts 0
    rows: list[BacktestRow] = []
    hits_out: dict[str, NDArray[np.bool_]] = {}
    for k, p in enumerate(portfolios):
        ok = np.isfinite(im[:, k])
        hits = (-pnl[ok, k]) > im[ok, k]
        n, x = int(ok.sum()), int(hits.sum())
        hits_out[p.name] = hits
        if n == 0:
            rows.append(
                BacktestRow(
                    p.name,
                    0,
                    0,
                    0.0,
                    math.nan,
                    math.nan,
                    math.nan,
                    False,
                    note=_no_days(p, history, dates[first], dates[last]),
                )
            )
            continue
        kp = kupiec_pof(x, n, 1 - coverage)
        cp = christoffersen_ind(hits)
        ratio, es_p, tail = es_ratio_test(-pnl[ok, k], var[ok, k], im[ok, k])
        note = "; ".join(f"{f} dropped from {day} (no price)" for f, day in dropped[k].items())
        rows.append(
            BacktestRow(
                p.name,
                n,
                x,
                n * (1 - coverage),
                kp,
                cp,
                float(im[ok, k].mean()),
                kp >= 0.05 and cp >= 0.05,
                ratio,
                es_p,
                tail,
                note,
            )
        )
    return rows, hits_out


def _no_days(p: Portfolio, history: PriceHistory, first: np.datetime64, last: np.datetime64) -> str:
    spans = []
    for f in p.notionals:
        c = history.close[:, history.index(f)]
        have = np.flatnonzero(np.isfinite(c))
        spans.append(f"{f} {history.dates[have[0]]} → {history.dates[have[-1]]}" if have.size else f"{f} no prices")
    return f"no test day in {first} → {last} with prices and a look-back ({'; '.join(spans)})"


def member_portfolio(name: str, positions: Sequence[tuple[str, float]], symbols: Sequence[str]) -> Portfolio:
    """A member's book as a test portfolio: USD notionals per cleared instrument (netted across venues),
    mapped onto price series (``X-USD-PERP`` → ``X-PERP`` where the data has it, else ``X``; spot ``X`` →
    ``X``) and scaled to USD 1 of gross notional so rows compare with the standard ones."""
    have = set(symbols)
    net: dict[str, float] = {}
    for instrument, usd in positions:
        base = instrument.removesuffix("-USD-PERP")
        series = f"{base}-PERP" if instrument.endswith("-USD-PERP") and f"{base}-PERP" in have else base
        if series not in have:
            raise MarketDataError(f"member {name}: no price series for {instrument} (looked for {series})")
        net[series] = net.get(series, 0.0) + usd
    gross = sum(abs(v) for v in net.values())
    if gross == 0:
        raise ConfigError(f"member {name}: flat book, nothing to test")
    return Portfolio(f"member {name}", {k: v / gross for k, v in sorted(net.items()) if v != 0})


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


#: The crashes in the shipped data (each window: the stressed month and the week after).
CRASHES: tuple[tuple[str, str, str], ...] = (
    ("COVID, Mar 2020", "2020-03-01", "2020-04-07"),
    ("China ban, May 2021", "2021-05-01", "2021-06-07"),
    ("LUNA/UST, May 2022", "2022-05-01", "2022-06-07"),
    ("FTX, Nov 2022", "2022-11-01", "2022-12-07"),
)


@dataclass(frozen=True)
class ImRise:
    """Largest rise of a portfolio's IM within a window: over one day and over five days (ratios)."""

    window: str
    portfolio: str
    rise_1d: float
    day_1d: str
    rise_5d: float
    day_5d: str


def im_rises(im: FloatArray, dates: NDArray[np.datetime64], name: str, portfolio: str) -> ImRise:
    """The largest ``im[t] / im[t-1]`` and ``im[t] / im[t-5]`` of one IM path (T,) (NaN days skipped)."""
    best = [(math.nan, ""), (math.nan, "")]
    for k, lag in enumerate((1, 5)):
        if len(im) <= lag:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = im[lag:] / im[:-lag]
        ratio = np.where(np.isfinite(ratio) & (im[:-lag] > 0), ratio, np.nan)
        if np.isfinite(ratio).any():
            j = int(np.nanargmax(ratio))
            best[k] = (float(ratio[j]), str(dates[j + lag]))
    return ImRise(name, portfolio, best[0][0], best[0][1], best[1][0], best[1][1])


def _capped(im: FloatArray, stress: FloatArray, max_daily_rise: float) -> FloatArray:
    """The rise-capped posted path of one IM path with NaN days (not tested) kept NaN."""
    ok = np.isfinite(im) & np.isfinite(stress)
    out = np.full_like(im, np.nan)
    out[ok] = rise_capped(im[ok], np.minimum(stress[ok], im[ok]), max_daily_rise)
    return out


def procyclicality(
    history: PriceHistory,
    portfolios: Sequence[Portfolio],
    proxies: Mapping[str, str | None],
    scenario_config: ScenarioConfig | None = None,
    margin_config: MarginConfig | None = None,
    crashes: Sequence[tuple[str, str, str]] = CRASHES,
    max_daily_rise: float | None = None,
) -> list[ImRise]:
    """Per crash window, each portfolio's largest 1-day and 5-day rise of the daily IM (no look-ahead);
    with ``max_daily_rise``, of the posted IM under the rise cap (:func:`offchain.risk.risecap.rise_capped`,
    floor: the stressed-period measure, never above the model IM)."""
    out: list[ImRise] = []
    for name, start, end in crashes:
        paths = margin_paths(
            history,
            portfolios,
            proxies,
            start=np.datetime64(start) - np.timedelta64(5, "D"),
            end=np.datetime64(end),
            scenario_config=scenario_config,
            margin_config=margin_config,
        )
        dates = history.dates[paths.first : paths.first + paths.im.shape[0]]
        for k, p in enumerate(portfolios):
            if np.isfinite(paths.im[:, k]).sum() > 5:
                path = paths.im[:, k]
                if max_daily_rise is not None and paths.stress is not None:
                    path = _capped(path, paths.stress[:, k], max_daily_rise)
                out.append(im_rises(path, dates, name, p.name))
    return out
