"""The default waterfall, as the vault applies it: a pure mirror the engine plans with and the auditor checks.

Given the on-chain state at a COVER (the defaulter's debt, its collateral at the last posted marks, its
default-fund contribution, operator capital, the pool, the survivors' contributions as they stood at the
DECLARE and their cash) and the loss to cover, `plan_waterfall` returns exactly the draws the vault makes,
layer by layer, each layer only once the one before is exhausted:

 L1 the defaulter's non-settlement collateral, asset by asset in asset order, seized into the default
    fund's account. The quantity is rounded up so that its haircut value (floor) covers what is still
    needed, and capped at the balance; an asset with no haircut value (zero price, 100% haircut) covers
    nothing and is not seized.
 L2 the defaulter's own default-fund contribution, written off against the debt.
 L3 operator capital (account 3 cash).
 L4 the surviving members' contributions, pro rata (on-chain the pool's value drops; `l4_shares` reports
    each survivor's part, by pool shares; members in default hold `others_shares` and lose their part too).
 L5 assessments (ASSESS rows): pro rata to each survivor's contribution at DECLARE, each capped at
    `ASSESSMENT_CAP_MULTIPLE` × that contribution and at the survivor's cash, summing exactly to what L1-L4
    left uncovered (or to the layer's capacity if that is smaller).
 L6 variation-margin gains haircutting (off-chain): pro rata to each member's VM gains, capped at them.
 L7 auto-deleveraging (off-chain): the most profitable opposite positions first, each with a published
    rank, each contributing at most its profit.

The COVER row carries `cover_amount` = what L1-L5 cover: the vault reverts a COVER that ASSESS rows do not
complete, so L6/L7 never move funds that L1-L5 could have covered. Every amount is an integer in
settlement-asset base units (L1 `amount` in the collateral token's base units). No outside money, ever:
`external` is 0 by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from offchain.core.accounting import pow10
from offchain.core.batch import BPS, DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET

ASSESSMENT_CAP_MULTIPLE = 2  # the vault's constant: assessment ≤ 2 × contribution at DECLARE
_OTHERS = -1  # the L4 weight of `WaterfallInput.others_shares` (no account has this number)


class Layer(IntEnum):
    COLLATERAL = 1
    OWN_CONTRIBUTION = 2
    OPERATOR_CAPITAL = 3
    SURVIVORS_FUND = 4
    ASSESSMENT = 5
    VM_HAIRCUT = 6
    ADL = 7


@dataclass(frozen=True)
class CollateralHolding:
    """A defaulter's balance of one collateral asset and that asset's last posted mark."""

    asset: int
    balance: int  # token base units
    price: int  # settlement base units per whole token (10**decimals base units)
    haircut_bps: int
    decimals: int


@dataclass(frozen=True)
class Survivor:
    """A member not in an open default when the COVER applies, with a stake in the default fund. A member
    declared in default earlier in the same batch is not one: its DECLARE row precedes the COVER and the
    vault refuses to assess it (`MemberInDefault`)."""

    account: int
    # its exact pool shares as they stood at the DECLARE (the vault's snapshot; equal to its current shares
    # while contributions stay frozen), never derived from contribution values
    shares: int
    cash: int  # settlement-asset cash available to pay an assessment in this batch (no advance)


@dataclass(frozen=True)
class Pool:
    """The default fund's pool: value in settlement base units, and total shares."""

    value: int
    shares: int

    def value_of(self, shares: int) -> int:
        """floor(shares × value / total shares): a contribution's value."""
        return shares * self.value // self.shares if self.shares else 0


@dataclass(frozen=True)
class AdlCandidate:
    """A position on the opposite side of the defaulter's, eligible for auto-deleveraging."""

    account: int
    instrument: str
    qty: int  # signed
    profit: int  # its unrealised profit in settlement base units (only > 0 positions are ranked)


@dataclass(frozen=True)
class WaterfallInput:
    defaulter: int
    loss: int  # the debt to cover (the liquidity advance outstanding)
    collateral: tuple[CollateralHolding, ...]
    contribution: int  # the defaulter's current contribution value
    operator_capital: int
    pool: Pool  # current pool (includes the defaulter's contribution)
    pool_at_declare: Pool  # pool value and total shares stored at DECLARE
    survivors: tuple[Survivor, ...]
    # Pool shares held by members that are not survivors (others in an open default, including one declared
    # earlier in the same batch): their contributions bear their part of an L4 draw too, which `l4_shares`
    # does not list; they are never assessed.
    others_shares: int = 0
    vm_gains: Mapping[int, int] = field(default_factory=dict)  # account -> VM gains available to haircut (L6)
    adl_candidates: tuple[AdlCandidate, ...] = ()


@dataclass(frozen=True)
class Draw:
    """One draw, as a WaterfallDraw event reports it: `amount` of `asset` from `account`, worth `value`."""

    layer: Layer
    account: int
    asset: int
    amount: int
    value: int


