"""Scenario set: filtered historical simulation (FHS) plus stressed periods.

FHS (Barone-Adesi et al.): each factor's daily return is standardised by the EWMA volatility forecast of
its day, ``z[t] = r[t] / sigma[t]``, and rescaled by today's forecast, ``scenario = z[t] * sigma_now``.
Standardising per factor keeps the joint (cross-factor) shape of each historical day, so offsets between
instruments come from the scenarios alone. A factor without history on a look-back day takes its proxy's
standardised return (``z`` of BTC for an alt listed later, ``z`` of spot for a perp before perps existed).

Stressed scenarios are the raw (unfiltered) daily returns of the stressed periods that *ended before* the
as-of date (no look-ahead in back-tests), optionally mirrored (sign-flipped) so short books are stressed
too. A factor not listed during a period takes its proxy's return scaled by the ratio of their long-run
volatilities.

The stressed set also holds a **basis-dislocation block** for the perpetual-vs-spot basis (the calendar
periods were chosen for price moves, not for the basis): for every basis-filtered factor of the set, the
``basis_stress_days`` (N) days with the largest ``|r[X-PERP] - r[X]|`` over all history up to the as-of close;
on each selected day every basis factor takes its raw basis return of that day and every other factor 0
(a pure basis shock), mirrored too. Its measure is the mean of its N worst losses, and the stressed
component is the larger of that and the periods' ES (:func:`offchain.risk.measures.core_measure`).

Hypothetical scenarios (:mod:`offchain.risk.hypothetical`: one-asset and market-wide crash/squeeze moves by
asset class, perpetual basis blow-out) are carried alongside (``ScenarioSet.hypothetical``) for the platform
stress losses and the Cover-2 default fund only; they never enter the margin measure.

Anti-procyclicality (EMIR Art. 28(1)) is applied in :mod:`offchain.risk.margin` from the two blocks:
``STRESSED_WEIGHT`` (default, 28(1)(b)) or ``BUFFER`` (28(1)(a)); see :class:`ApcMode`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError, MarketDataError
from offchain.risk.hypothetical import HypotheticalConfig, hypothetical_scenarios
from offchain.risk.marketdata import PriceHistory, ewma_sigma, simple_returns

FloatArray = NDArray[np.float64]

#: The four named crashes of the shipped data (COVID, May 2021, LUNA/UST, FTX): all four are chosen by
#: the data rule (:func:`stress_months`); kept for tests and reports that want exactly these.
STRESS_PERIODS: tuple[tuple[str, str, str], ...] = (
    ("2020-03", "2020-03-01", "2020-03-31"),
    ("2021-05", "2021-05-01", "2021-05-31"),
    ("2022-05", "2022-05-01", "2022-05-31"),
    ("2022-11", "2022-11-01", "2022-11-30"),
)


class ApcMode(enum.Enum):
    """Anti-procyclicality tool (EMIR RTS 153/2013 Art. 28(1)).

    ``STRESSED_WEIGHT``: core = (1 - w) · ES(FHS) + w · ES(stressed), w ≥ 0.25 — the stressed observations
    carry weight w whatever today's volatility; a convex mix of two coherent measures stays coherent.
    ``BUFFER``: core = (1 + b) · ES(FHS), b ≥ 0.25 — a buffer that may be released in stress.
    """

    STRESSED_WEIGHT = "stressed_weight"
    BUFFER = "buffer"


@dataclass(frozen=True)
class ScenarioConfig:
    """Parameters of the scenario set (defaults are the documented production values, see docs/risk.md).

    Attributes:
        lookback_days: FHS look-back (number of one-day scenarios S1).
        ewma_lambda: decay of the slow EWMA volatility.
        ewma_lambda_fast: decay of a fast EWMA; the filtering volatility is ``max(slow, fast)`` (reacts
            to a volatility jump within a day or two, decays at the slow rate). ``None``: slow only.
        ewma_seed: returns averaged to seed each EWMA.
        min_scale, max_scale: the FHS rescaling ratio ``sigma_now / sigma[t]`` is clipped to this range.
        basis_filter: a perpetual series ``X-PERP`` whose spot ``X`` is in the history is filtered as
            ``X`` plus a basis return ``r[X-PERP] - r[X]`` standardised by its own volatility.
        basis_rescale: rescale the basis by its volatility ratio (False: raw historical basis moves).
        basis_min_scale: floor of the basis rescaling ratio (1: a past basis spike is never shrunk).
        stress_periods: fixed stressed periods ``(name, first day, last day)``; ``None`` (default): chosen
            from the data by :func:`stress_months` at every scenario build (every recalibration reviews
            them): the calendar months, ended before the as-of date, in which ``stress_reference`` fell by
            ``stress_drawdown`` or more from a close (the month's or the previous month's last) to a later
            close of the month.
        basis_stress_days: N, the largest basis dislocations per perpetual in the stressed set (and the
            tail count of their measure); 0: no basis-dislocation block.
        hypothetical: the hypothetical stress scenarios for the default fund (``None``: none).
    """

    lookback_days: int = 365
    ewma_lambda: float = 0.94
    ewma_lambda_fast: float | None = 0.75
    ewma_seed: int = 20
    stress_periods: tuple[tuple[str, str, str], ...] | None = None
    stress_reference: str = "BTC"
    stress_drawdown: float = 0.25
    mirror_stress: bool = True
    depth_window: int = 30
    min_scale: float = 0.0
    max_scale: float = 3.0
    basis_filter: bool = True
    basis_rescale: bool = True
    basis_min_scale: float = 1.0
    basis_stress_days: int = 5
    hypothetical: HypotheticalConfig | None = field(default_factory=HypotheticalConfig)

    def __post_init__(self) -> None:
        if self.lookback_days < 30:
            raise ConfigError("lookback_days must be >= 30")
        if self.depth_window < 1:
            raise ConfigError("depth_window must be >= 1")
        for lam in (self.ewma_lambda, self.ewma_lambda_fast):
            if lam is not None and not 0.0 < lam < 1.0:
                raise ConfigError("EWMA lambdas must be in (0, 1)")
        if not 0.0 <= self.min_scale <= 1.0 <= self.max_scale:
            raise ConfigError("need 0 <= min_scale <= 1 <= max_scale")
        if self.basis_stress_days < 0:
            raise ConfigError("basis_stress_days must be >= 0")
        if not 0 < self.stress_drawdown < 1:
            raise ConfigError("stress_drawdown must be in (0, 1)")


@dataclass(frozen=True)
class ScenarioSet:
    """Scenario returns of F factors as of one date.

    Attributes:
        asof: the close the scenarios are conditioned on.
        factors: F factor names (columns of the price history).
        fhs: (F, S1) one-day simple returns, filtered and rescaled to today's volatility.
        stress: (F, S2) one-day simple returns of the stressed periods (S2 may be 0), then (last
            ``n_basis`` columns) the basis-dislocation block.
        stress_label: (S2,) index into ``stress_names`` of each stressed scenario.
        stress_names: the stressed periods used (mirrored ones suffixed ``"-mirror"``), then
            ``"basis-dislocations"`` (and its mirror) if the block is present.
        sigma_now: (F,) one-day EWMA volatility forecast for the next day.
        depth: (F,) market depth: mean daily traded base quantity over ``depth_window`` days.
        price: (F,) close at ``asof``.
        n_basis: columns of the basis-dislocation block at the end of ``stress`` (0: none).
        basis_count: tail count of the block's measure (mean of its ``basis_count`` worst losses).
        hypothetical: (F, H) moves of the hypothetical scenarios over the liquidation horizon (not in the
            margin measure; stress losses and Cover 2 only). hypothetical_names: their H names.
    """

    asof: np.datetime64
    factors: tuple[str, ...]
    fhs: FloatArray
    stress: FloatArray
    stress_label: NDArray[np.int64]
    stress_names: tuple[str, ...]
    sigma_now: FloatArray
    depth: FloatArray
    price: FloatArray = field(repr=False)
    n_basis: int = 0
    basis_count: int = 1
    hypothetical: FloatArray | None = field(default=None, repr=False)
    hypothetical_names: tuple[str, ...] = ()

    def rows(self, factors: Sequence[str]) -> NDArray[np.int64]:
        """Row of each factor name."""
        try:
            return np.array([self.factors.index(f) for f in factors], dtype=np.int64)
        except ValueError as exc:
            raise MarketDataError(f"scenario set lacks factor: {exc}") from None


@dataclass(frozen=True)
class Filtered:
    """Pre-computed filtering of a whole history, reused by every as-of date (back-tests).

    ``sigma[t]`` is the forecast for day t from returns before t; ``sigma_next[t]`` the forecast for day
    t + 1 made at the close of t (NaN where the return of t is missing). For a basis-filtered factor
    (``basis_col >= 0``, the column of its spot) ``basis_z``/``basis_sigma``/``basis_sigma_next`` hold the
    same for its basis return ``r[factor] - r[spot]`` (NaN elsewhere).
    """

    history: PriceHistory
    returns: FloatArray  # (T, F)
    sigma: FloatArray  # (T, F) forecast for day t from days < t
    z: FloatArray  # (T, F) standardised returns, proxy-filled
    proxy_col: NDArray[np.int64]  # (F,) column of each factor's proxy, -1 for none
    sigma_next: FloatArray  # (T, F) forecast for day t + 1 at the close of t
    basis_col: NDArray[np.int64]  # (F,) spot column of a basis-filtered factor, -1 for none
    basis_z: FloatArray  # (T, F)
    basis_sigma: FloatArray  # (T, F)
    basis_sigma_next: FloatArray  # (T, F)
    prelisting: NDArray[np.bool_] | None = None  # (T, F) before the first standardised return (seed included)

    def before_listing(self) -> NDArray[np.bool_]:
        """(T, F) True before each series' first standardised return: days that may borrow a proxy."""
        return self.prelisting if self.prelisting is not None else _prelisting(self.returns)


