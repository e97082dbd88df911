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
Ledger writes carry the batch's sequence; the engine resubmits a stored batch until it lands, so they
become true with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection, insert, select, update

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
from offchain.defaults.fund import FundPolicy, contribution_rows, cover2_targets, due
from offchain.defaults.pool import PoolBook
from offchain.ledger import schema as t
from offchain.settlement.margin import MemberMargin, RiskEngineMargin


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


def open_calls(conn: Connection) -> dict[int, OpenCall]:
    """The open call per member, replayed from the `margin_calls` log (the last row per member)."""
    mc = t.margin_calls
    out: dict[int, OpenCall] = {}
    for account, verdict, amount, deadline, deep in conn.execute(
        select(mc.c.account, mc.c.verdict, mc.c.amount, mc.c.deadline, mc.c.deep).order_by(mc.c.id)
    ):
        if verdict in (Verdict.ISSUE, Verdict.RAISE, Verdict.HOLD):
            out[account] = OpenCall(account, amount, deadline, deep)
        else:
            out.pop(account, None)
    return out


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
        margin: RiskEngineMargin,
        members: Sequence[tuple[int, str]],
        positions: Mapping[tuple[int, str], int],
        marks: Mapping[str, int],
        requirements: Mapping[int, MemberMargin],
        holdings: Mapping[tuple[int, int], int] | None = None,
        collateral_prices: Mapping[int, int] | None = None,
    ) -> dict[int, int] | None:
        """Cover-2 targets when this batch may recompute contributions (schedule or replenishment), else None.
        With holdings and collateral prices, the members' collateral falls in the same stressed scenarios."""
        if self._open_default(conn) or not due(sequence, self.config.fund, 0, self._closed_since_sizing(conn)):
            return None
        im = {a: mg.im for a, mg in requirements.items()}
        return cover2_targets(margin, members, positions, marks, im, holdings, collateral_prices)

    def _open_default(self, conn: Connection) -> bool:
        return conn.execute(select(t.defaults.c.id).where(t.defaults.c.status == "declared")).first() is not None

    def _closed_since_sizing(self, conn: Connection) -> bool:
        d = t.defaults
        last = conn.execute(
            select(t.df_contributions.c.batch_sequence).order_by(t.df_contributions.c.id.desc()).limit(1)
        ).scalar_one_or_none()
        return (
            conn.execute(select(d.c.id).where(d.c.status == "closed", d.c.closed_sequence >= (last or 0))).first()
            is not None
        )

    def rows(self, conn: Connection, s: BatchState, fund: FundView) -> DefaultRows:
        accounts = [a for a, _ in s.members]
        projected = self.project(s, fund.debts(accounts))
        status = {
            a: st
            for a, st in conn.execute(
                select(t.members.c.account, t.members.c.status).where(t.members.c.account.in_(accounts))
            )
        }
        calls, actions = self._margin_calls(conn, s, projected, status, fund)
        waterfalls: dict[int, WaterfallPlan] = {}
        # Contributions apply before default actions on-chain: a default open when the batch begins
        # (or declared in it) freezes them even if this batch closes it.
        frozen = bool(actions) or self._open_default(conn)
        self._close_defaults(conn, s, projected, fund, actions, waterfalls)
        contributions = self._contributions(conn, s, projected, fund, frozen)
        return DefaultRows(tuple(contributions), tuple(calls), tuple(actions), waterfalls)

    # ---------------------------------------------------------------- 1-2: calls, cures, declarations

    def _margin_calls(
        self,
        conn: Connection,
        s: BatchState,
        projected: Mapping[int, Projected],
        status: Mapping[int, str],
        fund: FundView,
    ) -> tuple[list[MarginCall], list[DefaultAction]]:
        calls: list[MarginCall] = []
        actions: list[DefaultAction] = []
        current = open_calls(conn)
        for account, _tier in s.members:
            if status.get(account) == "defaulted":
                continue
            p = projected[account]
            im, mm = s.requirements.get(account, (0, 0))
            m = MemberState(account, p.equity, p.debt, im, mm)
            d = decide(m, current.get(account), s.as_of, self.config.calls)
            if d.verdict in (Verdict.NONE, Verdict.HOLD):
                continue
            c = d.call
            conn.execute(
                insert(t.margin_calls).values(
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
                self._set_status(conn, account, "close_only")
            elif d.verdict == Verdict.CURE:
                calls.append(MarginCall(account=account, deadline=0, amount=0))
                self._set_status(conn, account, "active")
            else:  # DEFAULT
                actions.append(DefaultAction(account=account, action=DECLARE, amount=0))
                self._declare(conn, s, account, fund)
        return calls, actions

    def _set_status(self, conn: Connection, account: int, status: str) -> None:
        conn.execute(update(t.members).where(t.members.c.account == account).values(status=status))

    def _declare(self, conn: Connection, s: BatchState, account: int, fund: FundView) -> None:
        self._set_status(conn, account, "defaulted")
        held = {i: q for (a, i), q in s.positions.items() if a == account and q}
        specs = {
            n: (qd, band)
            for n, qd, band in conn.execute(
                select(t.instruments.c.name, t.instruments.c.qty_decimals, t.instruments.c.price_band_bps)
            )
        }
        gross = sum(abs(q) * s.marks[i] // pow10(specs[i][0]) for i, q in held.items())
        band = min((specs[i][1] for i in held), default=self.config.auction.band_bps)
        value, shares = fund.pool()
        conn.execute(
            insert(t.defaults).values(
                account=account,
                status="declared",
                declared_sequence=s.sequence,
                declared_at=s.as_of,
                positions={i: str(q) for i, q in sorted(held.items())},
                penalty_bps=penalty_bps(s.liquidity_addon.get(account, 0), gross, self.config.auction, band),
                pool_value=value,
                pool_shares=shares,
                covered=0,
            )
        )

    # ---------------------------------------------------------------- 3: waterfall and close

    def _close_defaults(
        self,
        conn: Connection,
        s: BatchState,
        projected: Mapping[int, Projected],
        fund: FundView,
        actions: list[DefaultAction],
        waterfalls: dict[int, WaterfallPlan],
    ) -> None:
        d = t.defaults
        rows = conn.execute(
            select(d.c.id, d.c.account, d.c.covered).where(d.c.status == "declared", d.c.declared_sequence < s.sequence)
        ).all()
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
                if draws:
                    conn.execute(
                        insert(t.waterfall_draws),
                        [
                            {
                                "default_id": r.id,
                                "batch_sequence": s.sequence,
                                "source": "plan",
                                "layer": int(x.layer),
                                "account": x.account,
                                "asset": x.asset,
                                "amount": x.amount,
                                "value": x.value,
                            }
                            for x in draws
                        ],
                    )
                conn.execute(update(d).where(d.c.id == r.id).values(covered=r.covered + cover))
                if cover < p.debt:
                    continue  # L6/L7 territory: reported, the default stays open (see docs/defaults.md)
            actions.append(DefaultAction(account=r.account, action=CLOSE, amount=0))
            conn.execute(update(d).where(d.c.id == r.id).values(status="closed", closed_sequence=s.sequence))
            if book is not None:
                book.close(r.account)

    @staticmethod
    def _waterfall_input(
        s: BatchState, defaulter: int, p: Projected, book: PoolBook, capital: int, cash: Mapping[int, int]
    ) -> WaterfallInput:
        """What the vault's waterfall reads at this COVER. Survivors: members not in an open default (one
        declared in this batch included), weighed by their exact pool shares at the defaulter's DECLARE, their
        cash capped by what the vault's assessment cap still allows for this default."""
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
                if (m := s.collateral.get(asset)) is not None
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
        self, conn: Connection, s: BatchState, projected: Mapping[int, Projected], fund: FundView, frozen: bool
    ) -> list[Contribution]:
        if s.contribution_targets is None:
            return []
        if not due(s.sequence, self.config.fund, int(frozen), self._closed_since_sizing(conn)):
            return []
        members = [a for a, _ in s.members]
        current = fund.contributions(members)
        cash = {a: projected[a].cash for a in members}
        rows = contribution_rows(s.contribution_targets, current, cash, self.config.fund)
        conn.execute(
            insert(t.df_contributions),
            [
                {
                    "batch_sequence": s.sequence,
                    "account": a,
                    "target": s.contribution_targets.get(a, 0),
                    "current": current.get(a, 0),
                    "amount": rows.get(a, 0),
                }
                for a in members
            ],
        )
        return [Contribution(account=a, amount=v) for a, v in sorted(rows.items())]
