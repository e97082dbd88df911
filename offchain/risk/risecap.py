"""Anti-procyclicality that limits how fast IM may rise: a bounded daily increase with catch-up over a
floor from the stressed period (EMIR Art. 41(1) and RTS 153/2013 Art. 28; the floor form of Art. 28(1)(c)
combined with a bounded rise).

For one member's daily model IM ``m_t`` and the model's stressed-period measure ``f_t`` (never exceeded
by the cap: no member is ever under-margined against the stressed floor)::

    posted_t = max(f_t, min(m_t, posted_{t-1} * (1 + c)))

A jump of the model above ``(1 + c)`` times yesterday's posted IM is phased in at ``c`` a day (catch-up:
the posted IM keeps rising until it meets the model again); a fall follows the model at once. Measured on
the shipped crashes by :func:`offchain.risk.backtest.procyclicality` (docs/risk.md, "Procyclicality"); not
yet wired into the live margin run.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError

FloatArray = NDArray[np.float64]


def rise_capped(model_im: FloatArray, stress_floor: FloatArray, max_daily_rise: float) -> FloatArray:
    """(T,) posted IM of daily paths ``model_im`` and ``stress_floor`` (T,) under a daily rise cap ``c``."""
    if model_im.shape != stress_floor.shape or model_im.ndim != 1:
        raise ConfigError("model_im and stress_floor must be (T,) of the same length")
    if not max_daily_rise > 0:
        raise ConfigError(f"max_daily_rise must be > 0, got {max_daily_rise}")
    if not (np.all(np.isfinite(model_im)) and np.all(np.isfinite(stress_floor))):
        raise ConfigError("IM paths must be finite")
    if np.any(model_im < 0) or np.any(stress_floor < 0):
        raise ConfigError("IM paths must be >= 0")
    out = np.empty_like(model_im)
    prev = float(model_im[0]) if model_im.size else 0.0
    for t in range(model_im.size):  # one path: a day is a step, there is no vector form of the recursion
        prev = max(float(stress_floor[t]), min(float(model_im[t]), prev * (1.0 + max_daily_rise)))
        out[t] = prev
    return out
