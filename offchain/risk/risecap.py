"""Anti-procyclicality that limits how fast IM may rise: a bounded daily increase with catch-up over a
floor from the stressed period (EMIR Art. 41(1) and RTS 153/2013 Art. 28; the floor form of Art. 28(1)(c)
combined with a bounded rise).

For one member's daily model IM ``m_t`` and the model's stressed-period measure ``f_t`` (never exceeded
by the cap: no member is ever under-margined against the stressed floor)::

    posted_t = max(f_t, min(m_t, posted_{t-1} * (1 + c)))

A jump of the model above ``(1 + c)`` times yesterday's posted IM is phased in at ``c`` a day (catch-up:
the posted IM keeps rising until it meets the model again); a fall follows the model at once. Measured on
the shipped crashes by :func:`offchain.risk.backtest.procyclicality` (docs/risk.md, "Procyclicality").

Live (:func:`capped_requirements`, applied by ``offchain.settlement.margin.RiskEngineMargin``): a member's
book changes during the day, so its reference is the IM in force at the start of the day scaled by how its
**stressed floor** grew since then. The floor is measured on raw stressed-period returns, so it moves with
the book (quantities, marks) and not with today's volatility: a member that doubles its positions doubles its
cap, while a volatility jump on an unchanged book is phased in. A book that was flat at the reference (floor
0) or has no reference is not capped.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError
from offchain.risk.tiers import Tier, im_multipliers

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


def capped_requirements(
    model_im: FloatArray,
    floor_im: FloatArray,
    reference_im: FloatArray,
    reference_floor: FloatArray,
    max_daily_rise: float,
) -> FloatArray:
    """(M,) posted IM under the live rise cap: ``max(f, min(m, R · max(1, f / f_R) · (1 + c)))``.

    ``model_im`` m and ``floor_im`` f (≤ m) are today's; ``reference_im`` R and ``reference_floor`` f_R the
    member's posted IM and stressed floor at the start of the day (NaN: no reference, m is posted). A
    reference floor of 0 (a flat book) lifts the cap to m.
    """
    shapes = {a.shape for a in (model_im, floor_im, reference_im, reference_floor)}
    if len(shapes) != 1 or model_im.ndim != 1:
        raise ConfigError("model_im, floor_im, reference_im and reference_floor must be (M,) of one length")
    if not max_daily_rise > 0:
        raise ConfigError(f"max_daily_rise must be > 0, got {max_daily_rise}")
    if not (np.all(np.isfinite(model_im)) and np.all(np.isfinite(floor_im))):
        raise ConfigError("IM must be finite")
    if np.any(floor_im < 0) or np.any(floor_im > model_im):
        raise ConfigError("need 0 <= floor_im <= model_im")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        growth = np.where(reference_floor > 0, np.maximum(1.0, floor_im / reference_floor), np.inf)
        cap = reference_im * growth * (1.0 + max_daily_rise)
    cap = np.where(np.isfinite(cap) & (reference_im >= 0), cap, np.inf)  # no (or no usable) reference: m
    return np.asarray(np.maximum(floor_im, np.minimum(model_im, cap)), dtype=np.float64)


def stress_floor(
    es_core: FloatArray,
    es_stress: FloatArray,
    addons: FloatArray,
    tiers: tuple[Tier, ...],
    member_tier: NDArray[np.int64],
) -> FloatArray:
    """(M,) the IM with its core at the stressed-period measure (never above the core): what the rise cap
    never goes below. It is the model IM itself whenever the stressed measure is the larger (calm markets).
    ``addons``: concentration plus liquidity add-on, (M,)."""
    core = np.minimum(es_core, np.maximum(es_stress, 0.0))
    return np.asarray(im_multipliers(tiers, member_tier) * (core + addons), dtype=np.float64)