@dataclass(frozen=True)
class AdlAllocation:
    rank: int  # 1 = first to be deleveraged
    account: int
    instrument: str
    qty: int
    profit: int
    amount: int  # what it gives up (0: ranked but not reached)


@dataclass(frozen=True)
class WaterfallPlan:
    loss: int
    draws: tuple[Draw, ...]  # L1-L4, in the vault's order (what COVER does)
    l4_shares: tuple[Draw, ...]  # per-survivor breakdown of the L4 draw (report)
    assessments: tuple[Draw, ...]  # L5: the ASSESS rows, by account
    vm_haircuts: tuple[Draw, ...]  # L6 (off-chain)
    adl: tuple[AdlAllocation, ...]  # L7 ranking (off-chain); amount > 0 for those deleveraged
    uncovered: int  # what even L7 could not cover (0 unless the market has no opposite profit left)
    external: int = 0  # outside money used: always zero

    @property
    def cover_amount(self) -> int:
        """The COVER row's amount: what the vault covers on-chain (L1-L5)."""
        return sum(d.value for d in self.draws) + sum(d.value for d in self.assessments)

    def by_layer(self) -> dict[Layer, int]:
        """Value covered per layer (every layer present, 0 when unused)."""
        out = {layer: 0 for layer in Layer}
        for d in (*self.draws, *self.assessments, *self.vm_haircuts):
            out[d.layer] += d.value
        out[Layer.ADL] = sum(a.amount for a in self.adl)
        return out

    @property
    def adl_count(self) -> int:
        return sum(1 for a in self.adl if a.amount > 0)


# ---------------------------------------------------------------- arithmetic shared with the vault


def haircut_value(balance: int, price: int, haircut_bps: int, decimals: int) -> int:
    """floor(balance × price × (10000 − haircut) / (10**decimals × 10000)), as Margin.haircutValue."""
    if balance == 0 or price == 0:
        return 0
    return balance * price * (BPS - haircut_bps) // (pow10(decimals) * BPS)


