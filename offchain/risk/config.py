"""Margin-model parameters (immutable). Defaults are the documented values in ``docs/risk.md``."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from offchain.risk.errors import ConfigError
from offchain.risk.scenarios import ApcMode
from offchain.risk.tiers import DEFAULT_TIERS, Tier


class Measure(enum.Enum):
    """Tail measure of the core margin."""

    ES = "es"
    VAR = "var"


@dataclass(frozen=True)
class MarginConfig:
    """Parameters of :func:`offchain.risk.margin.compute_margin`.

    Attributes:
        measure, alpha: ES at 97.5 % (default) or VaR at 99 % (``Measure.VAR, 0.99``).
        apc_mode, apc_weight: anti-procyclicality (see :class:`~offchain.risk.scenarios.ApcMode`); the
            weight is the stressed weight w or the buffer b, at least 0.25 (EMIR).
        mm_fraction: maintenance margin = ``mm_fraction * IM``.
        participation: share of average daily volume the house may trade when closing out (depth).
        impact_coeff: square-root impact coefficient Y of the liquidity add-on.
        decimals: decimals of the settlement asset's base unit (USDC: 6).
        tiers: member tiers, indexed by the member tier array.
        max_daily_rise: the live IM rise cap c (docs/risk.md, "Rise cap"): a member's posted IM rises at most
            by this fraction a day over its stressed floor, the rest phased in (``None``: no cap). Applied by
            the settlement engine (offchain/settlement/margin.py), not by :func:`compute_margin`.
    """

    measure: Measure = Measure.ES
    alpha: float = 0.975
    apc_mode: ApcMode = ApcMode.STRESSED_WEIGHT
    apc_weight: float = 0.25
    mm_fraction: float = 0.8
    participation: float = 0.1
    impact_coeff: float = 1.0
    decimals: int = 6
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    max_daily_rise: float | None = 0.25

    def __post_init__(self) -> None:
        if not 0.5 < self.alpha < 1:
            raise ConfigError("alpha must be in (0.5, 1)")
        if not 0 <= self.apc_weight <= 1:
            raise ConfigError("apc_weight must be in [0, 1]")
        if not 0 < self.mm_fraction <= 1:
            raise ConfigError("mm_fraction must be in (0, 1]")
        if not 0 < self.participation <= 1:
            raise ConfigError("participation must be in (0, 1]")
        if self.impact_coeff < 0:
            raise ConfigError("impact_coeff must be >= 0")
        if not self.tiers:
            raise ConfigError("need at least one tier")
        if self.max_daily_rise is not None and not self.max_daily_rise > 0:
            raise ConfigError(f"max_daily_rise must be > 0 (None: no rise cap), got {self.max_daily_rise}")
