"""Default-fund contributions: Cover-2 targets from the risk engine, and the batch rows that move members
towards them.

* **Sizing** (`cover2_targets`): every member's loss in each stressed scenario of the risk model (the
  model's historical stressed block at the liquidation horizons, and its hypothetical scenarios), its
  excess over its IM, the fund = the largest sum of the two largest excesses over scenarios (Cover 2,
  offchain/risk/platform.py), split pro rata to each member's worst excess × its tier's default-fund
  multiplier, rounded up to base units. A member's loss includes its collateral's fall beyond the
  haircut in the same scenario (wrong-way risk), from the holdings the batch margins.
* **Schedule** (`contribution_rows`): recomputed every `every` batches, and at the first batch after a
  default closes (replenishment). While any default is open, no contribution row is made at all: a
  contribution is never returned then (the vault would revert `ContributionLocked`), and the pool shares
  stay as they were at DECLARE, on which the assessment caps rest.
* A top-up is at most the member's settlement-asset cash after the batch (the vault advances nothing for
  contributions); what it cannot pay waits for the next recompute. A contribution above target is returned
  (< 0 row) only when the excess is at least `return_threshold` of the target, to avoid churn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from offchain.core.accounting import pow10
from offchain.core.batch import BPS
from offchain.core.obligations import InstrumentSpec
from offchain.risk import MarginConfig, RiskModel
from offchain.risk.platform import CollateralStress, cover2, stress_losses
from offchain.risk.tiers import df_multipliers


class StressedBook(Protocol):
    """What Cover-2 sizing reads from the engine's margin adapter (offchain/settlement/margin.py's
    `RiskEngineMargin` is one): the calibrated model, its instrument columns and the tier table. Declared
    here so that defaults does not import settlement: the builder passes its margin adapter in."""

    @property
    def model(self) -> RiskModel: ...
    @property
    def config(self) -> MarginConfig: ...
    @property
    def scale(self) -> int: ...
    @property
    def columns(self) -> dict[str, int]: ...
    @property
    def instruments(self) -> dict[str, InstrumentSpec]: ...
    @property
    def tier_index(self) -> dict[str, int]: ...
    def collateral_stress(
        self,
        members: Sequence[tuple[int, str]],
        holdings: Mapping[tuple[int, int], int],
        collateral_prices: Mapping[int, int],
    ) -> CollateralStress: ...


@dataclass(frozen=True)
class FundPolicy:
    every: int = 100  # batches between recomputations
    return_threshold_bps: int = 1_000  # return an excess only once it is >= 10% of the target


def cover2_targets(
    margin: StressedBook,
    members: Sequence[tuple[int, str]],
    positions: Mapping[tuple[int, str], int],
    marks: Mapping[str, int],
    im: Mapping[int, int],
    holdings: Mapping[tuple[int, int], int] | None = None,
    collateral_prices: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """Each member's Cover-2 contribution target in settlement base units (rounded up).

    With the members' ``holdings`` ((account, asset) -> base units) and the batch's ``collateral_prices``,
    each member's stressed loss also includes its collateral's fall beyond the haircut in the same
    scenario (wrong-way: a member long ETH posting WETH loses on both; offchain/risk/platform.py)."""
    if len(members) < 2:
        return {a: 0 for a, _ in members}
    scale = margin.scale
    row = {a: k for k, (a, _) in enumerate(members)}
    q = np.zeros((len(members), len(margin.model.universe)))
    for (account, instrument), qty in positions.items():
        if account in row:
            q[row[account], margin.columns[instrument]] += qty / pow10(margin.instruments[instrument].qty_decimals)
    prices = np.ones(len(margin.model.universe))
    for instrument, col in margin.columns.items():
        if instrument in marks:
            prices[col] = marks[instrument] / scale
    collateral = None
    if holdings is not None and collateral_prices is not None:
        collateral = margin.collateral_stress(members, holdings, collateral_prices)
    losses = stress_losses(q, prices, margin.model, collateral).by_scenario
    im_f = np.array([im.get(a, 0) / scale for a, _ in members])
    tiers = np.array([margin.tier_index[t] for _, t in members], dtype=np.int64)
    fund = cover2(losses, im_f, df_multipliers(margin.config.tiers, tiers), margin.config.decimals)
    return {a: int(fund.contribution_units[k]) for a, k in row.items()}


def due(sequence: int, policy: FundPolicy, open_defaults: int, closed_since_last: bool) -> bool:
    """Whether this batch recomputes contributions."""
    if open_defaults:
        return False
    return closed_since_last or sequence % policy.every == 0


def contribution_rows(
    targets: Mapping[int, int], current: Mapping[int, int], cash: Mapping[int, int], policy: FundPolicy
) -> dict[int, int]:
    """account -> contribution row amount (> 0 in, < 0 returned); accounts with nothing to do are left out."""
    out: dict[int, int] = {}
    for account, target in sorted(targets.items()):
        have = current.get(account, 0)
        if target > have:
            pay = min(target - have, max(cash.get(account, 0), 0))
            if pay > 0:
                out[account] = pay
        elif (have - target) * BPS >= policy.return_threshold_bps * max(target, 1) and have > target:
            out[account] = target - have
    return out