def seize_for(need: int, h: CollateralHolding) -> tuple[int, int]:
    """(quantity seized, value covered) of one collateral asset towards `need`.

    quantity = min(ceil(need × 10**decimals × 10000 / (price × (10000 − haircut))), balance), so that
    its haircut value is ≥ need unless the balance runs out; covered = min(haircut value, need).
    """
    if need <= 0 or h.balance == 0 or h.price == 0 or h.haircut_bps >= BPS:
        return 0, 0
    den = h.price * (BPS - h.haircut_bps)
    qty = min(-(-need * pow10(h.decimals) * BPS // den), h.balance)
    return qty, min(haircut_value(qty, h.price, h.haircut_bps, h.decimals), need)


def pro_rata(total: int, weights: Mapping[int, int], caps: Mapping[int, int] | None = None) -> dict[int, int]:
    """Split `total` pro rata to `weights` in integers, each part ≤ its cap, summing exactly to
    min(total, Σ caps of positive weights).

    Exact water-filling: parts whose exact pro-rata share exceeds their cap are fixed at the cap and the
    rest is split again among the others; the final split floors each exact share and hands the units
    left over, one each, to the largest fractional remainders (ties: lower account first). A part with a
    fractional remainder has an exact share strictly below its (integer) cap, so the extra unit never
    breaks a cap. Keys with zero weight or zero cap get 0.
    """
    if total < 0 or any(w < 0 for w in weights.values()):
        raise ValueError("pro_rata needs total >= 0 and weights >= 0")
    cap = {k: (caps[k] if caps is not None else total) for k in weights}
    if any(c < 0 for c in cap.values()):
        raise ValueError("caps must be >= 0")
    out = dict.fromkeys(weights, 0)
    active = sorted(k for k, w in weights.items() if w > 0 and cap[k] > 0)
    remaining = min(total, sum(cap[k] for k in active))
    while active:
        w_sum = sum(weights[k] for k in active)
        over = [k for k in active if remaining * weights[k] > cap[k] * w_sum]
        if not over:
            break
        for k in over:
            out[k] = cap[k]
            remaining -= cap[k]
        active = [k for k in active if k not in over]
    if not active:
        return out
    w_sum = sum(weights[k] for k in active)
    floors = {k: remaining * weights[k] // w_sum for k in active}
    left = remaining - sum(floors.values())
    order = sorted(active, key=lambda k: (-(remaining * weights[k] % w_sum), k))
    for i, k in enumerate(order):
        out[k] = floors[k] + (1 if i < left else 0)
    return out


# ---------------------------------------------------------------- the plan


def plan_waterfall(s: WaterfallInput) -> WaterfallPlan:
    """Exactly the draws the vault makes for COVER of `s.loss`, then the ASSESS rows, then L6/L7."""
    if s.loss < 0:
        raise ValueError("loss must be >= 0")
    need = s.loss
    draws: list[Draw] = []

    for h in sorted(s.collateral, key=lambda c: c.asset):  # L1
        if h.asset == SETTLEMENT_ASSET:
            continue  # its cash is 0 while it has debt: credits repay debt first
        qty, covered = seize_for(need, h)
        if covered:  # as the vault: a seizure worth nothing (dust at a floor value of 0) is not made
            draws.append(Draw(Layer.COLLATERAL, s.defaulter, h.asset, qty, covered))
            need -= covered

    own = min(need, s.contribution)  # L2
    if own:
        draws.append(Draw(Layer.OWN_CONTRIBUTION, s.defaulter, SETTLEMENT_ASSET, own, own))
        need -= own

    capital = min(need, s.operator_capital)  # L3
    if capital:
        draws.append(Draw(Layer.OPERATOR_CAPITAL, OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET, capital, capital))
        need -= capital

    pool_left = max(s.pool.value - s.contribution, 0)  # L4: reached only once L2 wrote all of it off
    fund = min(need, pool_left)
    l4_shares: tuple[Draw, ...] = ()
    if fund:
        draws.append(Draw(Layer.SURVIVORS_FUND, DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET, fund, fund))
        need -= fund
        weights = {v.account: v.shares for v in s.survivors}
        if s.others_shares:
            weights[_OTHERS] = s.others_shares
        parts = pro_rata(fund, weights)
        l4_shares = tuple(
            Draw(Layer.SURVIVORS_FUND, a, SETTLEMENT_ASSET, v, v)
            for a, v in sorted(parts.items())
            if v and a != _OTHERS
        )

    assessments: tuple[Draw, ...] = ()
    if need:  # L5: only once L4 left the pool at zero
        at_declare = {v.account: s.pool_at_declare.value_of(v.shares) for v in s.survivors}
        caps = {v.account: min(ASSESSMENT_CAP_MULTIPLE * at_declare[v.account], max(v.cash, 0)) for v in s.survivors}
        parts = pro_rata(need, at_declare, caps)
        assessments = tuple(Draw(Layer.ASSESSMENT, a, SETTLEMENT_ASSET, v, v) for a, v in sorted(parts.items()) if v)
        need -= sum(d.value for d in assessments)

    haircuts: tuple[Draw, ...] = ()
    if need and s.vm_gains:  # L6
        gains = {a: g for a, g in s.vm_gains.items() if g > 0 and a != s.defaulter}
        parts = pro_rata(need, gains, gains)
        haircuts = tuple(Draw(Layer.VM_HAIRCUT, a, SETTLEMENT_ASSET, v, v) for a, v in sorted(parts.items()) if v)
        need -= sum(d.value for d in haircuts)

    ranked = rank_adl(s.adl_candidates)
    adl: list[AdlAllocation] = []
    for c in ranked:  # L7: in rank order, each up to its profit
        take = min(need, c.profit) if need else 0
        adl.append(AdlAllocation(c.rank, c.account, c.instrument, c.qty, c.profit, take))
        need -= take

    return WaterfallPlan(
        loss=s.loss,
        draws=tuple(draws),
        l4_shares=l4_shares,
        assessments=assessments,
        vm_haircuts=haircuts,
        adl=tuple(adl),
        uncovered=need,
    )


def rank_adl(candidates: Iterable[AdlCandidate]) -> list[AdlAllocation]:
    """The published ADL ranking: profitable positions only, most profitable first (ties: larger |qty|,
    then account, then instrument), rank 1 first. Amounts are 0 here; `plan_waterfall` fills them in."""
    eligible = [c for c in candidates if c.profit > 0]
    eligible.sort(key=lambda c: (-c.profit, -abs(c.qty), c.account, c.instrument))
    return [AdlAllocation(i + 1, c.account, c.instrument, c.qty, c.profit, 0) for i, c in enumerate(eligible)]


def layer_capacity(s: WaterfallInput) -> dict[Layer, int]:
    """What each on-chain layer could cover at most, for reports (L1 at haircut value)."""
    l1 = sum(haircut_value(h.balance, h.price, h.haircut_bps, h.decimals) for h in s.collateral if h.asset)
    at_declare = {v.account: s.pool_at_declare.value_of(v.shares) for v in s.survivors}
    l5 = sum(min(ASSESSMENT_CAP_MULTIPLE * at_declare[v.account], max(v.cash, 0)) for v in s.survivors)
    return {
        Layer.COLLATERAL: l1,
        Layer.OWN_CONTRIBUTION: s.contribution,
        Layer.OPERATOR_CAPITAL: s.operator_capital,
        Layer.SURVIVORS_FUND: max(s.pool.value - s.contribution, 0),
        Layer.ASSESSMENT: l5,
    }
