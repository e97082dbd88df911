"""The L1-L7 allocation of a replay, in USD floats.

The live engine's integer, vault-exact mirror is :mod:`offchain.core.waterfall` (``plan_waterfall``); a
replay needs the same order and caps over simulated balances, not base units, so this module keeps a small
float version of the same rule (to be folded onto the core one once it is committed and stable):
each layer is used only when the one before is exhausted, each up to its capacity, pro-rata layers split
by exact water-filling under caps; whatever no layer covers is reported as ``uncovered`` (never outside
money: the external exposure is zero by construction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

LAYERS: tuple[str, ...] = (
    "L1_defaulter_collateral",
    "L2_defaulter_contribution",
    "L3_operator_capital",
    "L4_survivors_fund",
    "L5_assessments",
    "L6_vm_haircut",
    "L7_adl",
)
MUTUALISED = ("L4_survivors_fund", "L5_assessments", "L6_vm_haircut", "L7_adl")


@dataclass(frozen=True)
class Allocation:
    loss: float
    amounts: tuple[float, ...]  # one per layer of LAYERS
    uncovered: float

    def by_layer(self) -> dict[str, float]:
        return dict(zip(LAYERS, self.amounts, strict=True))


def allocate(loss: float, capacities: Sequence[float]) -> Allocation:
    """Cover ``loss`` ≥ 0 with the layers in order, each up to its capacity (≥ 0)."""
    if len(capacities) != len(LAYERS):
        raise ValueError(f"need {len(LAYERS)} capacities")
    if loss < 0 or any(c < 0 for c in capacities):
        raise ValueError("loss and capacities must be >= 0")
    need = loss
    out = []
    for cap in capacities:
        take = min(need, cap)
        out.append(take)
        need -= take
    return Allocation(loss, tuple(out), need)


def pro_rata(total: float, weights: FloatArray, caps: FloatArray | None = None) -> FloatArray:
    """Split ``total`` pro rata to ``weights`` ≥ 0, each part ≤ its cap; parts sum to min(total, Σ caps)."""
    w = np.asarray(weights, dtype=np.float64)
    cap = np.full_like(w, np.inf) if caps is None else np.asarray(caps, dtype=np.float64)
    if total < 0 or np.any(w < 0) or np.any(cap < 0):
        raise ValueError("total, weights and caps must be >= 0")
    out = np.zeros_like(w)
    active = (w > 0) & (cap > 0)
    if active.any():
        with np.errstate(over="ignore", under="ignore"):
            w = np.where(active, w / w[active].max(), 0.0)  # scale-free: tiny weights must not overflow below
        active &= w > 0
    remaining = min(total, float(cap[active].sum())) if active.any() else 0.0
    while active.any() and remaining > 0:
        share = remaining * w / w[active].sum()
        over = active & (share >= cap)
        if not over.any():
            out[active] = np.minimum(share[active], cap[active])
            break
        out[over] = cap[over]
        remaining -= float(cap[over].sum())
        active &= ~over
    return out
