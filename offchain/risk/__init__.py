"""Risk engine: portfolio margin across venues (vectorised numpy over all members at once).

Data in, arrays out, no hidden state: :mod:`marketdata` loads prices, :mod:`scenarios` builds the FHS and
stressed scenario set, :mod:`margin` computes IM/MM for every member with one matrix product,
:mod:`addons`, :mod:`haircuts`, :mod:`tiers` and :mod:`platform` add the rest; :mod:`backtest` checks it
against history. See ``docs/risk.md``.
"""

from offchain.risk.config import MarginConfig, Measure
from offchain.risk.errors import ConfigError, MarketDataError, RiskError, UnitsOverflowError
from offchain.risk.haircuts import CollateralAsset, HaircutModel, build_haircuts
from offchain.risk.instruments import Instrument, Kind, Universe, VenueMap, net_positions
from offchain.risk.margin import MarginBook, MarginResult, RiskModel, build_model, compute_margin
from offchain.risk.scenarios import ApcMode, ScenarioConfig, ScenarioSet, build_scenarios, filter_history
from offchain.risk.units import to_units_down, to_units_up

__all__ = [
    "ApcMode",
    "CollateralAsset",
    "ConfigError",
    "HaircutModel",
    "Instrument",
    "Kind",
    "MarginBook",
    "MarginConfig",
    "MarginResult",
    "MarketDataError",
    "Measure",
    "RiskError",
    "RiskModel",
    "ScenarioConfig",
    "ScenarioSet",
    "UnitsOverflowError",
    "Universe",
    "VenueMap",
    "build_haircuts",
    "build_model",
    "build_scenarios",
    "compute_margin",
    "filter_history",
    "net_positions",
    "to_units_down",
    "to_units_up",
]
