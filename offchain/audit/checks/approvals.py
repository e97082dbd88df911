"""Withdrawal approvals against the re-derived IM (`withdrawal-approval`).

A batch's approval row releases a pending withdrawal at once, without its delay (the guardian's and
governance's time to react). The vault checks the member's margin only when the withdrawal executes, against
the IM posted then, which the operator writes; so the verifier judges the approval itself, with what it
re-derived: a withdrawal request debits the balance when it is made (docs/vault.md), so the member's
equity after the batch (Σ haircut value at the posted collateral marks − debt, the vault's
`Margin.haircutValue` rule) is what the withdrawal leaves it, and it must be at least the IM the rebuilt
model re-derives for the member at the batch's marks and positions (the lower bound of `im-rederive`: its
stressed floor under the rise cap, less the model tolerance). A served exit (a member with an open exit
request and no position after the batch, IM 0 / MM 0 in force: `im-rederive` accepts exactly that) needs
equity of at least 0, what the vault will ask at execution (the engine approves an exiting member's
withdrawals within that, offchain/chain/exits.py). A member in default is approved nothing, nor a member
whose margin the model cannot express in base units.

An approval naming a withdrawal that is no longer pending (executed or cancelled since the batch was signed)
is skipped by the vault and not judged here.
"""

from __future__ import annotations

from offchain.audit.checks.calls import haircut_equity
from offchain.audit.checks.rederive import Expected, tolerance
from offchain.audit.errors import Discrepancy
from offchain.audit.events.replay import VaultReplay
from offchain.core.batch import Batch, WithdrawalApproval


def check_approvals(batch: Batch, replay: VaultReplay, expected: Expected) -> None:
    """After the batch's rows (the replay's state is the vault's once the batch has applied)."""
    seq = batch.sequence
    for word in batch.approved_withdrawals:
        try:
            a = WithdrawalApproval.unpack(word)
        except ValueError as exc:
            raise Discrepancy(seq, "withdrawal-approval", f"malformed approval row {word:#x}: {exc}") from exc
        pending = replay.pending.get(a.id)
        if pending is None:
            continue  # skipped by the vault (RowAdjusted)
        what = f"withdrawal {a.id} of {a.amount} of asset {a.asset} by account {a.account} approved"
        if replay.fund.is_open(a.account):
            raise Discrepancy(seq, "withdrawal-approval", f"{what} while the account is in default")
        rederived = expected.low.get(a.account)
        served = a.account in expected.flat_exits and replay.requirements.get(a.account, (0, 0)) == (0, 0)
        if served:
            least, slack = 0, 0  # an exit served, as `im-rederive` accepts it: no model, no tolerance
        elif rederived is None or isinstance(rederived, str):
            why = "it is not a member" if rederived is None else rederived
            raise Discrepancy(seq, "withdrawal-approval", f"{what}, but its IM cannot be re-derived: {why}")
        else:
            least = rederived.im if rederived.floor_im is None else rederived.floor_im
            slack = tolerance(least)
        equity = haircut_equity(replay, a.account)
        if equity < least - slack:
            raise Discrepancy(
                seq,
                "withdrawal-approval",
                f"{what}: it leaves equity {equity} (haircut value less debt), below the re-derived IM {least} "
                f"(free collateral {equity - least})",
            )
