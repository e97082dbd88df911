"""Margin calls and cure: a pure decision per member per batch, from the vault's own view of the member.

A member's **equity** is what the vault sees after the batch: Σ haircut value of its balances at the posted
marks (floor, as `Margin.haircutValue`) − its debt (the liquidity advance outstanding). Rules:

* **Call**: equity < MM, or any debt (an advance is a shortfall by definition). Amount = max(IM − equity,
  debt): what restores initial margin and repays the advance. Deadline = now + `cure_s`.
* **Deep breach**: equity < 0, or equity < `deep_fraction_bps` of MM: the cure shortens to `deep_cure_s`.
  A call that deepens later has its deadline brought forward (never pushed back).
* **Cure**: equity ≥ IM and no debt, before the deadline (top-up, or risk reduced so IM falls). The call is
  cleared (a marginCall row with amount 0).
* **Default**: a call not cured by its deadline (the first batch at or after it) → DECLARE.
* A call's row is re-posted when its amount rises or its deadline comes forward; it is not re-posted as
  the amount falls (the member sees the worst case until it cures).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from offchain.core.accounting import pow10
from offchain.core.batch import BPS


@dataclass(frozen=True)
class CallPolicy:
    cure_s: int = 2 * 3600  # cure period of an ordinary call
    deep_cure_s: int = 30 * 60  # cure period of a deep breach
    deep_fraction_bps: int = 5_000  # equity below 50% of MM is a deep breach (as is equity < 0)

    def __post_init__(self) -> None:
        if not 0 < self.deep_cure_s <= self.cure_s or not 0 < self.deep_fraction_bps <= BPS:
            raise ValueError("need 0 < deep_cure_s <= cure_s and 0 < deep_fraction_bps <= 10000")


@dataclass(frozen=True)
class MemberState:
    """A member as the vault sees it after this batch (settlement base units)."""

    account: int
    equity: int  # haircut collateral value − debt (may be < 0)
    debt: int
    im: int
    mm: int


@dataclass(frozen=True)
class OpenCall:
    account: int
    amount: int
    deadline: int  # chain seconds
    deep: bool


class Verdict(StrEnum):
    NONE = "none"  # no call, none needed
    ISSUE = "issue"  # new call
    RAISE = "raise"  # open call, amount up or deadline earlier: re-post
    HOLD = "hold"  # open call, unchanged on-chain
    CURE = "cure"  # open call cured: clear it
    DEFAULT = "default"  # open call past its deadline: declare


@dataclass(frozen=True)
class CallDecision:
    verdict: Verdict
    call: OpenCall | None  # the call after this batch (None: no call open)


def breached(m: MemberState) -> bool:
    return m.equity < m.mm or m.debt > 0


def is_deep(m: MemberState, policy: CallPolicy) -> bool:
    return m.equity < 0 or m.equity * BPS < m.mm * policy.deep_fraction_bps


def cured(m: MemberState) -> bool:
    return m.equity >= m.im and m.debt == 0


def call_amount(m: MemberState) -> int:
    return max(m.im - m.equity, m.debt, 1)


def decide(m: MemberState, open_call: OpenCall | None, now: int, policy: CallPolicy) -> CallDecision:
    """What happens to one member's call in a batch at chain time `now`."""
    if open_call is None:
        if not breached(m):
            return CallDecision(Verdict.NONE, None)
        deep = is_deep(m, policy)
        deadline = now + (policy.deep_cure_s if deep else policy.cure_s)
        return CallDecision(Verdict.ISSUE, OpenCall(m.account, call_amount(m), deadline, deep))
    if cured(m):
        return CallDecision(Verdict.CURE, None)
    if now >= open_call.deadline:
        return CallDecision(Verdict.DEFAULT, open_call)
    deep = open_call.deep or is_deep(m, policy)
    deadline = min(open_call.deadline, now + policy.deep_cure_s) if deep else open_call.deadline
    amount = max(open_call.amount, call_amount(m))
    if amount != open_call.amount or deadline != open_call.deadline:
        return CallDecision(Verdict.RAISE, OpenCall(m.account, amount, deadline, deep))
    return CallDecision(Verdict.HOLD, open_call)


# ---------------------------------------------------------------- the vault's view after a batch


@dataclass(frozen=True)
class AssetMark:
    price: int  # settlement base units per whole token
    haircut_bps: int
    decimals: int


def apply_cash(cash: int, debt: int, delta: int) -> tuple[int, int]:
    """(cash, debt) after a settlement-asset transfer `delta`: credits repay debt first; a debit beyond the
    cash is advanced by the default fund and becomes debt (as the vault's Ledger does)."""
    if delta >= 0:
        repay = min(delta, debt)
        return cash + delta - repay, debt - repay
    pay = min(cash, -delta)
    return cash - pay, debt + (-delta - pay)


def equity(balances: Mapping[int, int], debt: int, marks: Mapping[int, AssetMark]) -> int:
    """Σ floor haircut value of each balance at its mark − debt (an asset without a mark counts for 0)."""
    value = 0
    for asset, balance in balances.items():
        m = marks.get(asset)
        if m is None or balance == 0 or m.price == 0:
            continue
        value += balance * m.price * (BPS - m.haircut_bps) // (pow10(m.decimals) * BPS)
    return value - debt
