"""Tail risk measures over scenario losses, vectorised over rows (members / portfolios).

Both act on the last axis of a loss array ``losses: (..., S)`` (loss = minus P&L) and return (...,).

* Expected Shortfall at level ``alpha`` is the mean of the worst ``n = (1 - alpha) * S`` losses, with the
  fractional part of ``n`` weighting the next loss (Acerbi & Tasche). This discrete form is a coherent
  measure: positively homogeneous and sub-additive in the loss vector, so netting never raises it.
* VaR at level ``alpha`` is the ``ceil(n)``-th largest loss (conservative discrete quantile), so
  ``ES(alpha) >= VaR(alpha)`` always holds.
* The basis-dislocation block of the stressed scenarios (see :mod:`offchain.risk.scenarios`) is measured by
  the mean of its ``k`` worst losses (an ES with a fixed tail count, coherent as well).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

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


def worst_mean(losses: FloatArray, k: int) -> FloatArray:
    """Mean of the ``k`` largest losses of each row of ``losses`` (..., S) → (...,); ``k`` is capped at S."""
    s = losses.shape[-1]
    if k < 1 or s < 1:
        raise ConfigError("need k >= 1 and at least one scenario")
    k = min(k, s)
    return np.asarray(np.partition(losses, s - k, axis=-1)[..., s - k :].mean(axis=-1), dtype=np.float64)


def _lower_worst_mean(pnl: FloatArray, k: int) -> FloatArray:
    """:func:`worst_mean` of the losses ``-pnl``, from the lowest P&Ls."""
    s = pnl.shape[-1]
    k = min(max(k, 1), s)
    return np.asarray(-np.partition(pnl, k - 1, axis=-1)[..., :k].mean(axis=-1), dtype=np.float64)


def _combine(fhs: FloatArray, stress: FloatArray, stressed_weight: float, buffer: float) -> FloatArray:
    """``max(0, (1 + b) · max(fhs, (1 - w) · fhs + w · stress))``: the stressed block only ever adds."""
    mix = np.maximum(fhs, (1.0 - stressed_weight) * fhs + stressed_weight * stress)
    return np.asarray(np.maximum((1.0 + buffer) * mix, 0.0), dtype=np.float64)


def core_measure(
    losses: FloatArray,
    n_fhs: int,
    *,
    var: bool,
    alpha: float,
    stressed_weight: float,
    buffer: float,
    n_basis: int = 0,
    basis_count: int = 1,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Anti-procyclical core risk of each row of ``losses`` (..., S1 + S2) → three (...,) arrays.

    Columns ``[:n_fhs]`` are FHS scenarios, the rest stressed scenarios, of which the last ``n_basis`` are
    the basis-dislocation block. Returns ``(core, fhs, stress)`` where
    ``stress = max(measure(stressed periods), worst_mean(basis block, basis_count))`` and
    ``core = max(0, (1 + buffer) * max(fhs, (1 - w) * fhs + w * stress))`` — the stressed block can
    raise the FHS measure, never lower it (a maximum of coherent measures is coherent); the caller sets either
    ``stressed_weight`` (w) or ``buffer`` (b) and the other to 0. With no stressed-period scenarios the
    period part is ``fhs``.
    """
    measure = value_at_risk if var else expected_shortfall
    s = losses.shape[-1]
    _check_split(s, n_fhs, n_basis, basis_count)
    fhs = measure(losses[..., :n_fhs], alpha)
    stress = measure(losses[..., n_fhs : s - n_basis], alpha) if s - n_basis > n_fhs else fhs
    if n_basis:
        stress = np.maximum(stress, worst_mean(losses[..., s - n_basis :], basis_count))
    return _combine(fhs, stress, stressed_weight, buffer), fhs, stress


def _check_split(s: int, n_fhs: int, n_basis: int, basis_count: int) -> None:
    if not (n_fhs > 0 and n_basis >= 0 and n_fhs + n_basis <= s):
        raise ConfigError(f"bad scenario split: S = {s}, n_fhs = {n_fhs}, n_basis = {n_basis}")
    if n_basis and basis_count < 1:
        raise ConfigError("basis_count must be >= 1")


def _lower_tail_mean(pnl: FloatArray, alpha: float) -> FloatArray:
    """ES at ``alpha`` of the losses ``-pnl`` (rows of a C-contiguous (m, S) block), from the lowest P&Ls."""
    s = pnl.shape[-1]
    n = min(_tail_count(alpha, s), float(s))
    if n <= 0:
        return np.asarray(-pnl.min(axis=-1), dtype=np.float64)
    k = min(math.floor(n), s - 1)
    low = np.partition(pnl, k, axis=-1)[..., : k + 1]
    nxt = low[..., k]
    total = low.sum(axis=-1) - nxt + (n - k) * nxt
    return np.asarray(-total / n, dtype=np.float64)


def _lower_var(pnl: FloatArray, alpha: float) -> FloatArray:
    s = pnl.shape[-1]
    kk = min(max(math.ceil(_tail_count(alpha, s)), 1), s)
    return np.asarray(-np.partition(pnl, kk - 1, axis=-1)[..., kk - 1], dtype=np.float64)


#: Rows per block of :func:`core_measure_pnl` (a block of P&L fits in L2 cache).
_BLOCK_ROWS = 256


def core_measure_pnl(
    pnl: FloatArray,
    n_fhs: int,
    *,
    var: bool,
    alpha: float,
    stressed_weight: float,
    buffer: float,
    n_basis: int = 0,
    basis_count: int = 1,
    threads: int | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`core_measure` of the losses ``-pnl`` for a (M, S1 + S2) P&L matrix, without negating it.

    The rows are cut in blocks that are partitioned on a thread pool (numpy's partition releases the
    GIL), so the tails use every core, as the matrix product before it does.
    """
    if pnl.ndim != 2:
        raise ConfigError("pnl must be (M, S)")
    measure = _lower_var if var else _lower_tail_mean
    m, s = pnl.shape
    _check_split(s, n_fhs, n_basis, basis_count)
    fhs = np.empty(m)
    stress = np.empty(m)
    end = s - n_basis  # stressed periods are [n_fhs, end), the basis block [end, s)
    has_stress = end > n_fhs

    def work(lo: int) -> None:
        blk = pnl[lo : lo + _BLOCK_ROWS]
        f = fhs[lo : lo + _BLOCK_ROWS]
        f[:] = measure(blk[:, :n_fhs], alpha)
        st = stress[lo : lo + _BLOCK_ROWS]
        st[:] = measure(blk[:, n_fhs:end], alpha) if has_stress else f
        if n_basis:
            np.maximum(st, _lower_worst_mean(blk[:, end:], basis_count), out=st)

    starts = range(0, m, _BLOCK_ROWS)
    n_threads = min(threads or os.cpu_count() or 1, len(starts))
    if n_threads <= 1:
        for lo in starts:
            work(lo)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(work, starts))
    return _combine(fhs, stress, stressed_weight, buffer), fhs, stress
