"""Hypothetical extreme-but-plausible stress scenarios for the default fund (not for margin).

A CCP sizes its default fund on historical **and** hypothetical scenarios (EMIR Art. 42-43 with RTS 153/2013
Art. 29-30; CPMI-IOSCO PFMI Principle 4): history alone is empty before the first crisis in the data
and can only repeat the past. Each scenario here is a move of every factor over its instrument's
liquidation horizon (the close-out period, not re-scaled by ``sqrt(h)``), by asset class:

* ``hyp:<U>-down`` / ``hyp:<U>-up``: one underlying ``U`` (its spot ``U`` and its perpetual ``U-PERP``)
  falls by its class's ``down`` / rises by ``up``, every other factor 0; the perpetual moves by ``basis``
  more than the spot in the same direction (its basis blows out: a discount in a crash, a premium in a
  squeeze).
* ``hyp:crash`` / ``hyp:squeeze``: every underlying at once (correlation one, as on 12 March 2020), each by
  its class's shock, perpetuals by ``basis`` more.

Class parameters are in :data:`DEFAULT_CLASSES` and justified in ``docs/risk.md`` (each at least the worst
horizon-length move of the class in the data, rounded up). The scenarios enter the platform stress losses
and Cover 2 only (:func:`offchain.risk.platform.stress_losses`), never the initial margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError

FloatArray = NDArray[np.float64]

PERP_SUFFIX = "-PERP"


@dataclass(frozen=True)
class ShockClass:
    """One asset class's hypothetical shocks, as fractions of the price over the liquidation horizon.

    Attributes:
        name: label. assets: the underlyings in the class (spot symbols; ``X-PERP`` follows ``X``);
            exactly one class has ``()`` and takes every underlying not listed elsewhere.
        down: fall of the spot (0 < down, down + basis ≤ 1: a price cannot go below zero).
        up: rise of the spot (> 0).
        basis: extra move of a perpetual in the same direction as its spot (≥ 0).
    """

    name: str
    down: float
    up: float
    basis: float
    assets: tuple[str, ...] = ()


#: Documented production values (docs/risk.md, "Hypothetical scenarios").
DEFAULT_CLASSES: tuple[ShockClass, ...] = (
    ShockClass("major", down=0.50, up=0.30, basis=0.05, assets=("BTC", "ETH")),
    ShockClass("asset-backed", down=0.15, up=0.15, basis=0.05, assets=("PAXG",)),
    ShockClass("alt", down=0.60, up=1.50, basis=0.10),
)


@dataclass(frozen=True)
class HypotheticalConfig:
    """Which hypothetical scenarios to build, and the class shocks.

    single_asset: one ``-down`` and one ``-up`` scenario per underlying. market: ``crash`` and ``squeeze``.
    """

    classes: tuple[ShockClass, ...] = DEFAULT_CLASSES
    single_asset: bool = True
    market: bool = True

    def __post_init__(self) -> None:
        defaults = [c for c in self.classes if not c.assets]
        if len(defaults) != 1:
            raise ConfigError("exactly one hypothetical shock class must have no assets (the default class)")
        seen: set[str] = set()
        for c in self.classes:
            if not (c.down > 0 and c.up > 0 and c.basis >= 0 and c.down + c.basis <= 1):
                raise ConfigError(f"shock class {c.name!r}: need down > 0, up > 0, basis >= 0, down + basis <= 1")
            if seen & set(c.assets):
                raise ConfigError(f"shock class {c.name!r}: an asset is in two classes")
            seen |= set(c.assets)

    def class_of(self, underlying: str) -> ShockClass:
        """The class of an underlying (its spot symbol)."""
        for c in self.classes:
            if underlying in c.assets:
                return c
        return next(c for c in self.classes if not c.assets)


def underlying(factor: str) -> str:
    """``X-PERP`` → ``X``; a spot factor is its own underlying."""
    return factor.removesuffix(PERP_SUFFIX)


def hypothetical_scenarios(factors: Sequence[str], config: HypotheticalConfig) -> tuple[FloatArray, tuple[str, ...]]:
    """(F, H) factor moves of the hypothetical scenarios, and their H names.

    Order: per underlying (first appearance in ``factors``) its ``-down`` then ``-up`` scenario; then
    ``crash``, ``squeeze``. H = 0 when both kinds are switched off.
    """
    unders = [underlying(f) for f in factors]
    is_perp = np.array([f.endswith(PERP_SUFFIX) for f in factors])
    cls = [config.class_of(u) for u in unders]
    down = -(np.array([c.down for c in cls]) + is_perp * np.array([c.basis for c in cls]))
    up = np.array([c.up for c in cls]) + is_perp * np.array([c.basis for c in cls])
    cols: list[FloatArray] = []
    names: list[str] = []
    if config.single_asset:
        for u in dict.fromkeys(unders):
            mask = np.array([x == u for x in unders])
            cols += [np.where(mask, down, 0.0), np.where(mask, up, 0.0)]
            names += [f"hyp:{u}-down", f"hyp:{u}-up"]
    if config.market:
        cols += [down.astype(np.float64), up.astype(np.float64)]
        names += ["hyp:crash", "hyp:squeeze"]
    if not cols:
        return np.zeros((len(factors), 0)), ()
    return np.ascontiguousarray(np.stack(cols, axis=1), dtype=np.float64), tuple(names)
