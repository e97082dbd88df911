"""Conservative conversion of float amounts to integer settlement base units.

Requirements (IM, MM, default-fund contributions) round **up**; asset values (collateral) round **down**,
so every rounding error is in the clearing house's favour. Amounts are converted by ``ceil``/``floor`` of
``amount * 10**decimals``; the scaled magnitude must stay below 2**53 so that the float product is exact
to the unit, else :class:`UnitsOverflowError` is raised (never a silent wrap).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError, UnitsOverflowError

_EXACT = float(2**53)


def _scaled(amount: NDArray[np.float64], decimals: int) -> NDArray[np.float64]:
    if not 0 <= decimals <= 18:
        raise ConfigError("decimals must be in [0, 18]")
    if not np.all(np.isfinite(amount)):
        raise UnitsOverflowError("amount is NaN or infinite")
    scaled = amount * float(10**decimals)
    if scaled.size and float(np.max(np.abs(scaled))) >= _EXACT:
        raise UnitsOverflowError(f"amount too large for exact base units at {decimals} decimals")
    return scaled


def to_units_up(amount: NDArray[np.float64], decimals: int) -> NDArray[np.int64]:
    """Smallest integer number of base units ≥ ``amount`` (requirements: IM, MM, calls, contributions)."""
    return np.ceil(_scaled(amount, decimals)).astype(np.int64)


def to_units_down(amount: NDArray[np.float64], decimals: int) -> NDArray[np.int64]:
    """Largest integer number of base units ≤ ``amount`` (values: haircut collateral)."""
    return np.floor(_scaled(amount, decimals)).astype(np.int64)
