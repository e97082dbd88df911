"""The default manager: what a batch carries for default management, decided inside the batch's own
database transaction (the builder's hook).

Per batch, in the vault's order (contributions, marginCalls, defaultActions):
 1. project every member to the state the vault will see after the batch's marks, requirements and
    transfers (offchain/defaults/calls.py: cash/debt and haircut equity);
 2. margin calls: issue, raise, cure, or declare a default (offchain/defaults/calls.py), writing one
    `margin_calls` row per change and moving the member's status (active ⇄ close_only → defaulted);
 3. open defaults whose defaulter is flat after this batch: COVER its debt with the waterfall the vault will
    apply (offchain/core/waterfall.py), with ASSESS rows if L1-L4 do not suffice, then CLOSE; the plan's
    draws are stored in `waterfall_draws` (source 'plan'). The plan reads the pool as the vault holds it
    (`FundView.pool_book`: exact shares at DECLARE, caps left), with this batch's DECLAREs and earlier COVERs
    applied first, as the vault applies rows in order: a member declared in this batch is no survivor;
 4. default-fund contributions, when due (offchain/defaults/fund.py).
The decision (`DefaultManager.decide`) is pure: it reads the ledger's `DefaultsSnapshot` and the vault's
fund view and returns the rows with their ledger writes (`DefaultWrites`, stored by offchain/ledger/
defaults.py). Ledger writes carry the batch's sequence; the engine resubmits a stored batch until it
lands, so they become true with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from offchain.core.accounting import pow10
from offchain.core.batch import (
    ASSESS,
    CLOSE,
    COVER,
    DECLARE,
    SETTLEMENT_ASSET,
    Contribution,
    DefaultAction,
    MarginCall,
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
from offchain.defaults.auction import AuctionParams, penalty_bps
from offchain.defaults.calls import AssetMark, CallPolicy, MemberState, OpenCall, Verdict, apply_cash, decide, equity
from offchain.defaults.fund import FundPolicy, StressedBook, contribution_rows, cover2_targets, due
from offchain.defaults.pool import PoolBook
from offchain.ledger import defaults as store
from offchain.ledger.defaults import (
    CallRecord,
    ContributionRecord,
    DeclareRecord,
    DefaultsSnapshot,
    DefaultWrites,
    DrawRecord,
    OpenDefault,
)
from offchain.ledger.handles import Connection


@runtime_checkable
class FundView(Protocol):
    """On-chain default-fund state (the vault's views)."""

    def debts(self, accounts: Sequence[int]) -> dict[int, int]: ...

    def contributions(self, accounts: Sequence[int]) -> dict[int, int]:
        """Current contribution value per account."""
        ...

    def pool(self) -> tuple[int, int]:
        """(value, total shares) of the default fund's pool."""
        ...

    def operator_capital(self) -> int: ...

    def pool_book(self) -> PoolBook:
        """The pool, each member's exact shares, and the pool and stakes at each DECLARE, as the vault
        holds them before this batch (read only when a COVER is planned)."""
        ...


@dataclass(frozen=True)
class DefaultsConfig:
    calls: CallPolicy = field(default_factory=CallPolicy)
    auction: AuctionParams = field(default_factory=AuctionParams)
    fund: FundPolicy = field(default_factory=FundPolicy)


@dataclass(frozen=True)
class BatchState:
    """What the builder knows about the batch being built."""

    sequence: int
    as_of: int  # chain seconds
    members: Sequence[tuple[int, str]]  # (account, tier)
    holdings: Mapping[tuple[int, int], int]  # (account, asset) -> balance before the batch
    transfers: Sequence[Transfer]
    requirements: Mapping[int, tuple[int, int]]  # account -> (IM, MM) after the batch
    collateral: Mapping[int, AssetMark]  # asset -> mark after the batch
    positions: Mapping[tuple[int, str], int]  # (account, instrument) -> net qty after the batch
    marks: Mapping[str, int]  # instrument marks after the batch
    liquidity_addon: Mapping[int, int] = field(default_factory=dict)  # account -> base units
    contribution_targets: Mapping[int, int] | None = None  # Cover-2 targets, when the builder sized them
    # asset -> mark in force on-chain when the batch begins: what a COVER values layer 1 at (the vault applies
    # the batch's mark rows after its default rows); None: the same as `collateral`
    collateral_in_force: Mapping[int, AssetMark] | None = None
    # members whose exit request this batch serves (IM 0; offchain/settlement/builder.py `serve_exits`): their
    # default-fund contribution is returned as soon as contributions are not frozen
    exits_served: frozenset[int] = frozenset()


@dataclass(frozen=True)
class DefaultRows:
    contributions: tuple[Contribution, ...] = ()
    margin_calls: tuple[MarginCall, ...] = ()
    default_actions: tuple[DefaultAction, ...] = ()
    waterfalls: Mapping[int, WaterfallPlan] = field(default_factory=dict)  # default id -> plan


@dataclass(frozen=True)
class Projected:
    cash: int
    debt: int
    balances: dict[int, int]
    equity: int


@dataclass(frozen=True)
class DefaultOutcome:
    """One batch's default management: the rows the batch carries and the ledger writes that go with them."""

    rows: DefaultRows
    writes: DefaultWrites


OPEN_VERDICTS = (Verdict.ISSUE, Verdict.RAISE, Verdict.HOLD)


def calls_open(snapshot: DefaultsSnapshot) -> dict[int, OpenCall]:
    """The open call per member: its latest margin-call row, when that row leaves a call open."""
    return {
        a: OpenCall(a, c.amount, c.deadline, c.deep) for a, c in snapshot.calls.items() if c.verdict in OPEN_VERDICTS
    }


def open_calls(conn: Connection) -> dict[int, OpenCall]:
    """The open call per member, replayed from the ledger's `margin_calls` log."""
    return calls_open(DefaultsSnapshot(store.latest_calls(conn), {}, (), False, {}))


@dataclass
class _Writes:
    """The writes of the batch being decided, in the order they are made."""

    calls: list[CallRecord] = field(default_factory=list)
    statuses: list[tuple[int, str]] = field(default_factory=list)
    declares: list[DeclareRecord] = field(default_factory=list)
    draws: list[DrawRecord] = field(default_factory=list)
    covered: list[tuple[int, int]] = field(default_factory=list)
    closes: list[tuple[int, int]] = field(default_factory=list)
    contributions: list[ContributionRecord] = field(default_factory=list)

    def frozen(self) -> DefaultWrites:
        return DefaultWrites(
            tuple(self.calls),
            tuple(self.statuses),
            tuple(self.declares),
            tuple(self.draws),
            tuple(self.covered),
            tuple(self.closes),
            tuple(self.contributions),
        )


class DefaultManager:
    def __init__(self, config: DefaultsConfig | None = None) -> None:
        self.config = config or DefaultsConfig()

    def project(self, s: BatchState, debts: Mapping[int, int]) -> dict[int, Projected]:
        delta: dict[tuple[int, int], int] = {}
        for tr in s.transfers:
            delta[(tr.account, tr.asset)] = delta.get((tr.account, tr.asset), 0) + tr.amount
        out: dict[int, Projected] = {}
        for account, _ in s.members:
            balances = {
                asset: bal + delta.get((account, asset), 0)
                for (a, asset), bal in s.holdings.items()
                if a == account and asset != SETTLEMENT_ASSET
            }
            cash, debt = apply_cash(
                s.holdings.get((account, SETTLEMENT_ASSET), 0),
                debts.get(account, 0),
                delta.get((account, SETTLEMENT_ASSET), 0),
            )
            out[account] = Projected(
                cash, debt, balances, equity({**balances, SETTLEMENT_ASSET: cash}, debt, s.collateral)
            )
        return out

    def contribution_targets(
        self,
        conn: Connection,
        sequence: int,
        margin: StressedBook,
        members: Sequence[tuple[int, str]],
        positions: Mapping[tuple[int, str], int],
        marks: Mapping[str, int],
        im: Mapping[int, int],
        holdings: Mapping[tuple[int, int], int] | None = None,
        collateral_prices: Mapping[int, int] | None = None,
    ) -> dict[int, int] | None:
        """Cover-2 targets when this batch may recompute contributions (schedule or replenishment), else None.
        With holdings and collateral prices, the members' collateral falls in the same stressed scenarios."""
        if store.open_defaults(conn) or not due(sequence, self.config.fund, 0, store.closed_since_sizing(conn)):
            return None
        return cover2_targets(margin, members, positions, marks, im, holdings, collateral_prices)

    def rows(self, conn: Connection, s: BatchState, fund: FundView) -> DefaultRows:
        """The batch's default rows, with their ledger writes made in `conn` (the batch's transaction)."""
        outcome = self.decide(store.read_snapshot(conn, [a for a, _ in s.members]), s, fund)
        store.apply_writes(conn, outcome.writes, s.sequence)
        return outcome.rows

    def decide(self, snapshot: DefaultsSnapshot, s: BatchState, fund: FundView) -> DefaultOutcome:
        """Steps 1-4 of the module docstring on the ledger's snapshot and the vault's fund view."""
        accounts = [a for a, _ in s.members]
        projected = self.project(s, fund.debts(accounts))
        writes = _Writes()
        calls, actions = self._margin_calls(snapshot, s, projected, fund, writes)
        waterfalls: dict[int, WaterfallPlan] = {}
        # Contributions apply before default actions on-chain: a default open when the batch begins
        # (or declared in it) freezes them even if this batch closes it.
        frozen = bool(actions) or bool(snapshot.open_defaults)
        self._close_defaults(snapshot, s, projected, fund, actions, waterfalls, writes)
        # A default this batch closes counts as closed since the last sizing (its sequence is this batch's).
        closed_since = snapshot.closed_since_sizing or bool(writes.closes)
        contributions = self._contributions(s, projected, fund, frozen, closed_since, writes)
        return DefaultOutcome(
            DefaultRows(tuple(contributions), tuple(calls), tuple(actions), waterfalls), writes.frozen()
        )

    # ---------------------------------------------------------------- 1-2: calls, cures, declarations

    def _margin_calls(
        self,
        snapshot: DefaultsSnapshot,
        s: BatchState,
        projected: Mapping[int, Projected],
        fund: FundView,
        writes: _Writes,
    ) -> tuple[list[MarginCall], list[DefaultAction]]:
        calls: list[MarginCall] = []
        actions: list[DefaultAction] = []
        current = calls_open(snapshot)
        for account, _tier in s.members:
            if snapshot.status.get(account) == "defaulted":
                continue
            p = projected[account]
            im, mm = s.requirements.get(account, (0, 0))
            m = MemberState(account, p.equity, p.debt, im, mm)
            d = decide(m, current.get(account), s.as_of, self.config.calls)
            if d.verdict in (Verdict.NONE, Verdict.HOLD):
                continue
            c = d.call
            writes.calls.append(
                CallRecord(
                    batch_sequence=s.sequence,
                    account=account,
                    verdict=d.verdict.value,
                    amount=c.amount if c is not None and d.verdict != Verdict.DEFAULT else 0,
                    deadline=c.deadline if c is not None else 0,
                    deep=bool(c.deep) if c is not None else False,
                    equity=m.equity,
                    debt=m.debt,
                    im=im,
                    mm=mm,
                    as_of=s.as_of,
                )
            )
            if d.verdict in (Verdict.ISSUE, Verdict.RAISE):
                assert c is not None
                calls.append(MarginCall(account=account, deadline=c.deadline, amount=c.amount))
                writes.statuses.append((account, "close_only"))
            elif d.verdict == Verdict.CURE:
                calls.append(MarginCall(account=account, deadline=0, amount=0))
                writes.statuses.append((account, "active"))
            else:  # DEFAULT
                actions.append(DefaultAction(account=account, action=DECLARE, amount=0))
                writes.statuses.append((account, "defaulted"))
                writes.declares.append(self._declare(snapshot, s, account, fund))
        return calls, actions

    def _declare(self, snapshot: DefaultsSnapshot, s: BatchState, account: int, fund: FundView) -> DeclareRecord:
        held = {i: q for (a, i), q in s.positions.items() if a == account and q}
        specs = snapshot.instruments
        gross = sum(abs(q) * s.marks[i] // pow10(specs[i].qty_decimals) for i, q in held.items())
        band = min((specs[i].price_band_bps for i in held), default=self.config.auction.band_bps)
        value, shares = fund.pool()
        return DeclareRecord(
            account=account,
            declared_sequence=s.sequence,
            declared_at=s.as_of,
            positions=held,
            penalty_bps=penalty_bps(s.liquidity_addon.get(account, 0), gross, self.config.auction, band),
            pool_value=value,
            pool_shares=shares,
        )

    # ---------------------------------------------------------------- 3: waterfall and close

    def _close_defaults(
        self,
        snapshot: DefaultsSnapshot,
        s: BatchState,
        projected: Mapping[int, Projected],
        fund: FundView,
        actions: list[DefaultAction],
        waterfalls: dict[int, WaterfallPlan],
        writes: _Writes,
    ) -> None:
        rows: list[OpenDefault] = [r for r in snapshot.open_defaults if r.declared_sequence < s.sequence]
        if not rows:
            return
        book: PoolBook | None = None  # read once, and only if a COVER is planned
        capital = 0
        cash = {a: projected[a].cash for a, _ in s.members}
        for r in rows:
            if any(q for (a, _i), q in s.positions.items() if a == r.account):
                continue  # still closing out
            p = projected[r.account]
            if p.debt:
                if book is None:
                    book, capital = fund.pool_book(), fund.operator_capital()
                    for x in actions:  # the batch's DECLARE rows apply before its COVERs
                        if x.action == DECLARE:
                            book.declare(x.account)
                plan = plan_waterfall(self._waterfall_input(s, r.account, p, book, capital, cash))
                capital -= self._apply_plan(book, cash, r.account, plan)
                waterfalls[r.id] = plan
                cover = plan.cover_amount
                if cover:
                    actions.append(DefaultAction(account=r.account, action=COVER, amount=cover))
                    actions.extend(
                        DefaultAction(account=a.account, action=ASSESS, amount=a.value) for a in plan.assessments
                    )
                draws = [*plan.draws, *plan.assessments, *plan.vm_haircuts]
                writes.draws.extend(DrawRecord(r.id, s.sequence, "plan", x) for x in draws)
                writes.covered.append((r.id, r.covered + cover))
                if cover < p.debt:
                    continue  # L6/L7 territory: reported, the default stays open (see docs/defaults.md)
            actions.append(DefaultAction(account=r.account, action=CLOSE, amount=0))
            writes.closes.append((r.id, s.sequence))
            if book is not None:
                book.close(r.account)

    @staticmethod
    def _waterfall_input(
        s: BatchState, defaulter: int, p: Projected, book: PoolBook, capital: int, cash: Mapping[int, int]
    ) -> WaterfallInput:
        """What the vault's waterfall reads at this COVER. Survivors: members not in an open default (one
        declared in this batch included), weighed by their exact pool shares at the defaulter's DECLARE, their
        cash capped by what the vault's assessment cap still allows for this default. Layer 1 is valued at the
        marks in force when the batch begins, as the vault does (Vault.settle posts the marks last)."""
        in_force = s.collateral if s.collateral_in_force is None else s.collateral_in_force
        survivors = tuple(
            Survivor(a, book.shares_at_declare(defaulter, a), min(max(cash[a], 0), book.cap_left(defaulter, a)))
            for a, _ in s.members
            if a != defaulter and not book.is_open(a)
        )
        others = book.shares - book.shares_of(defaulter) - sum(book.shares_of(v.account) for v in survivors)
        return WaterfallInput(
            defaulter=defaulter,
            loss=p.debt,
            collateral=tuple(
                CollateralHolding(asset, bal, m.price, m.haircut_bps, m.decimals)
                for asset, bal in sorted(p.balances.items())
                if (m := in_force.get(asset)) is not None
            ),
            contribution=book.value_of(defaulter),
            operator_capital=capital,
            pool=Pool(book.value, book.shares),
            pool_at_declare=book.pool_at_declare(defaulter),
            survivors=survivors,
            others_shares=others,
        )

    @staticmethod
    def _apply_plan(book: PoolBook, cash: dict[int, int], defaulter: int, plan: WaterfallPlan) -> int:
        """Apply a plan's on-chain draws to the book and the survivors' cash, as the vault will (for a later
        COVER in the same batch); returns the operator capital it draws."""
        capital = 0
        for x in plan.draws:
            if x.layer == Layer.OWN_CONTRIBUTION:
                book.remove(defaulter, x.amount)
            elif x.layer == Layer.OPERATOR_CAPITAL:
                capital += x.amount
            elif x.layer == Layer.SURVIVORS_FUND:
                book.draw(x.amount)
        for x in plan.assessments:
            book.assess(defaulter, x.account, x.amount)
            cash[x.account] -= x.amount
        return capital

    # ---------------------------------------------------------------- 4: contributions

    def _contributions(
        self,
        s: BatchState,
        projected: Mapping[int, Projected],
        fund: FundView,
        frozen: bool,
        closed_since_sizing: bool,
        writes: _Writes,
    ) -> list[Contribution]:
        """The batch's contribution rows: Cover-2 sizing when it is due, and the whole contribution of every member
        whose exit this batch serves (target 0), in any batch where contributions are not frozen. The vault
        counts a served exit with a contribution left as unserved (forceWindDown), and nothing but a
        contribution row can return it, so it does not wait for the next sizing. Frozen (a default open, or
        one declared in this batch): no row at all, the vault would refuse it (ContributionLocked beside an
        open default, CapacityMovedBesideCover beside a DECLARE or COVER)."""
        if frozen:
            return []
        sized = s.contribution_targets is not None and due(s.sequence, self.config.fund, 0, closed_since_sizing)
        if not sized and not s.exits_served:
            return []
        members = [a for a, _ in s.members]
        current = fund.contributions(members)
        leaving = {a: 0 for a in sorted(s.exits_served) if a in current}
        if sized:
            targets = {**(s.contribution_targets or {}), **leaving}
            cash = {a: projected[a].cash for a in members}
            rows = contribution_rows(targets, current, cash, self.config.fund)
            recorded = members
        else:
            targets, rows, recorded = leaving, {}, [a for a in leaving if current.get(a, 0)]
        # A served exit takes back all of its contribution, whatever the return threshold.
        rows.update({a: -current[a] for a in leaving if current.get(a, 0) > 0})
        # Records of a return-only batch name the leaving members alone: `closed_since_sizing` reads the
        # latest record as the last sizing, which is then no earlier than it would be (a replenishment due
        # makes this batch a sizing one).
        writes.contributions.extend(
            ContributionRecord(
                batch_sequence=s.sequence,
                account=a,
                target=targets.get(a, 0),
                current=current.get(a, 0),
                amount=rows.get(a, 0),
            )
            for a in recorded
        )
        return [Contribution(account=a, amount=v) for a, v in sorted(rows.items())]
