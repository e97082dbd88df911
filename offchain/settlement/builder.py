"""Building one batch, in the order `Vault.settle` checks it: snapshot -> price guard -> obligations ->
margin -> default rows -> assemble -> store. Each step is a method with typed inputs and outputs; the
ledger is read once (offchain/ledger/batch_inputs.py) and written through its stores.

Everything happens in one database transaction: the batch row (status `built`) and the claim on its
fills and funding intervals commit together or not at all, before anything is signed or sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from offchain.chain.exits import ExitState
from offchain.core.accounting import net_transfers
from offchain.core.batch import (
    DEFAULT_BATCH_TTL_S,
    SETTLEMENT_ASSET,
    UINT112_MAX,
    Batch,
    Mark,
    Requirement,
    Transfer,
    WithdrawalApproval,
)
from offchain.core.context import BatchContext, InstrumentTerms
from offchain.core.eip712 import Domain
from offchain.core.merkle import root_of
from offchain.core.obligations import Obligations, compute_obligations
from offchain.defaults.calls import AssetMark
from offchain.defaults.manager import BatchState, DefaultManager, DefaultRows, FundView
from offchain.ledger.alerts import record_alert
from offchain.ledger.batch_inputs import SettlementSnapshot, read_snapshot
from offchain.ledger.batches import BatchPayload, MarginDetail, claim_inputs, posted_collateral_marks, store_built
from offchain.ledger.defaults import member_status
from offchain.ledger.handles import Connection
from offchain.ledger.margin_history import margin_before
from offchain.ledger.prices import LedgerPrices
from offchain.marketdata.candles import DAY_MS
from offchain.marketdata.index import IndexRule
from offchain.settlement.margin import CollateralSpec, MemberMargin, RiskEngineMargin, StaleCalibrationError
from offchain.settlement.marks import GuardLimits, Halt, MarkDecision, MarkGuard


class ChainView(Protocol):
    """What a batch needs to read from the chain."""

    def chain_time(self) -> int:
        """Timestamp of the latest block: a batch's `asOf` (the vault refuses one in the future)."""
        ...

    def block_time(self) -> int:
        """The latest block's own timestamp (what the vault compares a batch's `validUntil` with)."""
        ...

    def now_ms(self) -> int:
        """Current time for reading marks: the wall clock, or the chain's if that runs ahead."""
        ...

    def holdings(self, accounts: Sequence[int], assets: Sequence[int]) -> dict[tuple[int, int], int]: ...


@dataclass(frozen=True)
class BuilderConfig:
    max_fills: int = 5_000  # per batch; the rest waits for the next one
    heartbeat_s: int = 60  # settle an empty batch at least this often: marks stay fresh, the hatch shut
    settlement_decimals: int = 6
    index_rule: IndexRule = field(default_factory=IndexRule)  # one index rule for marks and collateral prices
    collateral_guard: GuardLimits = field(default_factory=GuardLimits)  # staleness and band of collateral


@dataclass(frozen=True)
class ChainTip:
    sequence: int
    digest: bytes
    as_of: int
    settled_at: int  # chain time of the last batch, for the heartbeat


@dataclass(frozen=True)
class BatchTime:
    """The batch's clock, read once: its `asOf` (seconds) and the now that marks and funding are read at."""

    as_of: int
    now_ms: int


@dataclass(frozen=True)
class GuardedMarks:
    """The price guard's output: every active instrument's decision, and the marks that passed it."""

    decisions: dict[str, MarkDecision]
    new_marks: dict[str, int]


@dataclass(frozen=True)
class SettledObligations:
    """The obligations step's output: what the batch settles and the positions after it."""

    obligations: Obligations
    positions_after: dict[tuple[int, str], int]
    transfers: tuple[Transfer, ...]


@dataclass(frozen=True)
class MarginState:
    """The margin step's output: every member's margin after the batch and what changes on-chain."""

    collateral_prices: dict[int, int]  # asset -> guarded price
    holdings: dict[tuple[int, int], int]  # (account, asset) -> balance before the batch
    marks: dict[str, int]  # the instrument marks margin was computed at (settled, then this batch's)
    members: dict[int, MemberMargin]
    requirements: tuple[Requirement, ...]  # the rows whose IM/MM differ from the posted ones
    collateral_marks: tuple[Mark, ...]  # the rows whose price/haircut differ from the posted ones
    all_collateral_marks: tuple[Mark, ...]  # every asset's mark after the batch
    served: frozenset[int] = frozenset()  # members with an open exit request whose exit this batch serves


