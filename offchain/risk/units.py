"""Conservative conversion of float amounts to integer settlement base units.

Requirements (IM, MM, default-fund contributions) round **up**; asset values (collateral) round **down**,
so every rounding error is in the clearing house's favour. Amounts are converted by ``ceil``/``floor`` of
the *exact* product ``amount * 10**decimals`` (the float product plus its rounding error, recovered
with Dekker's TwoProduct), so the result is conservative even when the float product rounds across an
integer. The scaled magnitude must stay below 2**53, else :class:`UnitsOverflowError` is raised (never a
silent wrap).

:func:`units_per_row` is the per-row form used by the margin run: amounts up to 2**63 base units are
converted exactly (beyond 2**53 through exact rational arithmetic), and a row that is NaN, infinite or
beyond int64 is flagged rather than aborting every other row.
"""

from __future__ import annotations

import math
from fractions import Fraction

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


_INT64 = 2**63


def units_per_row(
    amount: NDArray[np.float64], decimals: int, *, up: bool
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Exact conservative base units of every element (``up``: ceil, else floor) and a mask of the
    elements that have them; the others (NaN, infinite, or ``|units| >= 2**63``) come back as 0, False."""
    if not 0 <= decimals <= 18:
        raise ConfigError("decimals must be in [0, 18]")
    a = np.asarray(amount, dtype=np.float64)
    ok = np.isfinite(a)
    p, e = _two_product(np.where(ok, a, 0.0), float(10**decimals))
    small = np.abs(p) < _EXACT
    if up:
        r = np.ceil(p)
        fast = r + ((r == p) & (e > 0))
    else:
        r = np.floor(p)
        fast = r - ((r == p) & (e < 0))
    out = np.where(ok & small, fast, 0.0).astype(np.int64)
    for k in np.flatnonzero((ok & ~small).ravel()):  # rare: exact rational conversion
        exact = Fraction(float(a.flat[k])) * 10**decimals
        v = math.ceil(exact) if up else math.floor(exact)
        if abs(v) < _INT64:
            out.flat[k] = v
        else:
            ok.flat[k] = False
    return out, ok
