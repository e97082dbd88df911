"""The replay's L1-L7 waterfall: the core allocation (:func:`offchain.core.waterfall.plan_waterfall`), the
same one the live engine plans with and the vault mirrors, fed from the replay's USD state.

One implementation of the layer order and the pro-rata / cap rules; this module only converts at the
boundary, **conservatively**: the loss is rounded *up* to integer settlement base units, every capacity
(collateral, contributions, operator capital, assessment budgets, VM gains, profits) *down*, and the draws
come back as USD floats (``units / 10**decimals``), so a replay never covers more than it has. How the
replay's state maps onto the core's input:

* **L1** the defaulter's haircut collateral value seized at default: one holding of a non-settlement asset
  worth one base unit per unit (its haircut is already in the value).
* **L2** its contribution; **L3** the operator capital left.
* **L4** survivors' contributions: the pool is the survivors' current contributions plus the defaulter's;
  each survivor's pool shares are its contribution at the DECLARE (one share per base unit), so L4 splits
  pro rata to them, as the vault's pool does.
* **L5** assessments: pro rata to each survivor's contribution at the DECLARE, each at most
  ``ASSESSMENT_CAP_MULTIPLE`` × that contribution (the vault's constant) and at most the survivor's
  "cash", which in the replay is its **remaining assessment budget in the window**
  (``assessment_multiple`` × its first contribution, less what earlier defaults assessed: the fund is not
  replenished within a window).
* **L6** survivors' VM gains in the window. **L7** ADL: every survivor position on the opposite side of
  the defaulter's, ranked by the core's published rank (profit, then size, then account), each giving up
  at most its profit since the window's start.

Whatever no layer covers is ``uncovered`` (never outside money: the core's ``external`` is zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from offchain.core.batch import FIRST_MEMBER_ACCOUNT
from offchain.core.waterfall import (
    ASSESSMENT_CAP_MULTIPLE,
    AdlCandidate,
    CollateralHolding,
    Layer,
    Pool,
    Survivor,
    WaterfallInput,
    WaterfallPlan,
    plan_waterfall,
)
from offchain.risk.units import to_units_down, to_units_up

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
LAYER_NAMES: dict[Layer, str] = dict(zip(Layer, LAYERS, strict=True))

#: The pseudo-asset holding the defaulter's seized collateral value (not the settlement asset 0).
COLLATERAL_VALUE_ASSET = 1


@dataclass(frozen=True)
class Position:
    """A survivor's position in one instrument on the opposite side of the defaulter's (an ADL candidate)."""

    member: int
    instrument: str
    notional: float  # signed USD notional at the current mark (ranking tie-break: larger first)
    profit: float  # its profit since the window's start (USD); only > 0 is ranked


@dataclass(frozen=True)
class WaterfallState:
    """The replay's state at a COVER, in USD (arrays (M,) over all members; non-survivors hold 0)."""

    defaulter: int
    loss: float
    collateral: float  # L1: the defaulter's haircut collateral value seized at default
    contribution: float  # L2
    operator_capital: float  # L3 left
    contributions: FloatArray  # survivors' current contributions (L4)
    declared: FloatArray  # survivors' contributions at the DECLARE (L4 shares, L5 weights and caps)
    assessment_budget: FloatArray  # survivors' remaining assessment budget in the window (L5 cash cap)
    vm_gains: FloatArray  # survivors' VM gains in the window (L6)
    adl: Sequence[Position] = ()


@dataclass(frozen=True)
class Cover:
    """The plan in USD: the loss as covered (rounded up), per layer and per member."""

    loss: float
    layers: dict[str, float]
    uncovered: float
    survivors_fund: FloatArray  # (M,) L4 part of each survivor's contribution
    assessments: FloatArray  # (M,) L5
    vm_haircuts: FloatArray  # (M,) L6
    adl: FloatArray  # (M,) L7 (summed over each member's positions)
    adl_count: int  # positions deleveraged
    plan: WaterfallPlan


def _down(x: float | FloatArray, decimals: int) -> NDArray[np.int64]:
    return to_units_down(np.maximum(np.atleast_1d(np.asarray(x, dtype=np.float64)), 0.0), decimals)


def _account(m: int) -> int:
    return FIRST_MEMBER_ACCOUNT + m


def cover(s: WaterfallState, decimals: int) -> Cover:
    """Run the core waterfall on ``s`` (USD), converting at the boundary (loss up, capacities down)."""
    if s.loss < 0:
        raise ValueError("loss must be >= 0")
    m_n = len(s.contributions)
    for arr in (s.declared, s.assessment_budget, s.vm_gains):
        if len(arr) != m_n:
            raise ValueError("member arrays must have the same length")
    scale = 10.0**decimals
    loss = int(to_units_up(np.array([s.loss]), decimals)[0])
    current = _down(s.contributions, decimals)
    declared = _down(s.declared, decimals)
    budget = _down(s.assessment_budget, decimals)
    gains = _down(s.vm_gains, decimals)
    own = int(_down(s.contribution, decimals)[0])
    survivors = tuple(
        Survivor(_account(m), int(declared[m]), int(budget[m]))
        for m in range(m_n)
        if m != s.defaulter and (declared[m] > 0 or budget[m] > 0 or current[m] > 0)
    )
    total_declared = sum(v.shares for v in survivors)
    candidates = []
    for p in s.adl:
        if p.member == s.defaulter:
            continue
        profit = int(_down(p.profit, decimals)[0])
        size = int(_down(abs(p.notional), decimals)[0])
        candidates.append(AdlCandidate(_account(p.member), p.instrument, size if p.notional >= 0 else -size, profit))
    plan = plan_waterfall(
        WaterfallInput(
            defaulter=_account(s.defaulter),
            loss=loss,
            collateral=(
                CollateralHolding(
                    COLLATERAL_VALUE_ASSET, int(_down(s.collateral, decimals)[0]), 10**decimals, 0, decimals
                ),
            ),
            contribution=own,
            operator_capital=int(_down(s.operator_capital, decimals)[0]),
            pool=Pool(own + int(sum(int(current[m]) for m in range(m_n) if m != s.defaulter)), total_declared),
            pool_at_declare=Pool(total_declared, total_declared),
            survivors=survivors,
            vm_gains={_account(m): int(gains[m]) for m in range(m_n) if m != s.defaulter and gains[m] > 0},
            adl_candidates=tuple(candidates),
        )
    )

    def per_member(units: dict[int, int]) -> FloatArray:
        out = np.zeros(m_n)
        for account, v in units.items():
            out[account - FIRST_MEMBER_ACCOUNT] += v / scale
        return out

    adl_units: dict[int, int] = {}
    for alloc in plan.adl:
        adl_units[alloc.account] = adl_units.get(alloc.account, 0) + alloc.amount
    return Cover(
        loss=loss / scale,
        layers={LAYER_NAMES[k]: v / scale for k, v in plan.by_layer().items()},
        uncovered=plan.uncovered / scale,
        survivors_fund=per_member({d.account: d.value for d in plan.l4_shares}),
        assessments=per_member({d.account: d.value for d in plan.assessments}),
        vm_haircuts=per_member({d.account: d.value for d in plan.vm_haircuts}),
        adl=per_member(adl_units),
        adl_count=plan.adl_count,
        plan=plan,
    )


__all__ = ["ASSESSMENT_CAP_MULTIPLE", "LAYERS", "MUTUALISED", "Cover", "Position", "WaterfallState", "cover"]
