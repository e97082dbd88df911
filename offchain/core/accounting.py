"""The accounting rules of settlement, in integer base units, shared by the engine and the auditor.

Every rule rounds against the member: a credit is rounded down and a debit rounded up (Python's `//`
floors towards minus infinity, which does both at once for a signed amount). Because positions sum to
zero per instrument, the exact amounts sum to zero too; after rounding the members' total is ≤ 0 and
the difference, the rounding residual, goes to the fee account. So a batch is zero-sum and rounding
never creates value.

Units: quantities in 10**-qty_decimals of one unit of the underlying; prices in settlement-asset base
units per whole unit; funding rates in 1e-8 per funding interval; fees in basis points of notional.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from offchain.core.batch import FEE_ACCOUNT, SETTLEMENT_ASSET, Transfer

RATE_SCALE = 10**8
BPS = 10_000


def pow10(n: int) -> int:
    """10**n as an int (n ≥ 0): the scale of an amount with n decimals."""
    if n < 0:
        raise ValueError("decimals must be >= 0")
    return int(10**n)


@dataclass(frozen=True)
class CashFlow:
    account: int
    instrument: str | None
    kind: str  # vm, funding, fee, rounding
    amount: int  # > 0 credits the account


def variation_margin(
    position: int, fills: Iterable[tuple[int, int]], old_mark: int | None, new_mark: int, qty_decimals: int
) -> int:
    """One member's variation margin in one instrument over one batch.

    The position held since the last batch moves from `old_mark` to `new_mark`; each new fill
    `(signed qty, price)` moves from its trade price to `new_mark`.
    """
    raw = sum(q * (new_mark - p) for q, p in fills)
    if position:
        if old_mark is None:
            raise ValueError("a position without a previous mark")
        raw += position * (new_mark - old_mark)
    return raw // pow10(qty_decimals)


def funding_payment(position: int, mark: int, rate_e8: int, qty_decimals: int) -> int:
    """Funding a member receives (> 0) or pays (< 0) for one interval: longs pay when the rate is > 0."""
    return (-position * mark * rate_e8) // (pow10(qty_decimals) * RATE_SCALE)


def clearing_fee(qty: int, price: int, fee_bps: int, qty_decimals: int) -> int:
    """The clearing fee one side of a fill pays: fee_bps of notional, rounded up."""
    return -((-abs(qty) * price * fee_bps) // (pow10(qty_decimals) * BPS))


def notional(qty: int, price: int, qty_decimals: int) -> int:
    """|qty| × price in settlement base units, rounded down (used for reporting and limits)."""
    return abs(qty) * price // pow10(qty_decimals)


def with_rounding_residual(flows: list[CashFlow]) -> list[CashFlow]:
    """Append the fee account's rounding residual so that the flows sum to zero."""
    residual = -sum(f.amount for f in flows)
    if residual < 0:
        raise ValueError(f"rounding created value: residual {residual}")
    if residual:
        flows = [*flows, CashFlow(FEE_ACCOUNT, None, "rounding", residual)]
    return flows


def net_transfers(flows: Iterable[CashFlow]) -> tuple[Transfer, ...]:
    """Net cash flows to one settlement-asset transfer per account, in account order."""
    net: Mapping[int, int] = _sum_by_account(flows)
    return tuple(Transfer(account=a, asset=SETTLEMENT_ASSET, amount=v) for a, v in sorted(net.items()) if v != 0)


def _sum_by_account(flows: Iterable[CashFlow]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for f in flows:
        out[f.account] += f.amount
    return out