def volatility_forecast(returns: FloatArray, config: ScenarioConfig) -> FloatArray:
    """(T, F) returns → (T + 1, F) filtering volatility; row t uses returns before t (row T: all).

    ``max`` of the slow and (if configured) fast EWMA forecasts; NaN until seeded.
    """
    pad = np.vstack([returns, np.full((1, returns.shape[1]), np.nan)])
    sigma = ewma_sigma(pad, config.ewma_lambda, config.ewma_seed)
    if config.ewma_lambda_fast is not None:
        sigma = np.maximum(sigma, ewma_sigma(pad, config.ewma_lambda_fast, config.ewma_seed))
    return sigma


def _split(sigma_ext: FloatArray, returns: FloatArray) -> tuple[FloatArray, FloatArray]:
    nxt = np.where(np.isfinite(returns), sigma_ext[1:], np.nan)
    return sigma_ext[:-1], nxt


def filter_history(history: PriceHistory, proxies: Mapping[str, str | None], config: ScenarioConfig) -> Filtered:
    """Returns, volatility forecasts and standardised returns of every factor, with proxy filling.

    Proxies may chain (SOL-PERP → SOL → BTC); filling runs until nothing changes.
    """
    r = simple_returns(history.close)
    sigma, sigma_next = _split(volatility_forecast(r, config), r)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = r / sigma
    cols = {s: j for j, s in enumerate(history.symbols)}
    proxy_col = np.full(len(history.symbols), -1, dtype=np.int64)
    for s, p in proxies.items():
        if p is not None and s in cols and p in cols and p != s:
            proxy_col[cols[s]] = cols[p]
    prelisting = _prelisting(z)  # before a series' first standardised return (listing and EWMA seed)
    for _ in range(len(cols)):
        # Only days before a series existed borrow its proxy; a gap inside its life stays a gap.
        missing = ~np.isfinite(z) & (proxy_col >= 0)[None, :] & prelisting
        fill = z[:, np.maximum(proxy_col, 0)]
        newly = missing & np.isfinite(fill)
        if not newly.any():
            break
        z = np.where(newly, fill, z)
    basis_col = np.full(len(history.symbols), -1, dtype=np.int64)
    if config.basis_filter:
        for s, j in cols.items():
            spot = s.removesuffix("-PERP")
            if s.endswith("-PERP") and spot in cols:
                basis_col[j] = cols[spot]
    d = np.full_like(r, np.nan)
    has = basis_col >= 0
    d[:, has] = r[:, has] - r[:, basis_col[has]]
    b_sigma, b_next = _split(volatility_forecast(d, config), d)
    with np.errstate(invalid="ignore", divide="ignore"):
        b_z = d / b_sigma
    return Filtered(history, r, sigma, z, proxy_col, sigma_next, basis_col, b_z, b_sigma, b_next, prelisting)


