"""Cleared instruments, the risk factor each one moves with, and venue symbol → instrument mapping.

A cleared instrument (``BTC-USD-PERP``, ``ETH-USD-2026Q1``, ``SOL`` spot) has one linear risk factor: a
price series in :class:`~offchain.risk.marketdata.PriceHistory`. Perpetuals use their own traded series
(``BTC-PERP``) where the data has one, so a perp-versus-spot basis trade carries its real basis risk;
otherwise the spot series. A dated future uses the perpetual (or spot) series of its underlying: the data
has no dated futures, and their basis to the perp is second order next to the price risk.

Margin period of risk by product class (EMIR RTS 153/2013 Art. 26; CFTC 39.13(g)(2)(ii)): see
:data:`MPOR_DAYS`. A perpetual that has no traded series of its own rides its spot series with no basis
risk in the scenarios, so it carries a conservative **basis add-on** (:data:`BASIS_ADDON`, a fraction of
its gross notional, never offset against the spot leg): see :attr:`Instrument.basis_addon`.

Venues report their own symbols; :class:`VenueMap` maps ``(venue, venue_symbol)`` onto a cleared
instrument, and :func:`net_positions` sums every member's signed quantities per cleared instrument, so
the same exposure bought on one venue and sold on another nets to zero before any margin is computed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError


class Kind(enum.Enum):
    """Product type of a cleared instrument."""

    SPOT = "spot"
    PERP = "perp"
    FUTURE = "future"


#: The deepest markets (their products liquidate within the shortest margin period of risk).
MAJORS = frozenset({"BTC", "ETH"})

#: Margin period of risk in days by (product kind, liquidity class). EMIR RTS 153/2013 Art. 26(1): at
#: least one day for instruments other than OTC derivatives (every product here is venue-traded and
#: cleared on a 24/7 market, closed out by auction within hours); two days for the less liquid class,
#: whose close-out auctions need more bidders. CFTC 39.13(g)(2)(ii) sets one day for futures, which the
#: perpetuals are economically; dated futures follow the perpetual of their underlying.
MPOR_DAYS: dict[tuple[Kind, bool], float] = {
    (Kind.SPOT, True): 1.0,
    (Kind.PERP, True): 1.0,
    (Kind.FUTURE, True): 1.0,
    (Kind.SPOT, False): 2.0,
    (Kind.PERP, False): 2.0,
    (Kind.FUTURE, False): 2.0,
}

#: Basis add-on of a perpetual without its own price series, as a fraction of |notional|: above the
#: largest one-day perp-vs-spot dislocation in the data (ETH, March 2020: 1.36 %) scaled by sqrt(2) for the
#: two-day MPOR of its class (1.92 %), rounded up.
BASIS_ADDON = 0.02


def margin_period(kind: Kind, underlying: str) -> float:
    """MPOR in days of a product of ``kind`` on ``underlying``."""
    return MPOR_DAYS[(kind, underlying in MAJORS)]


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
        basis_addon: fraction of |notional| charged for basis risk the scenarios cannot see: whoever
            maps a perpetual onto its spot series (no series of its own) sets :data:`BASIS_ADDON`.
    """

    name: str
    kind: Kind
    factor: str
    horizon_days: float = 1.0
    half_spread: float = 0.0005
    proxy: str | None = "BTC"
    basis_addon: float = 0.0

    def __post_init__(self) -> None:
        if not self.horizon_days > 0:
            raise ConfigError(f"{self.name}: horizon_days must be > 0")
        if not 0 <= self.half_spread < 1:
            raise ConfigError(f"{self.name}: half_spread must be in [0, 1)")
        if not 0 <= self.basis_addon < 1:
            raise ConfigError(f"{self.name}: basis_addon must be in [0, 1)")


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

    def linear_costs(self) -> NDArray[np.float64]:
        """(I,) per-notional costs charged on every gross position: half spread plus basis add-on."""
        return np.array([x.half_spread + x.basis_addon for x in self.instruments], dtype=np.float64)


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

    Horizons: :data:`MPOR_DAYS` (1 day for BTC/ETH products, 2 days for everything else).
    Half spreads: 1 bp for BTC/ETH, 5 bp otherwise.
    """
    majors = MAJORS
    out: list[Instrument] = []
    for s in spot:
        h, hs = margin_period(Kind.SPOT, s), 0.0001 if s in majors else 0.0005
        out.append(Instrument(s, Kind.SPOT, s, h, hs, None if s == "BTC" else "BTC"))
    for s in perps:
        h, hs = margin_period(Kind.PERP, s), 0.0001 if s in majors else 0.0005
        out.append(Instrument(f"{s}-USD-PERP", Kind.PERP, f"{s}-PERP", h, hs, s))
    for s in futures:
        base, _, expiry = s.partition("-")
        h, hs = margin_period(Kind.FUTURE, base), 0.0002 if base in majors else 0.0008
        factor = f"{base}-PERP" if base in perps else base
        out.append(Instrument(f"{base}-USD-{expiry}", Kind.FUTURE, factor, h, hs, base))
    return Universe(tuple(out))


def risk_universe(instruments: Iterable[tuple[str, str, str]]) -> Universe:
    """The risk universe of cleared instruments given as published (name, kind, underlying), by name: each
    one's factor, margin period and half-spread. The engine and the auditor both build the model's universe
    with it (a function of published inputs, like the rest of the pure risk model)."""
    out = []
    for name, kind_name, underlying in sorted(instruments):
        major = underlying in MAJORS
        if kind_name == "perp":
            kind, factor = Kind.PERP, f"{underlying}-PERP"
        elif kind_name == "future":
            kind, factor = Kind.FUTURE, f"{underlying}-PERP"
        else:
            kind, factor = Kind.SPOT, underlying
        proxy = None if factor == "BTC" else "BTC"
        horizon, half_spread = margin_period(kind, underlying), 0.0001 if major else 0.0005
        out.append(Instrument(name, kind, factor, horizon, half_spread, proxy))
    return Universe(tuple(out))
