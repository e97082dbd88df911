"""Tail risk measures over scenario losses, vectorised over rows (members / portfolios).

Both act on the last axis of a loss array ``losses: (..., S)`` (loss = minus P&L) and return (...,).

* Expected Shortfall at level ``alpha`` is the mean of the worst ``n = (1 - alpha) * S`` losses, with the
  fractional part of ``n`` weighting the next loss (Acerbi & Tasche). This discrete form is a coherent
  measure: positively homogeneous and sub-additive in the loss vector, so netting never raises it.
* VaR at level ``alpha`` is the ``ceil(n)``-th largest loss (conservative discrete quantile), so
  ``ES(alpha) >= VaR(alpha)`` always holds.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from offchain.risk.errors import ConfigError

FloatArray = NDArray[np.float64]


def _tail_count(alpha: float, s: int) -> float:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"confidence level must be in (0, 1), got {alpha}")
    if s < 1:
        raise ConfigError("need at least one scenario")
    return max(round((1.0 - alpha) * s, 9), 0.0)


def expected_shortfall(losses: FloatArray, alpha: float) -> FloatArray:
    """ES at ``alpha`` of each row of ``losses`` (..., S) → (...,)."""
    s = losses.shape[-1]
    n = _tail_count(alpha, s)
    if n <= 0:
        return np.asarray(losses.max(axis=-1), dtype=np.float64)
    n = min(n, float(s))
    k = min(math.floor(n), s - 1)
    part = np.partition(losses, s - k - 1, axis=-1)
    top = part[..., s - k - 1 :]
    nxt = top[..., 0]
    total = top.sum(axis=-1) - nxt + (n - k) * nxt
    return np.asarray(total / n, dtype=np.float64)


def value_at_risk(losses: FloatArray, alpha: float) -> FloatArray:
    """VaR at ``alpha``: the ``ceil((1 - alpha) * S)``-th largest loss of each row, (..., S) → (...,)."""
    s = losses.shape[-1]
    kk = min(max(math.ceil(_tail_count(alpha, s)), 1), s)
    return np.asarray(np.partition(losses, s - kk, axis=-1)[..., s - kk], dtype=np.float64)


def core_measure(
    losses: FloatArray,
    n_fhs: int,
    *,
    var: bool,
    alpha: float,
    stressed_weight: float,
    buffer: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Anti-procyclical core risk of each row of ``losses`` (..., S1 + S2) → three (...,) arrays.

    Columns ``[:n_fhs]`` are FHS scenarios, the rest stressed scenarios. Returns ``(core, fhs, stress)``
    where ``core = max(0, (1 + buffer) * ((1 - w) * fhs + w * stress))``; the caller sets either
    ``stressed_weight`` (w) or ``buffer`` (b) and the other to 0. With no stressed scenarios,
    ``stress = fhs``.
    """
    measure = value_at_risk if var else expected_shortfall
    fhs = measure(losses[..., :n_fhs], alpha)
    stress = measure(losses[..., n_fhs:], alpha) if losses.shape[-1] > n_fhs else fhs
    core = (1.0 + buffer) * ((1.0 - stressed_weight) * fhs + stressed_weight * stress)
    return np.maximum(core, 0.0), fhs, stress