def _prelisting(returns: FloatArray) -> NDArray[np.bool_]:
    """(T, F) True on the days before each column's first finite value."""
    finite = np.isfinite(returns)
    first = np.where(finite.any(axis=0), finite.argmax(axis=0), returns.shape[0])
    return np.asarray(np.arange(returns.shape[0])[:, None] < first[None, :])


def _rescale(z: FloatArray, sig_hist: FloatArray, sigma_now: FloatArray, config: ScenarioConfig) -> FloatArray:
    """(L, k) standardised returns → (L, k) scenarios ``z · sigma[t] · clip(sigma_now / sigma[t])``.

    Proxy-filled days (no own ``sigma[t]``) scale to ``sigma_now``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.clip(sigma_now / sig_hist, config.min_scale, config.max_scale)
    eff = np.where(np.isfinite(sig_hist), sig_hist * ratio, sigma_now)
    return np.asarray(z * eff, dtype=np.float64)


def build_scenarios(filtered: Filtered, asof_row: int, factors: Sequence[str], config: ScenarioConfig) -> ScenarioSet:
    """The scenario set of ``factors`` at the close of row ``asof_row`` of the history.

    FHS uses the ``lookback_days`` returns ending at ``asof_row`` (inclusive). A basis-filtered factor's
    scenario is its spot's scenario plus its rescaled standardised basis return of the same day (zero
    on days before the perpetual was listed). Raises :class:`MarketDataError` if a factor has no
    volatility forecast or a look-back day has no return even through its proxies.
    """
    h = filtered.history
    cols = np.array([h.index(f) for f in factors], dtype=np.int64)
    if not 0 <= asof_row < len(h.dates):
        raise MarketDataError("asof_row out of range")
    lo = asof_row - config.lookback_days + 1
    if lo < 1:
        raise MarketDataError(f"need {config.lookback_days} days of look-back before {h.dates[asof_row]}")
    sigma_now = filtered.sigma_next[asof_row, cols]
    if not np.all(np.isfinite(sigma_now)):
        bad = [factors[int(k)] for k in np.flatnonzero(~np.isfinite(sigma_now))]
        raise MarketDataError(f"no volatility forecast at {h.dates[asof_row]} for {bad}")
    base = filtered.basis_col[cols]
    b_now = filtered.basis_sigma_next[asof_row, cols]
    basis = (base >= 0) & np.isfinite(b_now)
    # Plain factors are rescaled on their own; basis factors as spot + basis.
    own = np.where(basis, base, cols)
    own_now = np.where(basis, filtered.sigma_next[asof_row, own], sigma_now)
    z = filtered.z[lo : asof_row + 1, own]
    # A gap day (inside a series' life: no return, never borrowed) leaves the look-back of every factor.
    pre = filtered.before_listing()[lo : asof_row + 1, own]
    keep = ~np.any(~np.isfinite(z) & ~pre, axis=1)
    z = z[keep]
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(own_now))):
        bad = [factors[int(k)] for k in np.flatnonzero(~(np.isfinite(z).all(axis=0) & np.isfinite(own_now)))]
        raise MarketDataError(f"look-back before {h.dates[asof_row]} has gaps for {bad} (no proxy history)")
    window = np.arange(lo, asof_row + 1)[keep]
    fhs = _rescale(z, filtered.sigma[window][:, own], own_now, config)
    if basis.any():
        bc = cols[basis]
        bz = np.nan_to_num(filtered.basis_z[window][:, bc])
        if config.basis_rescale:
            bcfg = replace(config, min_scale=config.basis_min_scale)
            fhs[:, basis] += _rescale(bz, filtered.basis_sigma[window][:, bc], b_now[basis], bcfg)
        else:
            fhs[:, basis] += np.nan_to_num(bz * filtered.basis_sigma[window][:, bc])
    stress, labels, names = _stress_block(filtered, asof_row, cols, config)
    bblock = _basis_block(filtered, asof_row, cols, config)
    n_basis = bblock.shape[1]
    if n_basis:
        halves = (n_basis // 2, n_basis - n_basis // 2) if config.mirror_stress else (n_basis,)
        bnames = ("basis-dislocations", "basis-dislocations-mirror")[: len(halves)]
        labels = np.concatenate([labels, *(np.full(n, len(names) + k, dtype=np.int64) for k, n in enumerate(halves))])
        names = names + bnames
        stress = np.ascontiguousarray(np.concatenate([stress, bblock], axis=1))
    hyp, hyp_names = (None, ()) if config.hypothetical is None else hypothetical_scenarios(factors, config.hypothetical)
    depth = _depth(h.volume[: asof_row + 1, cols], config.depth_window)
    return ScenarioSet(
        asof=h.dates[asof_row],
        factors=tuple(factors),
        fhs=np.ascontiguousarray(fhs.T),
        stress=stress,
        stress_label=labels,
        stress_names=names,
        sigma_now=sigma_now,
        depth=depth,
        price=h.close[asof_row, cols],
        n_basis=n_basis,
        basis_count=max(config.basis_stress_days, 1),
        hypothetical=hyp,
        hypothetical_names=hyp_names,
    )


def stress_months(
    history: PriceHistory, asof_row: int, reference: str, drawdown: float
) -> tuple[tuple[str, str, str], ...]:
    """The stressed periods chosen from the data (see ``ScenarioConfig.stress_periods``).

    Every calendar month that ended before the close of ``asof_row`` and in which ``reference`` had a
    close-to-close fall of at least ``drawdown`` (from the running peak, starting at the previous month's
    last close) is one period, named ``YYYY-MM``. None if ``reference`` is not in the history.
    """
    if reference not in history.symbols:
        return ()
    close = history.close[: asof_row + 1, history.index(reference)]
    dates = history.dates[: asof_row + 1]
    months = dates.astype("datetime64[M]")
    asof = dates[-1]
    out: list[tuple[str, str, str]] = []
    for month in np.unique(months):
        last_day = (month + 1).astype("datetime64[D]") - 1
        if last_day >= asof:
            break
        idx = np.flatnonzero(months == month)
        c = close[max(int(idx[0]) - 1, 0) : int(idx[-1]) + 1]
        c = c[np.isfinite(c)]
        if c.size >= 2 and float(np.min(c / np.maximum.accumulate(c))) <= 1.0 - drawdown:
            out.append((str(month), str(month.astype("datetime64[D]")), str(last_day)))
    return tuple(out)


def _depth(volume: FloatArray, window: int) -> FloatArray:
    """(T, k) volumes → (k,) mean of each series' last ``window`` days with a traded volume (> 0).

    Days without a volume (NaN: the ledger's index candles carry none; 0: an exchange outage) are skipped
    rather than counted as zero depth, so a live model keeps the last measured depth until volumes flow.
    """
    out = np.zeros(volume.shape[1])
    for j in range(volume.shape[1]):
        v = volume[:, j]
        traded = v[np.isfinite(v) & (v > 0)][-window:]
        out[j] = float(traded.mean()) if traded.size else 0.0
    return out


def _basis_block(filtered: Filtered, asof_row: int, cols: NDArray[np.int64], config: ScenarioConfig) -> FloatArray:
    """(F, D or 2D) pure basis shocks on the union D of each basis factor's N largest ``|basis|`` days ≤ asof.

    Empty (F, 0) when N is 0 or no factor of ``cols`` is basis-filtered. Basis factors not observed on a
    selected day, and all other factors, take 0. Ties are broken by the earlier date.
    """
    n = config.basis_stress_days
    bcols = cols[filtered.basis_col[cols] >= 0]
    if n == 0 or bcols.size == 0:
        return np.zeros((len(cols), 0))
    r = filtered.returns[: asof_row + 1]
    d = r[:, bcols] - r[:, filtered.basis_col[bcols]]  # (T', P) raw basis returns, NaN before listing
    mag = np.where(np.isfinite(d), np.abs(d), -1.0)
    days: set[int] = set()
    for p in range(bcols.size):
        order = np.argsort(-mag[:, p], kind="stable")[:n]
        days.update(int(t) for t in order if mag[t, p] >= 0)
    if not days:
        return np.zeros((len(cols), 0))
    sel = np.array(sorted(days), dtype=np.int64)
    block = np.zeros((len(cols), sel.size))
    block[np.flatnonzero(filtered.basis_col[cols] >= 0)] = np.nan_to_num(d[sel].T)
    if config.mirror_stress:
        block = np.concatenate([block, -block], axis=1)
    return block


def _stress_block(
    filtered: Filtered, asof_row: int, cols: NDArray[np.int64], config: ScenarioConfig
) -> tuple[FloatArray, NDArray[np.int64], tuple[str, ...]]:
    h = filtered.history
    asof = h.dates[asof_row]
    blocks: list[FloatArray] = []
    labels: list[NDArray[np.int64]] = []
    names: list[str] = []
    # Long-run volatility up to asof, for scaling proxy returns.
    past = filtered.returns[: asof_row + 1]
    n_obs = np.isfinite(past).sum(axis=0)
    lr_vol = np.sqrt(np.nansum(past**2, axis=0) / np.maximum(n_obs, 1))
    lr_vol = np.where(n_obs > 0, lr_vol, np.nan)
    periods = config.stress_periods
    if periods is None:
        periods = stress_months(h, asof_row, config.stress_reference, config.stress_drawdown)
    for name, start, end in periods:
        d0, d1 = np.datetime64(start, "D"), np.datetime64(end, "D")
        if d1 >= asof:
            continue
        rows = np.flatnonzero((h.dates >= d0) & (h.dates <= d1))
        if rows.size == 0:
            continue
        r = filtered.returns[rows].copy()  # (D, all F)
        pre = filtered.before_listing()[rows]
        for _ in range(len(h.symbols)):
            miss = ~np.isfinite(r) & (filtered.proxy_col >= 0)[None, :] & pre
            pc = np.maximum(filtered.proxy_col, 0)
            fill = r[:, pc] * (lr_vol / lr_vol[pc])[None, :]
            newly = miss & np.isfinite(fill)
            if not newly.any():
                break
            r = np.where(newly, fill, r)
        block = r[:, cols]
        block = block[~np.any(~np.isfinite(block) & ~pre[:, cols], axis=1)]  # gap days leave the period
        if block.shape[0] == 0 or not np.all(np.isfinite(block)):
            continue  # a factor with no history at all in this period, even through proxies
        variants = [(name, block)]
        if config.mirror_stress:
            variants.append((name + "-mirror", -block))
        for nm, b in variants:
            labels.append(np.full(b.shape[0], len(names), dtype=np.int64))
            names.append(nm)
            blocks.append(b.T)
    if not blocks:
        return np.zeros((len(cols), 0)), np.zeros(0, dtype=np.int64), ()
    return np.ascontiguousarray(np.concatenate(blocks, axis=1)), np.concatenate(labels), tuple(names)
