"""Cleared instruments, the risk factor each one moves with, and venue symbol → instrument mapping.

A cleared instrument (``BTC-USD-PERP``, ``ETH-USD-2026Q1``, ``SOL`` spot) has one linear risk factor: a
price series in :class:`~offchain.risk.marketdata.PriceHistory`. Perpetuals use their own traded series
(``BTC-PERP``) where the data has one, so a perp-versus-spot basis trade carries its real basis risk;
otherwise the spot series. A dated future uses the perpetual (or spot) series of its underlying: the data
has no dated futures, and their basis to the perp is second order next to the price risk.

Venues report their own symbols; :class:`VenueMap` maps ``(venue, venue_symbol)`` onto a cleared
instrument, and :func:`net_positions` sums every member's signed quantities per cleared instrument, so
the same exposure bought on one venue and sold on another nets to zero before any margin is computed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError


class Kind(enum.Enum):
    """Product type of a cleared instrument."""

    SPOT = "spot"
    PERP = "perp"
    FUTURE = "future"


@dataclass(frozen=True)
class Instrument:
    """One cleared instrument.

    Attributes:
        name: cleared symbol, e.g. ``"BTC-USD-PERP"``.
        kind: product type.
        factor: the price series (column of the price history) it moves one-for-one with.
        horizon_days: liquidation horizon (margin period of risk) in days, before concentration.
        half_spread: half the bid-ask spread as a fraction of price (0.0001 = 1 bp).
        proxy: price series used to fill scenario days before ``factor`` was listed (``None``: no proxy).
    """

    name: str
    kind: Kind
    factor: str
    horizon_days: float = 1.0
    half_spread: float = 0.0005
    proxy: str | None = "BTC"

    def __post_init__(self) -> None:
        if not self.horizon_days > 0:
            raise ConfigError(f"{self.name}: horizon_days must be > 0")
        if not 0 <= self.half_spread < 1:
            raise ConfigError(f"{self.name}: half_spread must be in [0, 1)")


@dataclass(frozen=True)
class Universe:
    """The ordered set of I cleared instruments; column ``i`` of every (M, I) array is ``instruments[i]``."""

    instruments: tuple[Instrument, ...]

    def __post_init__(self) -> None:
        names = [x.name for x in self.instruments]
        if len(set(names)) != len(names):
            raise ConfigError("duplicate instrument names")

    def __len__(self) -> int:
        return len(self.instruments)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(x.name for x in self.instruments)

    def index(self, name: str) -> int:
        for i, x in enumerate(self.instruments):
            if x.name == name:
                return i
        raise ConfigError(f"unknown instrument {name!r}")

    def horizons(self) -> NDArray[np.float64]:
        """(I,) liquidation horizons in days."""
        return np.array([x.horizon_days for x in self.instruments], dtype=np.float64)

    def half_spreads(self) -> NDArray[np.float64]:
        """(I,) half spreads as fractions of price."""
        return np.array([x.half_spread for x in self.instruments], dtype=np.float64)


@dataclass(frozen=True)
class VenueMap:
    """``(venue, venue_symbol) → cleared instrument name``."""

    symbols: Mapping[tuple[str, str], str]

    def resolve(self, universe: Universe, venue: str, symbol: str) -> int:
        """Column of the cleared instrument that ``symbol`` on ``venue`` maps to."""
        try:
            name = self.symbols[(venue, symbol)]
        except KeyError:
            raise ConfigError(f"venue {venue!r} symbol {symbol!r} is not mapped to a cleared instrument") from None
        return universe.index(name)


def net_positions(
    n_members: int,
    members: NDArray[np.int64],
    instruments: NDArray[np.int64],
    quantities: NDArray[np.float64],
    n_instruments: int,
) -> NDArray[np.float64]:
    """Net signed quantities per (member, cleared instrument), summed across venues.

    Args:
        n_members: M.
        members: (N,) member row of each venue position (0 ≤ m < M).
        instruments: (N,) cleared-instrument column of each venue position (from :meth:`VenueMap.resolve`).
        quantities: (N,) signed quantity in the instrument's base units (long > 0).
        n_instruments: I.

    Returns:
        (M, I) float64 net positions.
    """
    if not (members.shape == instruments.shape == quantities.shape):
        raise ConfigError("members, instruments and quantities must have the same shape")
    if members.size and (members.min() < 0 or members.max() >= n_members):
        raise ConfigError("member index out of range")
    if instruments.size and (instruments.min() < 0 or instruments.max() >= n_instruments):
        raise ConfigError("instrument index out of range")
    flat = members * n_instruments + instruments
    out = np.bincount(flat, weights=quantities, minlength=n_members * n_instruments)
    return np.asarray(out.reshape(n_members, n_instruments), dtype=np.float64)


def default_universe(spot: Sequence[str], perps: Sequence[str], futures: Sequence[str] = ()) -> Universe:
    """A universe with spot ``X``, perpetual ``X-USD-PERP`` (on series ``X-PERP``) and quarterly futures.

    Horizons: 1 day for BTC/ETH products (deepest markets), 2 days for everything else.
    Half spreads: 1 bp for BTC/ETH, 5 bp otherwise.
    """
    majors = {"BTC", "ETH"}
    out: list[Instrument] = []
    for s in spot:
        h, hs = (1.0, 0.0001) if s in majors else (2.0, 0.0005)
        out.append(Instrument(s, Kind.SPOT, s, h, hs, None if s == "BTC" else "BTC"))
    for s in perps:
        h, hs = (1.0, 0.0001) if s in majors else (2.0, 0.0005)
        out.append(Instrument(f"{s}-USD-PERP", Kind.PERP, f"{s}-PERP", h, hs, s))
    for s in futures:
        base, _, expiry = s.partition("-")
        h, hs = (1.0, 0.0002) if base in majors else (2.0, 0.0008)
        factor = f"{base}-PERP" if base in perps else base
        out.append(Instrument(f"{base}-USD-{expiry}", Kind.FUTURE, factor, h, hs, base))
    return Universe(tuple(out))
