"""Exceptions raised by the risk engine (one hierarchy, rooted in :class:`RiskError`)."""

from __future__ import annotations

from offchain.errors import CrossclearError


class RiskError(CrossclearError):
    """Base class of every error the risk engine raises on purpose."""


class MarketDataError(RiskError, ValueError):
    """A price file is missing, malformed, or lacks the history a computation needs."""


class ConfigError(RiskError, ValueError):
    """A parameter is out of its documented range, or arrays have inconsistent shapes."""


class UnitsOverflowError(RiskError, OverflowError):
    """An amount does not fit the integer base-unit representation exactly."""
