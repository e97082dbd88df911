"""Building one batch: read the ledger, decide marks, compute obligations and margin, store the batch.

Everything happens in one database transaction: the batch row (status `built`) and the claim on its
fills and funding intervals commit together or not at all, before anything is signed or sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, insert, select, update

from offchain.core.accounting import net_transfers
from offchain.core.batch import DEFAULT_BATCH_TTL_S, UINT112_MAX, Batch, Mark, Requirement, Transfer
from offchain.core.context import BatchContext, InstrumentTerms
from offchain.core.eip712 import Domain
from offchain.core.merkle import root_of
from offchain.core.obligations import FundingDue, compute_obligations
from offchain.defaults.calls import AssetMark
from offchain.defaults.manager import BatchState, DefaultManager, DefaultRows, FundView
from offchain.ledger import schema as t
from offchain.marketdata.index import IndexRule
from offchain.settlement.apply import store_built
from offchain.settlement.margin import CollateralSpec, MemberMargin, RiskEngineMargin, StaleCalibrationError
from offchain.settlement.marks import GuardLimits, Halt, MarkDecision, MarkGuard
from offchain.settlement.payload import BatchPayload
from offchain.settlement.prices import LedgerPrices
from offchain.settlement.state import (
    load_instruments,
    load_pending_fills,
    load_positions,
    load_settled_marks,
)


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

    def _alert_halts(self, conn: Connection, halts: dict[str, tuple[Halt, str]], now_ms: int) -> None:
        for name, (halt, detail) in halts.items():
            if self._alerted.get(name) != halt:
                conn.execute(insert(t.alerts).values(ts_ms=now_ms, kind=halt.value, subject=name, detail=detail[:512]))
        self._alerted = {name: halt for name, (halt, _) in halts.items()}

    def collateral_prices(self, conn: Connection, prices: LedgerPrices, now_ms: int) -> dict[int, int] | None:
        """Price of every collateral asset: its underlying's index through the band and staleness guard.
        A halted price keeps the last value posted to the vault (never the fresh one) and raises an
        alert; with no posted value either, no batch can be margined: None, and an alert."""
        par = 10**self.config.settlement_decimals
        rows = conn.execute(select(t.posted_collateral_marks.c.asset, t.posted_collateral_marks.c.price))
        posted = {asset: price for asset, price in rows}
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
                detail = f"{c.symbol} ({c.factor}): {decision.detail}"[:512]
                conn.execute(insert(t.alerts).values(ts_ms=now_ms, kind=kind, subject=c.symbol, detail=detail))
            if c.asset in posted:
                out[c.asset] = posted[c.asset]
        self._collateral_alerted = halted
        return out if len(out) == len(self.collateral) else None

    def build(self, conn: Connection, chain: ChainView, domain: Domain, tip: ChainTip) -> BatchPayload | None:
        """Build and store the next batch, or return None when there is nothing to settle yet."""
        as_of = chain.chain_time()
        now_ms = chain.now_ms()
        try:
            self.margin.refresh(conn, now_ms)  # recalibrates on schedule; refuses on stale calibration data
        except StaleCalibrationError as exc:
            if not self._calibration_alerted:  # one alert per outage
                conn.execute(
                    insert(t.alerts).values(
                        ts_ms=now_ms, kind="calibration_stale", subject="risk-model", detail=str(exc)[:512]
                    )
                )
            self._calibration_alerted = True
            return None
        self._calibration_alerted = False
        instruments = load_instruments(conn)
        positions = load_positions(conn)
        settled_marks = load_settled_marks(conn)
        prices = LedgerPrices(conn, self.config.index_rule)
        decisions = self.guard.decide_all(instruments, prices, settled_marks, now_ms)
        new_marks = {name: d.mark for name, d in decisions.items() if d.mark is not None}
        self._alert_halts(conn, {n: (d.halt, d.detail) for n, d in decisions.items() if d.halt}, now_ms)

        fills = load_pending_fills(conn, self.config.max_fills)
        fr = t.funding_rates
        funding = [
            FundingDue(i, ts, r)
            for i, ts, r in conn.execute(
                select(fr.c.instrument, fr.c.ts_ms, fr.c.rate_e8)
                .where(fr.c.batch_sequence.is_(None), fr.c.ts_ms <= now_ms)
                .order_by(fr.c.ts_ms)
            )
        ]
        ob = compute_obligations(instruments, positions, settled_marks, new_marks, fills, funding)
        after = ob.new_positions(positions)

        members = [(a, tier) for a, tier in conn.execute(select(t.members.c.account, t.members.c.tier))]
        accounts = [a for a, _ in members]
        cprices = self.collateral_prices(conn, prices, now_ms)
        if cprices is None:
            return None
        holdings = chain.holdings(accounts, [c.asset for c in self.collateral])
        marks_for_margin = {**{n: m.price for n, m in settled_marks.items()}, **new_marks}
        margin = self.margin.requirements(members, after, marks_for_margin, holdings, cprices)

        posted = {
            m: (im, mm)
            for m, im, mm in conn.execute(
                select(t.posted_requirements.c.member, t.posted_requirements.c.im, t.posted_requirements.c.mm)
            )
        }
        margin = self._unrepresentable(conn, margin, posted, now_ms)
        requirements = tuple(
            Requirement(account=a, im=mg.im, mm=mg.mm)
            for a, mg in sorted(margin.items())
            if posted.get(a, (0, 0)) != (mg.im, mg.mm)
        )
        posted_marks = {
            a: (p, h)
            for a, p, h in conn.execute(
                select(
                    t.posted_collateral_marks.c.asset,
                    t.posted_collateral_marks.c.price,
                    t.posted_collateral_marks.c.haircut_bps,
                )
            )
        }
        cmarks = tuple(collateral_marks_changed(self.margin.collateral_marks(cprices), posted_marks))
        transfers = net_transfers(ob.flows)
        rows = self._default_rows(
            conn, chain, tip, as_of, members, holdings, transfers, margin, cprices, after, marks_for_margin
        )
        busy = ob.settled_fills or transfers or requirements or cmarks or ob.funding_applied
        quiet = not (busy or rows.contributions or rows.margin_calls or rows.default_actions)
        if quiet and as_of - tip.settled_at < self.config.heartbeat_s:
            return None

        touched = (
            set(ob.marks_used) | {f.instrument for f in ob.settled_fills} | {d.instrument for d in ob.funding_applied}
        )
        context = BatchContext(
            marks=dict(ob.marks_used),
            previous_marks={n: settled_marks[n].price for n in ob.marks_used if n in settled_marks},
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
            valid_until=max(as_of, tip.as_of, chain.block_time()) + DEFAULT_BATCH_TTL_S,
            fills_root=root_of([f.leaf for f in ob.settled_fills]),
            transfers=transfers,
            requirements=requirements,
            marks=cmarks,
            context_hash=context.hash(),
            contributions=rows.contributions,
            margin_calls=rows.margin_calls,
            default_actions=rows.default_actions,
        )
        payload = BatchPayload(
            batch=batch,
            fill_ids=[f.id for f in ob.settled_fills],
            flows=ob.flows,
            marks_used=ob.marks_used,
            mark_ts={
                n: ts
                for n in ob.marks_used
                if (d := decisions.get(n)) and d.index and (ts := d.index.ts_ms) is not None
            },
            funding=ob.funding_applied,
            position_changes=ob.position_changes,
            requirements={a: (mg.im, mg.mm) for a, mg in margin.items()},
            collateral_marks={m.asset: (m.price, m.haircut_bps) for m in self.margin.collateral_marks(cprices)},
            margin_detail={
                a: {
                    "es_core": mg.es_core,
                    "concentration_addon": mg.concentration_addon,
                    "liquidity_addon": mg.liquidity_addon,
                    "collateral_value": float(mg.collateral_value),
                    **{f"haircut_bps.{asset}": float(bps) for asset, bps in mg.haircut_bps.items()},
                }
                for a, mg in margin.items()
            },
            context=context.canonical().decode(),
            price_evidence=self._evidence(decisions, ob.marks_used),
            model={} if self.margin.calibration is None else self.margin.calibration.record(),
        )
        store_built(conn, payload, domain, now_ms)
        if payload.fill_ids:
            conn.execute(
                update(t.fills).where(t.fills.c.id.in_(payload.fill_ids)).values(batch_sequence=batch.sequence)
            )
        for due in ob.funding_applied:
            conn.execute(
                update(fr)
                .where(fr.c.instrument == due.instrument, fr.c.ts_ms == due.ts_ms)
                .values(batch_sequence=batch.sequence)
            )
        return payload

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
            conn.execute(
                insert(t.alerts).values(
                    ts_ms=now_ms, kind="margin_unrepresentable", subject=str(account), detail=mg.error[:512]
                )
            )
        return out

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

    def _default_rows(
        self,
        conn: Connection,
        chain: ChainView,
        tip: ChainTip,
        as_of: int,
        members: Sequence[tuple[int, str]],
        holdings: dict[tuple[int, int], int],
        transfers: Sequence[Transfer],
        margin: dict[int, MemberMargin],
        cprices: dict[int, int],
        positions: dict[tuple[int, str], int],
        marks: dict[str, int],
    ) -> DefaultRows:
        """The hook into default management: the rows (and ledger writes) of this batch, or none."""
        if self.defaults is None:
            return DefaultRows()
        if not isinstance(chain, FundView):
            raise TypeError("default management needs a chain view with the vault's default-fund reads")
        sequence = tip.sequence + 1
        decimals = {c.asset: c.decimals for c in self.collateral}
        scale = 10**self.config.settlement_decimals
        state = BatchState(
            sequence=sequence,
            as_of=max(as_of, tip.as_of),
            members=members,
            holdings=holdings,
            transfers=transfers,
            requirements={a: (mg.im, mg.mm) for a, mg in margin.items()},
            collateral={
                m.asset: AssetMark(m.price, m.haircut_bps, decimals[m.asset])
                for m in self.margin.collateral_marks(cprices)
            },
            positions=positions,
            marks=marks,
            liquidity_addon={a: math.ceil(mg.liquidity_addon * scale) for a, mg in margin.items()},
            contribution_targets=(
                self.defaults.contribution_targets(
                    conn, sequence, self.margin, members, positions, marks, margin, holdings, cprices
                )
            ),
        )
        return self.defaults.rows(conn, state, chain)


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
