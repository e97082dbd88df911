"""Default-fund contribution rows by the published rule (`contribution`, docs/defaults.md section 4).

The rule the engine follows (offchain/defaults/fund.py): each member's target is its Cover-2 share, sized by
the risk model (here the verifier's rebuilt one, `MarginRederivation.cover2_targets`) from the positions after
the batch, the marks last settled, the IM in force after the batch, the holdings the engine read and the
collateral prices in force; a batch that recomputes moves every member towards its target: a top-up of
`target - contribution`, at most the member's settlement cash after the batch's transfers (no advance for a
contribution); an excess is returned down to the target (never below it). While any default is open, or in
a batch that DECLAREs, no contribution row is made at all (the pool shares the assessment caps rest on stay
as they were at DECLARE).

What the verifier requires, for a batch that carries contribution rows (it recomputed):
 - none of them while a default is open or in a batch that DECLAREs;
 - no member topped up beyond its target, none returned below it;
 - no member left short of its target (by a short top-up or none) while it held the cash the engine could
   have read: the lowest settlement cash it held since the previous batch, plus this batch's transfers.
The target is taken as a range: a member with no tier in the registry (the operator's house account) is
sized at the lightest and the heaviest tier, and the holdings at their lowest and highest since the previous
batch (the engine reads them while it builds), each bound with the model tolerance (`tolerance`).

A member whose exit the batch serves (an open exit request, IM 0 in force after the batch) gets its whole
contribution back, in any batch where contributions are not frozen, sizing or not (docs/defaults.md section
4: the vault counts a served exit with a contribution left as unserved): its row must return all of it, and
it is not judged against a target. A batch whose only contribution rows are such returns did not recompute.

What is not checked: the schedule (which batches recompute: `FundPolicy.every` is the engine's setting, not
a governed one; a batch without contribution rows is not required to have recomputed), and the return
threshold (an excess below 10% of the target is kept by the engine: any excess returned down to the target
passes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from offchain.audit.checks.rederive import tolerance
from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import VaultReplay
from offchain.core.batch import DECLARE, SETTLEMENT_ASSET, Batch

Targets = Mapping[int, tuple[int, int]]  # account -> (lowest, highest) Cover-2 target the inputs allow


@dataclass(frozen=True)
class FundBefore:
    """The default fund as a batch's contribution rows find it: after the batch's transfers, before its rows."""

    values: dict[int, int]  # account -> contribution value
    cash: dict[int, int]  # account -> settlement cash after the transfers
    cash_floor: dict[int, int]  # account -> the least cash the engine can have read, plus the transfers
    open_defaults: int

    @classmethod
    def of(cls, replay: VaultReplay, cash_low: Mapping[int, int], cash_before: Mapping[int, int]) -> FundBefore:
        """`cash_low`: the lowest settlement cash each account held since the previous batch (accounts whose
        cash moved); `cash_before`: its cash before this batch's transfers."""
        accounts = sorted(replay.accounts)
        cash = {a: replay.balances.get((a, SETTLEMENT_ASSET), 0) for a in accounts}
        floor = {}
        for a in accounts:
            was = cash_before.get(a, 0)
            floor[a] = cash[a] - (was - min(cash_low.get(a, was), was))
        return cls({a: replay.fund.value_of(a) for a in accounts}, cash, floor, replay.fund.open)


def check_frozen(batch: Batch, before: FundBefore) -> None:
    """No contribution row while a default is open or in a batch that DECLAREs (run before the rows apply)."""
    if not batch.contributions:
        return
    declares = sorted({a.account for a in batch.default_actions if a.action == DECLARE})
    if before.open_defaults or declares:
        why = f"{before.open_defaults} default(s) open" if before.open_defaults else f"it DECLAREs {declares}"
        raise Discrepancy(
            batch.sequence,
            "contribution",
            f"contribution rows for accounts {[c.account for c in batch.contributions]} while {why}: "
            "contributions are frozen during a default",
        )


def _check_leaving(seq: int, rows: Mapping[int, int], before: FundBefore, leaving: frozenset[int]) -> None:
    """A member whose exit the batch serves gets all of its contribution back, or no row."""
    for account in sorted(leaving & rows.keys()):
        have = before.values.get(account, 0)
        if rows[account] != -have:
            raise Discrepancy(
                seq,
                "contribution",
                f"account {account}'s exit is served: its whole contribution {have} is returned, not a row of "
                f"{rows[account]}",
            )


def check_contributions(
    batch: Batch, before: FundBefore, targets: Targets, leaving: frozenset[int] = frozenset()
) -> None:
    """A batch's contribution rows against the members' re-derived Cover-2 targets; `leaving`: the members whose
    exit the batch serves (their whole contribution returned, not judged against a target)."""
    if not batch.contributions:
        return
    seq = batch.sequence
    rows = {c.account: c.amount for c in batch.contributions}
    _check_leaving(seq, rows, before, leaving)
    if not rows.keys() - leaving:
        return  # only served exits' returns: the batch did not recompute
    for account in sorted((set(targets) | set(rows)) - leaving):
        lo, hi = targets.get(account, (0, 0))
        have, r = before.values.get(account, 0), rows.get(account, 0)
        after = have + r
        state = f"contribution {have}, Cover-2 target {lo}" + ("" if lo == hi else f"..{hi}")
        if r > 0 and after > hi + tolerance(hi):
            raise Discrepancy(seq, "contribution", f"account {account} is topped up by {r} to {after}: {state}")
        if r < 0 and after < lo - tolerance(lo):
            raise Discrepancy(seq, "contribution", f"account {account} is returned {-r}, down to {after}: {state}")
        floor = before.cash_floor.get(account, 0)
        if r >= 0 and r < min(lo - have, floor) - tolerance(lo):
            raise Discrepancy(
                seq,
                "contribution",
                f"account {account} is topped up by {r} to {after} though it held {floor} of cash: {state}",
            )