class BatchBuilder:
    def __init__(
        self,
        margin: RiskEngineMargin,
        collateral: Sequence[CollateralSpec],
        config: BuilderConfig = BuilderConfig(),
        guard: MarkGuard | None = None,
        defaults: DefaultManager | None = None,
    ) -> None:
        self.margin = margin
        self.defaults = defaults  # margin calls, defaults, waterfall, contributions (offchain/defaults)
        self.collateral = tuple(collateral)
        self.config = config
        self.guard = guard or MarkGuard()
        self._alerted: dict[str, Halt] = {}
        self._collateral_alerted: dict[str, str] = {}
        self.collateral_decisions: dict[str, MarkDecision] = {}  # the last batch's, for its evidence
        self._calibration_alerted = False
        self._exit_alerted: set[int] = set()  # open exit requests already alerted as not served yet

    def build(
        self, conn: Connection, chain: ChainView, domain: Domain, tip: ChainTip, exits: ExitState | None = None
    ) -> BatchPayload | None:
        """Build and store the next batch, or return None when there is nothing to settle yet. `exits`: the
        vault's open exit requests and their members' pending withdrawals (offchain/chain/exits.py), served."""
        exits = exits or ExitState()
        time = BatchTime(as_of=chain.chain_time(), now_ms=chain.now_ms())
        if not self.refresh_model(conn, time.now_ms):
            return None
        snapshot = read_snapshot(conn, self.config.max_fills, time.now_ms)
        prices = LedgerPrices(conn, self.config.index_rule)
        marks = self.guard_marks(conn, snapshot, prices, time.now_ms)
        settled = self.obligations(snapshot, marks)
        margin = self.margin_after(conn, chain, snapshot, prices, marks, settled, time.now_ms, time.as_of, exits)
        if margin is None:
            return None
        rows = self.default_rows(conn, chain, tip, time.as_of, snapshot, settled, margin)
        approvals = self.exit_approvals(exits, settled, margin, rows)
        if self.quiet(settled, margin, rows, approvals) and time.as_of - tip.settled_at < self.config.heartbeat_s:
            return None
        payload = self.assemble(snapshot, marks, settled, margin, rows, tip, time.as_of, chain.block_time(), approvals)
        self.store(conn, payload, domain, time.now_ms)
        return payload

    # ---------------------------------------------------------------- 0. the model's calibration

    def refresh_model(self, conn: Connection, now_ms: int) -> bool:
        """Recalibrate on schedule; False (and one alert per outage) when the calibration data is stale."""
        try:
            self.margin.refresh(conn, now_ms)
        except StaleCalibrationError as exc:
            if not self._calibration_alerted:
                record_alert(conn, now_ms, "calibration_stale", "risk-model", str(exc))
            self._calibration_alerted = True
            return False
        self._calibration_alerted = False
        return True

    # ---------------------------------------------------------------- 1. price guard

    def guard_marks(
        self, conn: Connection, snapshot: SettlementSnapshot, prices: LedgerPrices, now_ms: int
    ) -> GuardedMarks:
        """Every active instrument's index through the band and staleness guard; halts raise an alert once."""
        decisions = self.guard.decide_all(snapshot.instruments, prices, snapshot.settled_marks, now_ms)
        halts = {name: (d.halt, d.detail) for name, d in decisions.items() if d.halt}
        for name, (halt, detail) in halts.items():
            if self._alerted.get(name) != halt:
                record_alert(conn, now_ms, halt.value, name, detail)
        self._alerted = {name: halt for name, (halt, _) in halts.items()}
        return GuardedMarks(decisions, {name: d.mark for name, d in decisions.items() if d.mark is not None})

    def collateral_prices(
        self,
        conn: Connection,
        prices: LedgerPrices,
        now_ms: int,
        posted_marks: dict[int, tuple[int, int]] | None = None,
    ) -> dict[int, int] | None:
        """Price of every collateral asset: its underlying's index through the band and staleness guard.
        A halted price keeps the last value posted to the vault (never the fresh one) and raises an
        alert; with no posted value either, no batch can be margined: None, and an alert."""
        par = 10**self.config.settlement_decimals
        marks = posted_collateral_marks(conn) if posted_marks is None else posted_marks
        posted = {asset: price for asset, (price, _haircut) in marks.items()}
        out: dict[int, int] = {}
        halted: dict[str, str] = {}
        self.collateral_decisions = {}
        for c in self.collateral:
            if c.factor is None:
                out[c.asset] = par
                continue
            idx = prices.index(c.factor, now_ms, self.config.collateral_guard.stale_ms)
            decision = self.guard.check(
                f"collateral:{c.factor}", self.config.collateral_guard, idx, posted.get(c.asset), now_ms
            )
            self.collateral_decisions[c.factor] = decision
            if decision.mark is not None:
                out[c.asset] = decision.mark
                continue
            kind = _collateral_alert(decision.halt) if c.asset in posted else "collateral_price_missing"
            halted[c.symbol] = kind
            if self._collateral_alerted.get(c.symbol) != kind:  # one alert per outage, not one per step
                record_alert(conn, now_ms, kind, c.symbol, f"{c.symbol} ({c.factor}): {decision.detail}")
            if c.asset in posted:
                out[c.asset] = posted[c.asset]
        self._collateral_alerted = halted
        return out if len(out) == len(self.collateral) else None

    # ---------------------------------------------------------------- 2. obligations

    def obligations(self, snapshot: SettlementSnapshot, marks: GuardedMarks) -> SettledObligations:
        """Variation margin, funding and fees of the pending fills and settled positions at the new marks."""
        ob = compute_obligations(
            snapshot.instruments,
            snapshot.positions,
            snapshot.settled_marks,
            marks.new_marks,
            snapshot.fills,
            snapshot.funding,
        )
        return SettledObligations(ob, ob.new_positions(snapshot.positions), net_transfers(ob.flows))

    # ---------------------------------------------------------------- 3. margin

    def margin_after(
        self,
        conn: Connection,
        chain: ChainView,
        snapshot: SettlementSnapshot,
        prices: LedgerPrices,
        marks: GuardedMarks,
        settled: SettledObligations,
        now_ms: int,
        as_of: int | None = None,
        exits: ExitState | None = None,
    ) -> MarginState | None:
        """Every member's IM/MM on the positions after the batch; None when a collateral price is missing.

        ``as_of``: the batch's asOf (chain seconds); the rise cap's day is the UTC day of it (of ``now_ms``
        without it), on the clock the stored batches' asOf are on. ``exits``: the open exit requests; the exit
        of a member this batch leaves flat is served (`serve_exits`)."""
        cprices = self.collateral_prices(conn, prices, now_ms, snapshot.posted_marks)
        if cprices is None:
            return None
        accounts = [a for a, _ in snapshot.members]
        holdings = chain.holdings(accounts, [c.asset for c in self.collateral])
        marks_for_margin = {**{n: m.price for n, m in snapshot.settled_marks.items()}, **marks.new_marks}
        # The rise cap's reference: each member's IM and stressed floor at the start of the batch's day. The
        # last batch before midnight may still be unconfirmed at the first batch after it; the reference is
        # then the batch before that one, until it confirms.
        reference = None
        if self.margin.config.max_daily_rise is not None:
            day_ms = now_ms if as_of is None else as_of * 1000
            reference = margin_before(conn, day_ms - day_ms % DAY_MS)
        computed = self.margin.requirements(
            snapshot.members, settled.positions_after, marks_for_margin, holdings, cprices, reference
        )
        posted = snapshot.posted_requirements
        members = self._unrepresentable(conn, computed, posted, now_ms)
        served = self.serve_exits(conn, snapshot, settled, members, exits or ExitState(), now_ms)
        for account in served:
            members[account] = replace(members[account], im=0, mm=0)
        requirements = tuple(
            Requirement(account=a, im=mg.im, mm=mg.mm)
            for a, mg in sorted(members.items())
            if posted.get(a, (0, 0)) != (mg.im, mg.mm)
        )
        all_marks = tuple(self.margin.collateral_marks(cprices))
        changed = tuple(collateral_marks_changed(all_marks, snapshot.posted_marks))
        return MarginState(cprices, holdings, marks_for_margin, members, requirements, changed, all_marks, served)

    def serve_exits(
        self,
        conn: Connection,
        snapshot: SettlementSnapshot,
        settled: SettledObligations,
        members: dict[int, MemberMargin],
        exits: ExitState,
        now_ms: int = 0,
    ) -> frozenset[int]:
        """The members with an open exit request whose exit this batch serves: IM 0 / MM 0 (docs/contracts.md
        "Forced exit": the exit is served once IM 0 is in force). A member qualifies once it is flat after the
        batch (no position in any instrument), with no acknowledged fill left for a later batch (all pending
        fills fit in this one, none of its deferred), margin with base units, and not defaulted (default
        management closes a defaulter out). Flat, it carries no risk: what the model still asks of it is the
        concentration part of its collateral's haircut (charged through IM, offchain/settlement/margin.py),
        which covers nothing once it has no obligations. Its withdrawals are approved by `exit_approvals`.

        A member with an open request that this batch does not serve raises one `exit_unserved` alert per
        request: if it still holds positions `exit_closeout_after_s` after the request, the engine closes them
        out by auction (offchain/defaults/closeout.py); if its IM in force is still above 0 an escape period
        after the request, anyone can wind the vault down (`forceWindDown`)."""
        candidates = exits.open & members.keys()
        self._exit_alerted &= candidates
        if not candidates:
            return frozenset()
        holding = {a for (a, _), q in settled.positions_after.items() if q and a in candidates}
        # A fill this batch defers (its instrument's mark halted) is still to come: not flat yet.
        holding |= {a for f in settled.obligations.deferred_fills for a in (f.buyer, f.seller)}
        status = member_status(conn, sorted(candidates))
        served = frozenset(
            a
            for a in candidates
            if a not in holding and members[a].error is None and status.get(a) not in (None, "defaulted")
        )
        if len(snapshot.fills) >= self.config.max_fills:
            served = frozenset()  # fills beyond this batch may name anyone: nobody is known to be flat
        for a in sorted(candidates - served - self._exit_alerted):
            if status.get(a) in (None, "defaulted"):
                why = "is defaulted (default management closes it out)"
            elif members[a].error is not None:
                why = "has no representable margin"
            else:
                why = "holds positions or has fills to settle"
            record_alert(
                conn,
                now_ms,
                "exit_unserved",
                str(a),
                f"account {a} asked to exit and {why}: its exit is served (IM 0) once it is flat (the engine closes "
                "its positions out by auction after the close-out delay); with its IM in force above 0 an escape "
                "period after the request, anyone can wind the vault down",
            )
            self._exit_alerted.add(a)
        return served

    def exit_approvals(
        self, exits: ExitState, settled: SettledObligations, margin: MarginState, rows: DefaultRows
    ) -> tuple[int, ...]:
        """Approval words releasing at once the pending withdrawals of the members whose exit this batch serves,
        within margin: the member's free collateral after the batch (the vault's formula, at this batch's
        collateral marks, its debt and IM 0) is not negative. Its pending amounts have left its balance
        already, so that one check covers them all; its cash after the batch counts the batch's transfers and
        default-fund contribution rows (> 0 takes cash, < 0 returns it). Within each asset's outflow budget
        left this period (an approval beyond it would be skipped on-chain and proposed again in every batch).
        A member this batch calls for margin or names in a default action waits. The vault re-checks margin
        at execution."""
        if not margin.served or not exits.withdrawals:
            return ()
        named = {c.account for c in rows.margin_calls if c.amount} | {a.account for a in rows.default_actions}
        after = dict(margin.holdings)
        for tr in settled.transfers:
            after[(tr.account, tr.asset)] = after.get((tr.account, tr.asset), 0) + tr.amount
        for c in rows.contributions:
            after[(c.account, SETTLEMENT_ASSET)] = after.get((c.account, SETTLEMENT_ASSET), 0) - c.amount
        decimals = {c.asset: c.decimals for c in self.collateral}
        left = dict(exits.outflow_left)
        out: list[int] = []
        for w in exits.withdrawals:
            if w.account not in margin.served or w.account in named:
                continue
            if free_collateral(w.account, after, margin.all_collateral_marks, decimals, exits.debts) < 0:
                continue
            if left.get(w.asset, 0) < w.amount:
                continue
            left[w.asset] -= w.amount
            out.append(WithdrawalApproval(id=w.id, account=w.account, asset=w.asset, amount=w.amount).pack())
        return tuple(out)

    def _unrepresentable(
        self, conn: Connection, margin: dict[int, MemberMargin], posted: dict[int, tuple[int, int]], now_ms: int
    ) -> dict[int, MemberMargin]:
        """A member whose amounts have no base units keeps its last posted requirement (with none, the
        largest the vault takes: nothing can be withdrawn), and raises an alert; the others are unaffected."""
        out = dict(margin)
        for account, mg in margin.items():
            if mg.error is None:
                continue
            im, mm = posted.get(account, (UINT112_MAX, UINT112_MAX))
            out[account] = MemberMargin(
                im, mm, 0, mg.es_core, mg.concentration_addon, mg.liquidity_addon, error=mg.error
            )
            record_alert(conn, now_ms, "margin_unrepresentable", str(account), mg.error)
        return out

    # ---------------------------------------------------------------- 4. default rows

    def default_rows(
        self,
        conn: Connection,
        chain: ChainView,
        tip: ChainTip,
        as_of: int,
        snapshot: SettlementSnapshot,
        settled: SettledObligations,
        margin: MarginState,
    ) -> DefaultRows:
        """The hook into default management: the rows (and ledger writes) of this batch, or none."""
        if self.defaults is None:
            return DefaultRows()
        if not isinstance(chain, FundView):
            raise TypeError("default management needs a chain view with the vault's default-fund reads")
        sequence = tip.sequence + 1
        decimals = {c.asset: c.decimals for c in self.collateral}
        scale = 10**self.config.settlement_decimals
        members, positions = snapshot.members, settled.positions_after
        im = {a: mg.im for a, mg in margin.members.items()}
        collateral = {
            m.asset: AssetMark(m.price, m.haircut_bps, decimals[m.asset]) for m in margin.all_collateral_marks
        }
        # a COVER values layer 1 at the marks the vault holds before this batch's mark rows apply
        # (an asset with no posted mark yet is valued at this batch's)
        in_force = dict(collateral)
        for asset, (price, haircut) in snapshot.posted_marks.items():
            if asset in in_force:
                in_force[asset] = AssetMark(price, haircut, decimals[asset])
        state = BatchState(
            sequence=sequence,
            as_of=max(as_of, tip.as_of),
            members=members,
            holdings=margin.holdings,
            transfers=settled.transfers,
            requirements={a: (mg.im, mg.mm) for a, mg in margin.members.items()},
            collateral=collateral,
            collateral_in_force=in_force,
            exits_served=margin.served,
            positions=positions,
            marks=margin.marks,
            liquidity_addon={a: math.ceil(mg.liquidity_addon * scale) for a, mg in margin.members.items()},
            contribution_targets=self.defaults.contribution_targets(
                conn,
                sequence,
                self.margin,
                members,
                positions,
                margin.marks,
                im,
                margin.holdings,
                margin.collateral_prices,
            ),
        )
        return self.defaults.rows(conn, state, chain)

    @staticmethod
    def quiet(
        settled: SettledObligations, margin: MarginState, rows: DefaultRows, approvals: Sequence[int] = ()
    ) -> bool:
        """Nothing to settle: no fills, transfers, requirement or mark changes, funding, default rows or
        withdrawal approvals (such a batch is built only as the heartbeat)."""
        ob = settled.obligations
        busy = ob.settled_fills or settled.transfers or margin.requirements or margin.collateral_marks or approvals
        return not (busy or ob.funding_applied or rows.contributions or rows.margin_calls or rows.default_actions)

    # ---------------------------------------------------------------- 5. assemble

    def assemble(
        self,
        snapshot: SettlementSnapshot,
        marks: GuardedMarks,
        settled: SettledObligations,
        margin: MarginState,
        rows: DefaultRows,
        tip: ChainTip,
        as_of: int,
        block_time: int,
        approvals: Sequence[int] = (),
    ) -> BatchPayload:
        """The batch (what the vault checks and the signers sign) and its stored payload."""
        ob, instruments = settled.obligations, snapshot.instruments
        touched = (
            set(ob.marks_used) | {f.instrument for f in ob.settled_fills} | {d.instrument for d in ob.funding_applied}
        )
        context = BatchContext(
            marks=dict(ob.marks_used),
            previous_marks={n: snapshot.settled_marks[n].price for n in ob.marks_used if n in snapshot.settled_marks},
            funding=tuple((d.instrument, d.ts_ms, d.rate_e8) for d in ob.funding_applied),
            terms={
                n: InstrumentTerms(instruments[n].qty_decimals, instruments[n].clearing_fee_bps)
                for n in sorted(touched)
            },
        )
        batch = Batch(
            sequence=tip.sequence + 1,
            prev_hash=tip.digest,
            as_of=max(as_of, tip.as_of),
            # Expiry on the chain's clock, which is what the vault checks: TTL after the later of asOf and the
            # chain's time now (a chain running ahead of the wall, e.g. a devnet warped forward, would otherwise
            # see every batch expired before it is sent).
            valid_until=max(as_of, tip.as_of, block_time) + DEFAULT_BATCH_TTL_S,
            fills_root=root_of([f.leaf for f in ob.settled_fills]),
            transfers=settled.transfers,
            requirements=margin.requirements,
            marks=margin.collateral_marks,
            approved_withdrawals=tuple(approvals),
            context_hash=context.hash(),
            contributions=rows.contributions,
            margin_calls=rows.margin_calls,
            default_actions=rows.default_actions,
        )
        return BatchPayload(
            batch=batch,
            fill_ids=[f.id for f in ob.settled_fills],
            flows=ob.flows,
            marks_used=ob.marks_used,
            mark_ts={
                n: ts
                for n in ob.marks_used
                if (d := marks.decisions.get(n)) and d.index and (ts := d.index.ts_ms) is not None
            },
            funding=ob.funding_applied,
            position_changes=ob.position_changes,
            requirements={a: (mg.im, mg.mm) for a, mg in margin.members.items()},
            collateral_marks={m.asset: (m.price, m.haircut_bps) for m in margin.all_collateral_marks},
            margin_detail={
                a: MarginDetail(
                    mg.es_core,
                    mg.concentration_addon,
                    mg.liquidity_addon,
                    mg.collateral_value,
                    dict(mg.haircut_bps),
                    mg.model_im,
                    mg.stress_floor,
                )
                for a, mg in margin.members.items()
            },
            context=context.canonical().decode(),
            price_evidence=self._evidence(marks.decisions, ob.marks_used),
            model={} if self.margin.calibration is None else self.margin.calibration.record(),
        )

    def _evidence(self, decisions: dict[str, MarkDecision], used: dict[str, int]) -> dict[str, dict[str, object]]:
        """The observations behind every mark this batch settles and every collateral price it values."""
        out: dict[str, dict[str, object]] = {}
        for name in sorted(used):
            d = decisions.get(name)
            if d is not None and d.index is not None:
                out[name] = d.index.evidence()
        for factor, d in sorted(self.collateral_decisions.items()):
            if d.index is not None:
                out[factor] = {**d.index.evidence(), "guard": None if d.halt is None else d.halt.value}
        return out

    # ---------------------------------------------------------------- 6. store

    @staticmethod
    def store(conn: Connection, payload: BatchPayload, domain: Domain, now_ms: int) -> None:
        """Store the batch as built, with its claim on its fills and funding intervals."""
        store_built(conn, payload, domain, now_ms)
        claim_inputs(conn, payload.batch.sequence, payload.fill_ids, payload.funding)


def free_collateral(
    account: int,
    balances: dict[tuple[int, int], int],
    marks: Sequence[Mark],
    decimals: dict[int, int],
    debts: dict[int, int],
    im: int = 0,
) -> int:
    """The vault's free collateral of `account` (docs/contracts.md "Rules"): Σ floor(balance · price ·
    (10000 − haircut) / (10^decimals · 10000)) − debt − IM, rounded against the member."""
    value: int = sum(
        balances.get((account, m.asset), 0) * m.price * (10_000 - m.haircut_bps) // (10 ** decimals[m.asset] * 10_000)
        for m in marks
    )
    return value - debts.get(account, 0) - im


def collateral_marks_changed(marks: Sequence[Mark], posted: dict[int, tuple[int, int]]) -> list[Mark]:
    return [m for m in marks if posted.get(m.asset) != (m.price, m.haircut_bps)]


def _collateral_alert(halt: Halt | None) -> str:
    return {
        Halt.MISSING: "collateral_price_stale",
        Halt.STALE: "collateral_price_stale",
        Halt.JUMP: "collateral_price_jump",
        Halt.SOURCES: "collateral_sources",
        Halt.DISAGREE: "collateral_disagreement",
    }.get(halt or Halt.MISSING, "collateral_price_stale")
