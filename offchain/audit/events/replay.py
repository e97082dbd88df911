"""The vault's bookkeeping, re-implemented from docs/contracts.md and Vault.sol, replayed over its events.

State per (account, asset): a balance (never negative); per member: a settlement-asset debt (the default
fund's liquidity advance). Rules:
 - deposit and withdrawal cancellation credit the balance; a member's settlement-asset credit repays its
   debt first, the repaid part going to the default fund's cash (an `AdvanceRepaid`);
 - a withdrawal request debits the balance (never an advance) and the amount stays owed, pending, until
   executed (then it leaves the vault) or cancelled (credited back);
 - batch transfers apply in row order: a credit as above; a debit the balance covers is taken from it; a
   member's settlement-asset debit beyond its balance takes the balance to zero and the rest from the
   default fund's cash, recorded as the member's debt (a `LiquidityAdvanced`); anything else reverts;
 - wind-down: a member's `windDownWithdraw` first gives up to the default fund enough of the asset to
   cover its debt (cash one for one, collateral at the last posted mark, rounded up), the debt falls by
   the (rounded-down) value seized, the rest of the balance is paid out; system accounts are paid out whole.

The replay records the advance/repayment events it would emit so that the runner can compare them with
the ones the vault did emit in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from offchain.audit.events.types import (
    AdvanceRepaid,
    AssetListed,
    Deposited,
    LiquidityAdvanced,
    MemberAdmitted,
    WindDownWithdrawal,
    WithdrawalCancelled,
    WithdrawalExecuted,
    WithdrawalRequested,
)
from offchain.core.batch import (
    DEFAULT_FUND_ACCOUNT,
    FEE_ACCOUNT,
    FIRST_MEMBER_ACCOUNT,
    OPERATOR_CAPITAL_ACCOUNT,
    SETTLEMENT_ASSET,
    Mark,
    Requirement,
    Transfer,
)

BPS = 10_000


class ReplayError(Exception):
    """The replay reached a state the vault would have refused (so the replay and the chain disagree)."""


@dataclass(frozen=True)
class Pending:
    account: int
    asset: int
    amount: int


@dataclass(frozen=True)
class AssetMark:
    price: int  # settlement base units per whole token
    haircut_bps: int
    decimals: int


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass
class VaultReplay:
    balances: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    debt: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    total_owed: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    pending: dict[int, Pending] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)  # address -> account
    accounts: dict[int, str] = field(default_factory=dict)  # account -> address
    marks: dict[int, AssetMark] = field(default_factory=dict)  # asset -> last posted mark
    requirements: dict[int, tuple[int, int]] = field(default_factory=dict)  # account -> (im, mm)
    wound_down: bool = False
    # advances and repayments the replay emitted since the last `take_emitted()`: (kind, account, amount)
    emitted: list[tuple[str, int, int]] = field(default_factory=list)

    # ------------------------------------------------------------ primitives (Ledger.sol)

    def credit(self, account: int, asset: int, amount: int) -> None:
        if asset == SETTLEMENT_ASSET and self.debt.get(account, 0):
            repaid = min(amount, self.debt[account])
            self.debt[account] -= repaid
            amount -= repaid
            self.balances[(DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET)] += repaid
            self.emitted.append(("repaid", account, repaid))
        self.balances[(account, asset)] += amount

    def debit(self, account: int, asset: int, amount: int, advance: bool) -> None:
        balance = self.balances.get((account, asset), 0)
        if amount <= balance:
            self.balances[(account, asset)] = balance - amount
            return
        if not advance or asset != SETTLEMENT_ASSET or account < FIRST_MEMBER_ACCOUNT:
            raise ReplayError(f"account {account} debited {amount} of asset {asset} but holds {balance}")
        shortfall = amount - balance
        fund = self.balances.get((DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET), 0)
        if fund < shortfall:
            raise ReplayError(f"default fund holds {fund}, cannot advance {shortfall} to account {account}")
        self.balances[(DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET)] = fund - shortfall
        self.debt[account] = self.debt.get(account, 0) + shortfall
        self.balances[(account, asset)] = 0
        self.emitted.append(("advanced", account, shortfall))

    def take_emitted(self) -> list[tuple[str, int, int]]:
        out, self.emitted = self.emitted, []
        return out

    # ------------------------------------------------------------ events

    def admitted(self, e: MemberAdmitted) -> None:
        self.members[e.member] = e.account
        self.accounts[e.account] = e.member

    def listed(self, e: AssetListed) -> None:
        # The constructor marks the settlement asset at one whole token; a new asset counts for nothing.
        price = 10**e.decimals if e.asset == SETTLEMENT_ASSET else 0
        self.marks[e.asset] = AssetMark(price, 0, e.decimals)

    def deposited(self, e: Deposited) -> None:
        self.credit(e.account, e.asset, e.amount)
        self.total_owed[e.asset] += e.amount

    def withdrawal_requested(self, e: WithdrawalRequested) -> None:
        self.debit(e.account, e.asset, e.amount, advance=False)
        self.pending[e.id] = Pending(e.account, e.asset, e.amount)

    def withdrawal_cancelled(self, e: WithdrawalCancelled) -> None:
        p = self._take_pending(e.id)
        self.credit(p.account, p.asset, p.amount)

    def withdrawal_executed(self, e: WithdrawalExecuted) -> None:
        p = self._take_pending(e.id)
        self.total_owed[p.asset] -= p.amount

    def _take_pending(self, wid: int) -> Pending:
        if wid not in self.pending:
            raise ReplayError(f"withdrawal {wid} is not pending")
        return self.pending.pop(wid)

    def post_marks(self, marks: tuple[Mark, ...]) -> None:
        for m in marks:
            old = self.marks.get(m.asset)
            if old is None:
                raise ReplayError(f"mark for unlisted asset {m.asset}")
            self.marks[m.asset] = AssetMark(m.price, m.haircut_bps, old.decimals)

    def post_requirements(self, rows: tuple[Requirement, ...]) -> None:
        for r in rows:
            self.requirements[r.account] = (r.im, r.mm)

    def apply_transfers(self, transfers: tuple[Transfer, ...]) -> None:
        for t in transfers:
            if t.amount >= 0:
                self.credit(t.account, t.asset, t.amount)
            else:
                self.debit(t.account, t.asset, -t.amount, advance=True)

    def wind_down_withdrawal(self, e: WindDownWithdrawal) -> tuple[int, int]:
        """Apply a wind-down payout; returns (payout, seized) as the replay computes them."""
        balance = self.balances.get((e.account, e.asset), 0)
        seized = covered = 0
        if e.account >= FIRST_MEMBER_ACCOUNT:
            debt = self.debt.get(e.account, 0)
            if e.asset == SETTLEMENT_ASSET:
                seized = covered = min(debt, balance)
            elif debt and balance:
                mark = self.marks[e.asset]
                if mark.price == 0:
                    seized, covered = balance, 0
                else:
                    unit = 10**mark.decimals
                    seized = min(_ceil_div(debt * unit, mark.price), balance)
                    covered = min(seized * mark.price // unit, debt)
        elif e.account not in (FEE_ACCOUNT, DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT):
            raise ReplayError(f"wind-down payout to unknown account {e.account}")
        if seized:
            self.debt[e.account] -= covered
            self.balances[(DEFAULT_FUND_ACCOUNT, e.asset)] += seized
        payout = balance - seized
        self.balances[(e.account, e.asset)] = 0
        self.total_owed[e.asset] -= payout
        return payout, seized

    # ------------------------------------------------------------ views

    def pending_total(self, asset: int) -> int:
        return sum(p.amount for p in self.pending.values() if p.asset == asset)

    def balance_sum(self, asset: int) -> int:
        return sum(v for (_, a), v in self.balances.items() if a == asset)

    @staticmethod
    def observed(events: list[LiquidityAdvanced | AdvanceRepaid]) -> list[tuple[str, int, int]]:
        return [("advanced" if isinstance(e, LiquidityAdvanced) else "repaid", e.account, e.amount) for e in events]
