"""The market side of a replay: the price path, the cleared universe and the risk engine refreshed daily.

Margin during a day ``d`` uses the scenario set as of the close of ``d - 1`` (the last daily close
available at the start of ``d``); positions are re-margined at every step's marks with that model, so IM
moves with prices every step and with volatility once a day, as the production schedule does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from offchain.replay.prices import PricePath
from offchain.risk.backtest import default_proxies
from offchain.risk.config import MarginConfig
from offchain.risk.errors import ConfigError, MarketDataError
from offchain.risk.haircuts import CollateralAsset, HaircutModel, build_haircuts
from offchain.risk.instruments import Instrument, Kind, Universe
from offchain.risk.margin import RiskModel, build_model
from offchain.risk.marketdata import PriceHistory
from offchain.risk.scenarios import Filtered, ScenarioConfig, build_scenarios, filter_history

FloatArray = NDArray[np.float64]
NUMERAIRES = ("USDC", "USDT", "USD")
MAJORS = ("BTC", "ETH")


def make_universe(names: tuple[str, ...], path: PricePath, history: PriceHistory) -> Universe:
    """Cleared instruments ``X`` (spot) and ``X-USD-PERP`` (on ``X-PERP`` when both the path and the history
    have it, else on the spot ``X``); horizons and half spreads as
    :func:`offchain.risk.instruments.default_universe`."""
    out = []
    for name in names:
        perp = name.endswith("-USD-PERP")
        base = name.removesuffix("-USD-PERP")
        h, hs = (1.0, 0.0001) if base in MAJORS else (2.0, 0.0005)
        factor = base
        if perp and f"{base}-PERP" in path.symbols and f"{base}-PERP" in history.symbols:
            factor = f"{base}-PERP"
        if factor not in path.symbols:
            raise ConfigError(f"instrument {name!r}: no price series {factor!r} in the price path")
        if factor not in history.symbols:
            raise ConfigError(f"instrument {name!r}: no daily history for {factor!r}")
        proxy = base if factor != base else (None if base == "BTC" else "BTC")
        out.append(Instrument(name, Kind.PERP if perp else Kind.SPOT, factor, h, hs, proxy))
    return Universe(tuple(out))


@dataclass(frozen=True)
class DayModel:
    model: RiskModel
    haircuts: HaircutModel


@dataclass
class Market:
    """Everything price-related a replay needs; ``model_for`` is cached per as-of day."""

    path: PricePath
    history: PriceHistory
    universe: Universe
    assets: tuple[CollateralAsset, ...]
    margin_config: MarginConfig = field(default_factory=MarginConfig)
    scenario_config: ScenarioConfig = field(default_factory=ScenarioConfig)
    _filtered: Filtered | None = None
    _factors: tuple[str, ...] = ()
    _cache: dict[np.datetime64, DayModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        facs = {x.factor for x in self.universe.instruments} | {a.factor for a in self.assets if a.factor}
        self._factors = tuple(sorted(facs))
        needed = set(facs) | {"BTC"} | {f.removesuffix("-PERP") for f in facs}
        sub = self.history.select([s for s in self.history.symbols if s in needed])
        self._filtered = filter_history(sub, default_proxies(sub.symbols), self.scenario_config)
        self._inst_cols = np.array([self.path.column(x.factor) for x in self.universe.instruments], dtype=np.int64)
        self._asset_cols = [None if a.factor is None else self.path.column(a.factor) for a in self.assets]

    @property
    def n_steps(self) -> int:
        return len(self.path.times)

    def prices(self, step: int) -> FloatArray:
        """(I,) instrument marks at ``step``."""
        return np.asarray(self.path.close[step, self._inst_cols], dtype=np.float64)

    def collateral_prices(self, step: int) -> FloatArray:
        """(A,) collateral marks at ``step`` (numeraire 1)."""
        return np.array([1.0 if c is None else float(self.path.close[step, c]) for c in self._asset_cols])

    def asof_day(self, step: int) -> np.datetime64:
        """The daily close whose scenario set margins ``step``: the day before the step's candle opened."""
        opened = self.path.times[step] - np.timedelta64(self.path.step_hours, "h")
        return np.datetime64(opened.astype("datetime64[D]") - np.timedelta64(1, "D"), "D")

    def model_for(self, step: int) -> DayModel:
        day = self.asof_day(step)
        hit = self._cache.get(day)
        if hit is not None:
            return hit
        assert self._filtered is not None
        dates = self._filtered.history.dates
        row = int(np.searchsorted(dates, day, side="right")) - 1
        if row < 0 or dates[row] < day - np.timedelta64(3, "D"):
            raise MarketDataError(f"no daily close on or shortly before {day} in the history (need look-back)")
        scen = build_scenarios(self._filtered, row, self._factors, self.scenario_config)
        dm = DayModel(
            build_model(scen, self.universe, self.margin_config), build_haircuts(scen, self.assets, self.margin_config)
        )
        self._cache[day] = dm
        return dm


def collateral_asset(name: str, path: PricePath) -> CollateralAsset:
    if name in NUMERAIRES:
        return CollateralAsset(name, None)
    if name in path.symbols:
        return CollateralAsset(name, name)
    raise ConfigError(f"collateral asset {name!r}: not a numeraire ({'/'.join(NUMERAIRES)}) nor a price series")
