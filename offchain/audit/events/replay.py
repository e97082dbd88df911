"""The vault's bookkeeping, re-implemented from docs/contracts.md and Vault.sol, replayed over its events.

State per (account, asset): a balance (never negative); per member: a settlement-asset debt (the default
fund's liquidity advance). Rules:
 - deposit and withdrawal cancellation credit the balance; a member's settlement-asset credit repays its
   debt first, the repaid part going to the default fund's cash (an `AdvanceRepaid`);
 - a withdrawal request debits the balance (never an advance) and the amount stays owed, pending, until
   executed (then it leaves the vault) or cancelled (credited back);
 - batch transfers apply in row order: a credit as above; a debit the balance covers is taken from it; a
   debit beyond a member's balance first recalls its pending withdrawals of that asset, from the end of its
   pending list (the vault's `_pendingIds` order), until the balance covers it (`WithdrawalRecalled`; cash
   so returned repays its debt first); then a member's settlement-asset debit beyond its balance takes the
   balance to zero and the rest from the default fund's cash, recorded as the member's debt (a
   `LiquidityAdvanced`); anything else reverts. Contribution (> 0) and ASSESS rows recall the same way;
 - after the transfers, a batch's default rows (VaultDefaults.sol), in this order:
   contributions (> 0: the member's cash, never advanced, into the default fund's cash and pool shares;
   < 0: pool value back to its cash, repaying an advance first, never while a default is open), margin
   calls (stored, no balance effect), default actions in row order: DECLARE (the pool stored for the
   caps; the member's pending withdrawals come back to its balance, the cash part credited once in
   total), COVER (the waterfall draws layers 1-4 itself: `offchain.core.waterfall.plan_waterfall`, the
   vault's rule, computed from this replay's state; L1 moves collateral to the default fund, L2 writes off
   the defaulter's contribution, L3 moves operator capital to the default fund's cash, L4 lowers the pool's
   value; the debt falls by what they cover; a COVER above the debt covers the debt, one at debt 0 is
   skipped), ASSESS (layer 5: a survivor's cash to the default fund's cash, and what its cash does not
   cover becomes its debt (a `LiquidityAdvanced`), within its cap, only once the pool is empty, at most
   what the last COVER left uncovered (less is assessed, nothing when nothing is left); the COVER must be
   completed exactly), CLOSE (debt zero). A defaulted member cannot request withdrawals;
 - wind-down: a member's `windDownWithdraw` first gives up to the default fund enough of the asset to
   cover its debt (cash one for one, collateral at the last posted mark, rounded up), the debt falls by
   the (rounded-down) value seized, the rest of the balance is paid out; then its pro-rata part (by pool
   shares) of the default fund's estate in that asset: floor((the fund's balance + what the estate paid
   out so far) × its shares / all shares) less what it claimed before, its debt left netting first (that
   part stays in the estate). A withdrawal executed after wind-down gives up to the debt likewise, and so
   does anyone's `seizeCollateralForDebt` (`DebtCollateralSeized`). Anyone's `netEstateForDebt` makes a
   debtor's claim of the estate as its own withdrawal would, its debt netting first; what exceeds the debt
   becomes its balance (an `EstateClaimed` with no payout). System accounts are paid out whole (the vault
   refuses the default fund's while pool shares exist, operator capital while a default is open). Anyone's
   `closeDefaultAfterWindDown` closes a default left open: the defaulter's balances and its part of the estate
   first (as the seizure and the netting above), then operator capital's cash up to the debt left (layer 3);
   what is still owed stays its debt.

The replay records the events it would emit (advances and repayments; contribution, margin-call, default
and waterfall events) so that the runner can compare them with the ones the vault did emit in the same
transaction. `covers` keeps, per COVER of the last batch, what the waterfall checks need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from offchain.audit.events.fund import FundError, FundState
from offchain.audit.events.types import (
    AdvanceRepaid,
    AssetListed,
    ContributionChanged,
    DebtCollateralSeized,
    DefaultClosed,
    DefaultDeclared,
    DefaultEvent,
    Deposited,
    EstateClaimed,
    LiquidityAdvanced,
    MarginCalled,
    MemberAdmitted,
    WaterfallDraw,
    WindDownWithdrawal,
    WithdrawalCancelled,
    WithdrawalExecuted,
    WithdrawalRequested,
)
from offchain.core.batch import (
    ASSESS,
    CLOSE,
    COVER,
    DECLARE,
    DEFAULT_FUND_ACCOUNT,
    FEE_ACCOUNT,
    FIRST_MEMBER_ACCOUNT,
    OPERATOR_CAPITAL_ACCOUNT,
    SETTLEMENT_ASSET,
    Contribution,
    DefaultAction,
    MarginCall,
    Mark,
    Requirement,
    Transfer,
)
from offchain.core.waterfall import (
    CollateralHolding,
    Layer,
    Pool,
    Survivor,
    WaterfallInput,
    WaterfallPlan,
    plan_waterfall,
)
from offchain.errors import CrossclearError

BPS = 10_000


class ReplayError(CrossclearError):
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


# An emitted default-row event, comparable with the vault's: (kind, *fields).
DefaultRecordTuple = tuple[int | str, ...]


@dataclass
class CoverRecord:
    """One COVER of a batch: the state the rule read, its plan, and the ASSESS rows that completed it."""

    defaulter: int
    amount: int
    debt: int  # the defaulter's debt before the COVER
    state: WaterfallInput
    plan: WaterfallPlan
    drawn: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # (layer, account, asset, amount, value)
    assessed: list[tuple[int, int]] = field(default_factory=list)  # ASSESS rows (account, amount), in row order


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
    exits: set[int] = field(default_factory=set)  # accounts with an open exit request (requestExit)
    wound_down: bool = False
    fund: FundState = field(default_factory=FundState)
    margin_calls: dict[int, tuple[int, int]] = field(default_factory=dict)  # account -> (amount, deadline)
    # advances and repayments the replay emitted since the last `take_emitted()`: (kind, account, amount)
    emitted: list[tuple[str, int, int]] = field(default_factory=list)
    # default-row events emitted since the last `take_default_events()`
    default_events: list[DefaultRecordTuple] = field(default_factory=list)
    covers: list[CoverRecord] = field(default_factory=list)  # the COVERs of the last batch's default rows
    # the marks the COVERs of the batch being applied value layer 1 at (apply_default_rows)
    _layer1_marks: Mapping[int, AssetMark] = field(default_factory=dict)
    # after wind-down: per asset what the default fund's estate paid out; per (account, asset) what was claimed
    estate_out: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    estate_claimed: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    # account -> its pending withdrawal ids in the vault's order (`_pendingIds`: pushed at the request, removed
    # by swapping the last into the gap), which decides which requests a debit recalls (newest first)
    pending_ids: dict[int, list[int]] = field(default_factory=dict)
    # the withdrawals the rules recalled in the current batch, in the vault's event order (transfer rows,
    # contributions, DECLAREs, ASSESS rows); `observed_recalls`: the vault's WithdrawalRecalled ids of the
    # settle transaction, compared with them (None for a proposal: nothing on-chain yet)
    recalls: list[int] = field(default_factory=list)
    observed_recalls: list[int] | None = None
    # (account, asset) of the estate nettings of the current transaction (a close after the wind-down checks
    # that it netted every asset's part before drawing operator capital); the runner clears it per transaction
    netted: set[tuple[int, int]] = field(default_factory=set)

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

    def take_default_events(self) -> list[DefaultRecordTuple]:
        out, self.default_events = self.default_events, []
        return out

    # ------------------------------------------------------------ events

    def admitted(self, e: MemberAdmitted) -> None:
        self.members[e.member] = e.account
        self.accounts[e.account] = e.member

    def listed(self, e: AssetListed) -> None:
        # Listed with its first mark (the settlement asset at one whole token, haircut 0).
        self.marks[e.asset] = AssetMark(e.price, e.haircut_bps, e.decimals)

    def deposited(self, e: Deposited) -> None:
        self.credit(e.account, e.asset, e.amount)
        self.total_owed[e.asset] += e.amount

    def withdrawal_requested(self, e: WithdrawalRequested) -> None:
        if self.fund.is_open(e.account):
            raise ReplayError(f"account {e.account} is in default and cannot request a withdrawal")
        self.debit(e.account, e.asset, e.amount, advance=False)
        self.pending[e.id] = Pending(e.account, e.asset, e.amount)
        self.pending_ids.setdefault(e.account, []).append(e.id)

    def withdrawal_cancelled(self, e: WithdrawalCancelled) -> None:
        p = self._take_pending(e.id)
        self.credit(p.account, p.asset, p.amount)

    def withdrawal_executed(self, e: WithdrawalExecuted, wind_down: WindDownWithdrawal | None = None) -> int:
        """Pay out a pending withdrawal; after wind-down a member's debt first takes its part (reported by a
        `WindDownWithdrawal` in the same transaction, `wind_down`). Returns the seized quantity."""
        p = self._take_pending(e.id)
        if not self.wound_down and self.fund.is_open(p.account):
            raise ReplayError(f"withdrawal {e.id} executed while account {p.account} is in default")
        seized = self._seize_for_debt(p.account, p.asset, p.amount) if self.wound_down else 0
        if wind_down is not None and (seized, p.amount - seized) != (wind_down.seized_for_debt, wind_down.amount):
            raise ReplayError(
                f"withdrawal {e.id} after wind-down: the rules seize {seized} and pay {p.amount - seized}, the vault "
                f"seized {wind_down.seized_for_debt} and paid {wind_down.amount}"
            )
        if seized and wind_down is None:
            raise ReplayError(f"withdrawal {e.id} after wind-down should have seized {seized} for debt")
        self.total_owed[p.asset] -= p.amount - seized
        return seized

    def _take_pending(self, wid: int) -> Pending:
        if wid not in self.pending:
            raise ReplayError(f"withdrawal {wid} is not pending")
        p = self.pending.pop(wid)
        ids = self.pending_ids.get(p.account, [])
        if wid in ids:  # VaultBase._dropPending: the last id moves into the gap
            i = ids.index(wid)
            ids[i] = ids[-1]
            ids.pop()
        return p

    def _ids_of(self, account: int) -> list[int]:
        """`account`'s pending ids in the vault's order (any set without a request event, as tests do, last)."""
        ids = [w for w in self.pending_ids.setdefault(account, []) if w in self.pending]
        ids += sorted(w for w, p in self.pending.items() if p.account == account and w not in ids)
        self.pending_ids[account] = ids
        return ids

    def _recall_for(self, account: int, asset: int, debit: int) -> None:
        """Vault._recallFor (VaultStorage): a debit beyond the balance first brings back the account's pending
        withdrawals of `asset`, from the end of its pending list, until the balance covers it; settlement
        cash so returned repays its debt first. Shared by transfer, contribution and ASSESS rows."""
        if debit <= self.balances.get((account, asset), 0) or account < FIRST_MEMBER_ACCOUNT:
            return
        ids = self._ids_of(account)
        i = len(ids)
        while i and debit > self.balances.get((account, asset), 0):
            i -= 1
            wid = ids[i]
            if self.pending[wid].asset != asset:
                continue
            p = self._take_pending(wid)  # swaps the last id (already passed) into index i, as the vault does
            self.credit(account, asset, p.amount)
            self.recalls.append(wid)

    def _match_recalls(self, final: bool) -> None:
        """The vault's WithdrawalRecalled ids against the rules' so far (all of them when `final`)."""
        observed = self.observed_recalls
        if observed is None:
            return
        mine = self.recalls
        if observed[: len(mine)] != mine:
            raise ReplayError(f"the rules recall withdrawals {mine}, the vault recalled {observed}")
        if final and len(observed) > len(mine):
            raise ReplayError(
                f"the vault recalled withdrawals {observed[len(mine) :]} that no debit of the batch needed"
            )

    def post_marks(self, marks: tuple[Mark, ...]) -> None:
        for m in marks:
            old = self.marks.get(m.asset)
            if old is None:
                raise ReplayError(f"mark for unlisted asset {m.asset}")
            self.marks[m.asset] = AssetMark(m.price, m.haircut_bps, old.decimals)

    def post_requirements(self, rows: tuple[Requirement, ...]) -> None:
        for r in rows:
            self.requirements[r.account] = (r.im, r.mm)

    def apply_transfers(self, transfers: tuple[Transfer, ...], recalled: Sequence[int] | None = None) -> None:
        """The batch's transfer rows in order (the first rows of a batch to touch balances). A debit beyond
        the member's balance first recalls its pending withdrawals of that asset (`_recall_for`, the vault's
        rule). `recalled`: the ids of the vault's WithdrawalRecalled events in the batch's transaction, in
        order, which must be the rules' (a recall the rules do not make, or one they make that the vault did
        not, is a ReplayError; `apply_default_rows` checks that none is left over); None for a proposal."""
        self.recalls = []
        self.observed_recalls = None if recalled is None else list(recalled)
        for t in transfers:
            if t.amount >= 0:
                self.credit(t.account, t.asset, t.amount)
                continue
            self._recall_for(t.account, t.asset, -t.amount)
            self.debit(t.account, t.asset, -t.amount, advance=True)
        self._match_recalls(final=False)

    def _seize_for_debt(self, account: int, asset: int, amount: int) -> int:
        """After wind-down: of `amount` of `asset` leaving a member, what its debt takes (VaultDefaults)."""
        debt = self.debt.get(account, 0)
        if account < FIRST_MEMBER_ACCOUNT or not debt or not amount:
            return 0
        if asset == SETTLEMENT_ASSET:
            seized = covered = min(debt, amount)
        else:
            mark = self.marks[asset]
            if mark.price == 0:
                seized, covered = amount, 0
            else:
                unit = 10**mark.decimals
                seized = min(_ceil_div(debt * unit, mark.price), amount)
                covered = min(seized * mark.price // unit, debt)
        self.debt[account] -= covered
        self.balances[(DEFAULT_FUND_ACCOUNT, asset)] += seized
        return seized

    def wind_down_withdrawal(self, e: WindDownWithdrawal) -> tuple[int, int]:
        """Apply a wind-down payout; returns (payout, seized) as the replay computes them."""
        balance = self.balances.get((e.account, e.asset), 0)
        if e.account >= FIRST_MEMBER_ACCOUNT:
            seized = self._seize_for_debt(e.account, e.asset, balance)
            payout = balance - seized
            self.balances[(e.account, e.asset)] = 0
            self.total_owed[e.asset] -= payout
            return payout + self._claim_estate(e.account, e.asset), seized
        if e.account not in (FEE_ACCOUNT, DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT):
            raise ReplayError(f"wind-down payout to unknown account {e.account}")
        if e.account == DEFAULT_FUND_ACCOUNT and self.fund.shares:
            raise ReplayError("the default fund's estate paid to governance while pool shares claim it")
        if e.account == OPERATOR_CAPITAL_ACCOUNT and self.fund.open:
            raise ReplayError("operator capital (layer 3) paid out while a default is open")
        self.balances[(e.account, e.asset)] = 0
        self.total_owed[e.asset] -= balance
        return balance, 0

    def debt_collateral_seized(self, e: DebtCollateralSeized) -> None:
        """Anyone's seizure of a debtor's collateral into the estate after wind-down."""
        if not self.wound_down:
            raise ReplayError(f"collateral of account {e.account} seized before the wind-down")
        seized = self._seize_for_debt(e.account, e.asset, self.balances.get((e.account, e.asset), 0))
        if seized != e.seized:
            raise ReplayError(f"seizure of account {e.account}'s asset {e.asset}: vault {e.seized}, replay {seized}")
        self.balances[(e.account, e.asset)] -= seized

    def estate_netted(self, e: EstateClaimed) -> tuple[int, int]:
        """Anyone's `netEstateForDebt` after wind-down: the debtor's claim of the estate, its debt netting first;
        what exceeds the debt becomes its balance (still owed). Returns (due, netted) as the replay computes them."""
        if not self.wound_down:
            raise ReplayError(f"estate of account {e.account} netted before the wind-down")
        if not self.debt.get(e.account, 0):
            raise ReplayError(f"estate of account {e.account} netted without a debt")
        claimed = self.estate_claimed[(e.account, e.asset)]
        self.netted.add((e.account, e.asset))
        payout = self._claim_estate(e.account, e.asset)
        due = self.estate_claimed[(e.account, e.asset)] - claimed
        self.balances[(e.account, e.asset)] = self.balances.get((e.account, e.asset), 0) + payout
        self.total_owed[e.asset] += payout
        return due, due - payout

    def close_default_after_wind_down(self, account: int) -> None:
        """Anyone's `closeDefaultAfterWindDown` (VaultDefaults), at its DefaultClosed: the defaulter's balances
        (DebtCollateralSeized) and its part of the estate (EstateClaimed, each asset once) were applied from
        their events before it; what is still owed then, operator capital's cash pays into the default fund up
        to the debt (a layer-3 WaterfallDraw); the rest stays its debt (the estate's loss); the default closes.
        A layer-3 draw while the defaulter's own resources were left undrawn is a ReplayError."""
        if not self.wound_down:
            raise ReplayError(f"default of account {account} closed outside a batch before the wind-down")
        if not self.fund.is_open(account):
            raise ReplayError(f"default of account {account} closed at the wind-down but not open")
        debt = self.debt.get(account, 0)
        if debt:
            for asset in sorted(self.marks):
                if self.balances.get((account, asset), 0):
                    raise ReplayError(
                        f"account {account}'s default closed owing {debt} with its asset {asset} left unseized"
                    )
                if self._estate_due(account, asset) and (account, asset) not in self.netted:
                    raise ReplayError(
                        f"account {account}'s default closed owing {debt} without netting its part of asset {asset}"
                    )
        paid = min(debt, self.balances.get((OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET), 0))
        if paid:
            self.debit(OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET, paid, advance=False)
            self.balances[(DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET)] += paid
            self.debt[account] = debt - paid
            self.default_events.append(
                ("draw", account, int(Layer.OPERATOR_CAPITAL), OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET, paid, paid)
            )
        self.fund.close(account)
        self.default_events.append(("closed", account))
        self.netted = set()

    def _estate_due(self, account: int, asset: int) -> int:
        """What `account` may claim of the estate in `asset` now (VaultExtension.estateClaimOf)."""
        shares = self._estate_share(account)
        if not shares or not self.fund.shares:
            return 0
        balance = self.balances.get((DEFAULT_FUND_ACCOUNT, asset), 0)
        entitled = (balance + self.estate_out[asset]) * shares // self.fund.shares
        return max(entitled - self.estate_claimed[(account, asset)], 0)

    def _estate_share(self, account: int) -> int:
        k = self.fund.stakes.get(account)
        return k.shares if k is not None and k.epoch == self.fund.epoch else 0

    def _claim_estate(self, account: int, asset: int) -> int:
        """VaultDefaults.claimEstate: the member's pro-rata part of the default fund's estate in `asset`."""
        shares = self._estate_share(account)
        if not shares or not self.fund.shares:
            return 0
        balance = self.balances.get((DEFAULT_FUND_ACCOUNT, asset), 0)
        entitled = (balance + self.estate_out[asset]) * shares // self.fund.shares
        due = max(entitled - self.estate_claimed[(account, asset)], 0)
        if not due:
            return 0
        self.estate_out[asset] += due
        self.estate_claimed[(account, asset)] += due
        debt = self.debt.get(account, 0)
        kept = covered = 0
        if debt:
            if asset == SETTLEMENT_ASSET:
                kept = covered = min(debt, due)
            else:
                mark = self.marks[asset]
                if mark.price == 0:
                    kept, covered = due, 0
                else:
                    unit = 10**mark.decimals
                    kept = min(_ceil_div(debt * unit, mark.price), due)
                    covered = min(kept * mark.price // unit, debt)
            self.debt[account] -= covered
        payout = due - kept
        self.balances[(DEFAULT_FUND_ACCOUNT, asset)] = balance - payout
        self.total_owed[asset] -= payout
        return payout

    def _member(self, account: int, what: str) -> None:
        if account < FIRST_MEMBER_ACCOUNT or account not in self.accounts:
            raise ReplayError(f"{what} row for account {account}, which is not a member")

    def apply_default_rows(
        self,
        contributions: tuple[Contribution, ...],
        margin_calls: tuple[MarginCall, ...],
        actions: tuple[DefaultAction, ...],
        layer1_marks: Mapping[int, AssetMark] | None = None,
    ) -> None:
        """A batch's contribution, margin-call and default-action rows, after its transfers. A COVER values
        layer 1 at `layer1_marks`: the marks in force when the batch began (Vault.settle posts the batch's
        mark rows after its default rows); None: the replay's marks as they stand."""
        self.covers = []
        self._layer1_marks = self.marks if layer1_marks is None else layer1_marks
        try:
            for c in contributions:
                self._contribution(c)
            for m in margin_calls:
                self._member(m.account, "margin-call")
                self.margin_calls[m.account] = (m.amount, m.deadline)
                self.default_events.append(("margin-call", m.account, m.amount, m.deadline))
            self._default_actions(actions)
        except FundError as exc:
            raise ReplayError(str(exc)) from exc
        self._match_recalls(final=True)
        self.observed_recalls = None

    def _contribution(self, c: Contribution) -> None:
        self._member(c.account, "contribution")
        if c.amount == 0:
            raise ReplayError(f"contribution row of 0 for account {c.account}")
        if c.amount > 0:
            self._recall_for(c.account, SETTLEMENT_ASSET, c.amount)  # a request since signing comes back first
            self.debit(c.account, SETTLEMENT_ASSET, c.amount, advance=False)
            self.balances[(DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET)] += c.amount
            value = self.fund.contribute(c.account, c.amount)
        else:
            if self.fund.open:
                raise ReplayError(f"contribution of account {c.account} returned while a default is open")
            value = self.fund.remove(c.account, -c.amount)
            self.debit(DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET, -c.amount, advance=False)
            self.credit(c.account, SETTLEMENT_ASSET, -c.amount)
        self.default_events.append(("contribution", c.account, c.amount, value))

    def _default_actions(self, actions: tuple[DefaultAction, ...]) -> None:
        remaining = 0
        cover: CoverRecord | None = None
        for a in actions:
            self._member(a.account, "default-action")
            if a.action == DECLARE:
                if a.amount:
                    raise ReplayError(f"DECLARE of account {a.account} with amount {a.amount}")
                self.fund.declare(a.account)
                self.default_events.append(("declared", a.account))
                self._recall_pending(a.account)
            elif a.action == COVER:
                if a.amount == 0:
                    raise ReplayError(f"COVER of 0 for account {a.account}")
                if remaining:
                    raise ReplayError(f"COVER of account {a.account} while {remaining} of the last is unassessed")
                if not self.fund.is_open(a.account):
                    raise ReplayError(f"COVER of account {a.account}, which is not in default")
                debt = self.debt.get(a.account, 0)
                amount = min(a.amount, debt)  # above the debt (a deposit repaid part): the debt (RowAdjusted)
                if amount == 0:
                    cover = None
                    continue
                cover = self._cover(a.account, amount, debt)
                self.covers.append(cover)
                remaining = amount - sum(d[4] for d in cover.drawn)
            elif a.action == CLOSE:
                if a.amount:
                    raise ReplayError(f"CLOSE of account {a.account} with amount {a.amount}")
                if not self.fund.is_open(a.account):
                    raise ReplayError(f"CLOSE of account {a.account}, which is not in default")
                if self.debt.get(a.account, 0):
                    raise ReplayError(f"CLOSE of account {a.account} with debt {self.debt[a.account]} outstanding")
                self.fund.close(a.account)
                self.default_events.append(("closed", a.account))
            elif a.action == ASSESS:
                if a.amount == 0:
                    raise ReplayError(f"ASSESS of 0 for account {a.account}")
                amount = min(a.amount, remaining)  # above what is uncovered: the remainder (RowAdjusted)
                if amount == 0:
                    continue
                if self.fund.value:
                    raise ReplayError(f"ASSESS of account {a.account} while the pool (layer 4) holds {self.fund.value}")
                if cover is None:
                    raise ReplayError(f"ASSESS of {a.amount} from account {a.account} before any COVER")
                self._assess(cover, a.account, amount)
                remaining -= amount
            else:
                raise ReplayError(f"unknown default action {a.action}")
        if remaining:
            raise ReplayError(f"the last COVER left {remaining} uncovered by its ASSESS rows")

    def _recall_pending(self, account: int) -> None:
        """A DECLARE brings the defaulter's pending withdrawals back to its balance (into the waterfall):
        collateral as is, the settlement cash credited once in total (repaying its debt first)."""
        cash = 0
        for wid in list(self._ids_of(account)):  # in the vault's order, one WithdrawalRecalled each
            p = self._take_pending(wid)
            self.recalls.append(wid)
            if p.asset == SETTLEMENT_ASSET:
                cash += p.amount
            else:
                self.balances[(account, p.asset)] += p.amount
        if cash:
            self.credit(account, SETTLEMENT_ASSET, cash)

    def waterfall_state(self, defaulter: int, loss: int) -> WaterfallInput:
        """What the waterfall rule reads for a COVER of `loss`, from the replayed books."""
        fund = self.fund
        d = fund.defaults[defaulter]
        survivors = tuple(
            Survivor(
                account,
                fund.shares_at_declare(defaulter, account),
                # its cash, and no more than what its cap for this default still allows
                min(self.balances.get((account, SETTLEMENT_ASSET), 0), fund.cap_left(defaulter, account)),
            )
            for account in sorted(self.accounts)
            if account != defaulter and not fund.is_open(account)
        )
        return WaterfallInput(
            defaulter=defaulter,
            loss=loss,
            collateral=tuple(
                CollateralHolding(asset, self.balances.get((defaulter, asset), 0), m.price, m.haircut_bps, m.decimals)
                for asset, m in sorted(self._layer1_marks.items())
                if asset != SETTLEMENT_ASSET
            ),
            contribution=fund.value_of(defaulter),
            operator_capital=self.balances.get((OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET), 0),
            pool=Pool(fund.value, fund.shares),
            pool_at_declare=Pool(d.pool_value, d.pool_shares),
            survivors=survivors,
        )

    def _cover(self, defaulter: int, amount: int, debt: int) -> CoverRecord:
        state = self.waterfall_state(defaulter, amount)
        plan = plan_waterfall(state)
        record = CoverRecord(defaulter, amount, debt, state, plan)
        for x in plan.draws:  # layers 1-4, as Waterfall.cover applies them
            if x.layer == Layer.COLLATERAL:
                self.debit(defaulter, x.asset, x.amount, advance=False)
                self.balances[(DEFAULT_FUND_ACCOUNT, x.asset)] += x.amount
            elif x.layer == Layer.OWN_CONTRIBUTION:
                left = self.fund.remove(defaulter, x.amount)
                self.default_events.append(("contribution", defaulter, -x.amount, left))
            elif x.layer == Layer.OPERATOR_CAPITAL:
                self.debit(OPERATOR_CAPITAL_ACCOUNT, SETTLEMENT_ASSET, x.amount, advance=False)
                self.balances[(DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET)] += x.amount
            elif x.layer == Layer.SURVIVORS_FUND:
                self.fund.draw(x.amount)
            else:
                raise ReplayError(f"the waterfall rule drew layer {int(x.layer)} in a COVER")
            drawn = (int(x.layer), x.account, x.asset, x.amount, x.value)
            record.drawn.append(drawn)
            self.default_events.append(("draw", defaulter, *drawn))
        self.debt[defaulter] -= sum(x.value for x in plan.draws)
        return record

    def _assess(self, cover: CoverRecord, member: int, amount: int) -> None:
        defaulter = cover.defaulter
        if member == defaulter or self.fund.is_open(member):
            raise ReplayError(f"ASSESS of account {member}, which is in default")
        self.fund.assess(defaulter, member, amount)
        # its cash first, its pending cash withdrawals recalled beyond it; the rest becomes its own debt (the
        # fund carries the claim, a LiquidityAdvanced)
        self._recall_for(member, SETTLEMENT_ASSET, amount)
        paid = min(self.balances.get((member, SETTLEMENT_ASSET), 0), amount)
        self.debit(member, SETTLEMENT_ASSET, paid, advance=False)
        self.balances[(DEFAULT_FUND_ACCOUNT, SETTLEMENT_ASSET)] += paid
        if amount > paid:
            self.debt[member] = self.debt.get(member, 0) + amount - paid
            self.emitted.append(("advanced", member, amount - paid))
        self.debt[defaulter] -= amount
        cover.assessed.append((member, amount))
        drawn = (int(Layer.ASSESSMENT), member, SETTLEMENT_ASSET, amount, amount)
        cover.drawn.append(drawn)
        self.default_events.append(("draw", defaulter, *drawn))

    # ------------------------------------------------------------ views

    def pending_total(self, asset: int) -> int:
        return sum(p.amount for p in self.pending.values() if p.asset == asset)

    def balance_sum(self, asset: int) -> int:
        return sum(v for (_, a), v in self.balances.items() if a == asset)

    @staticmethod
    def observed(events: list[LiquidityAdvanced | AdvanceRepaid]) -> list[tuple[str, int, int]]:
        return [("advanced" if isinstance(e, LiquidityAdvanced) else "repaid", e.account, e.amount) for e in events]

    @staticmethod
    def observed_defaults(events: list[DefaultEvent]) -> list[DefaultRecordTuple]:
        out: list[DefaultRecordTuple] = []
        for e in events:
            match e:
                case ContributionChanged():
                    out.append(("contribution", e.account, e.amount, e.value))
                case MarginCalled():
                    out.append(("margin-call", e.account, e.amount, e.deadline))
                case DefaultDeclared():
                    out.append(("declared", e.account))
                case DefaultClosed():
                    out.append(("closed", e.account))
                case WaterfallDraw():
                    out.append(("draw", e.defaulter, e.layer, e.account, e.asset, e.amount, e.value))
        return out
