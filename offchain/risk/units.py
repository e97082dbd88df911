"""Conservative conversion of float amounts to integer settlement base units.

Requirements (IM, MM, default-fund contributions) round **up**; asset values (collateral) round **down**,
so every rounding error is in the clearing house's favour. Amounts are converted by ``ceil``/``floor`` of
the *exact* product ``amount * 10**decimals`` (the float product plus its rounding error, recovered
with Dekker's TwoProduct), so the result is conservative even when the float product rounds across an
integer. The scaled magnitude must stay below 2**53, else :class:`UnitsOverflowError` is raised (never a
silent wrap).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError, UnitsOverflowError

_EXACT = float(2**53)


_SPLIT = float(2**27 + 1)


def _split(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def _two_product(a: NDArray[np.float64], b: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(p, e)`` with ``p = fl(a * b)`` and ``p + e == a * b`` exactly (Dekker 1971)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(np.array(b))
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _scaled(amount: NDArray[np.float64], decimals: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if not 0 <= decimals <= 18:
        raise ConfigError("decimals must be in [0, 18]")
    if not np.all(np.isfinite(amount)):
        raise UnitsOverflowError("amount is NaN or infinite")
    scaled, err = _two_product(np.asarray(amount, dtype=np.float64), float(10**decimals))
    if scaled.size and float(np.max(np.abs(scaled))) >= _EXACT:
        raise UnitsOverflowError(f"amount too large for exact base units at {decimals} decimals")
    return scaled, err


def to_units_up(amount: NDArray[np.float64], decimals: int) -> NDArray[np.int64]:
    """Smallest integer number of base units ≥ ``amount`` (requirements: IM, MM, calls, contributions)."""
    p, e = _scaled(amount, decimals)
    up = np.ceil(p)
    return np.asarray(up + ((up == p) & (e > 0)), dtype=np.float64).astype(np.int64)


def to_units_down(amount: NDArray[np.float64], decimals: int) -> NDArray[np.int64]:
    """Largest integer number of base units ≤ ``amount`` (values: haircut collateral)."""
    p, e = _scaled(amount, decimals)
    down = np.floor(p)
    return np.asarray(down - ((down == p) & (e < 0)), dtype=np.float64).astype(np.int64)
