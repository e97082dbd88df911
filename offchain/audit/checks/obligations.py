"""Were the batch's transfers the rule's? Positions, variation margin, funding, fees and rounding,
recomputed from the published fills and context with the engine's own pure rule
(`offchain.core.obligations.compute_obligations`), but from the auditor's own state.

The auditor's state: net positions per (member, instrument), rebuilt from every published fill of every
earlier batch; the mark each instrument was last settled at; the funding intervals already applied.

Per batch with a context:
 - the context's `previous_marks` are exactly the auditor's last settled marks of the instruments it marks
   (an operator cannot move the starting point of variation margin);
 - every published fill's instrument is marked by the context (a halted instrument's fills wait);
 - no funding interval is applied twice;
 - the rule's instruments are exactly the context's marks (no mark for an instrument nobody holds);
 - the settled transfers, netted per (account, asset), equal the rule's `net_transfers`.
A batch without a context may only move the operator's own member cash into the default fund and operator
capital (the devnet's funding of the system accounts; `no-context`); it settles no fill. A batch's
contribution, margin-call and default-action rows, the waterfall draws and the published default context are checked in
checks/defaults.py (`check_default_actions`), once the replay applied them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from offchain.audit.errors import Discrepancy
from offchain.audit.published import PublishedBatch
from offchain.core.accounting import net_transfers
from offchain.core.batch import (
    DEFAULT_FUND_ACCOUNT,
    FIRST_MEMBER_ACCOUNT,
    OPERATOR_CAPITAL_ACCOUNT,
    Batch,
    Transfer,
)
from offchain.core.context import BatchContext
from offchain.core.obligations import (
    FundingDue,
    InstrumentSpec,
    Obligations,
    PendingFill,
    SettledMark,
    compute_obligations,
)


def net_by_account(transfers: tuple[Transfer, ...]) -> dict[tuple[int, int], int]:
    out: dict[tuple[int, int], int] = defaultdict(int)
    for t in transfers:
        out[(t.account, t.asset)] += t.amount
    return {k: v for k, v in out.items() if v != 0}


def _specs(ctx: BatchContext) -> dict[str, InstrumentSpec]:
    return {
        name: InstrumentSpec(name, "", "", t.qty_decimals, 0, 0, 0, t.clearing_fee_bps, True)
        for name, t in ctx.terms.items()
    }


@dataclass
class PositionBook:
    positions: dict[tuple[int, str], int] = field(default_factory=dict)  # (member, instrument) -> qty
    last_marks: dict[str, tuple[int, int]] = field(default_factory=dict)  # instrument -> (mark, batch)
    funding_applied: set[tuple[str, int]] = field(default_factory=set)

    def holders(self) -> set[int]:
        return {m for (m, _), q in self.positions.items() if q}

    def settle(
        self,
        batch: Batch,
        published: PublishedBatch,
        members: dict[str, int],
        ctx: BatchContext | None,
        operator_accounts: frozenset[int] = frozenset(),
    ) -> set[int]:
        """Check one batch's transfers and move positions and marks forward; returns the members whose
        positions changed. `ctx`: the parsed published context (None: the batch commits to none);
        `operator_accounts`: the operator's own member accounts (the only payers a batch without a context
        may debit)."""
        if ctx is None:
            if published.fills:
                raise Discrepancy(batch.sequence, "no-context", "a batch without a published context settles fills")
            check_contribution(batch, operator_accounts)
            return set()
        seq = batch.sequence
        self._check_context(seq, ctx)
        fills = self._pending_fills(seq, published, ctx, members)
        specs = _specs(ctx)
        funding = [FundingDue(i, ts, r) for i, ts, r in ctx.funding]
        missing = sorted(({f.instrument for f in fills} | {d.instrument for d in funding}) - set(specs))
        if missing:
            raise Discrepancy(seq, "context", f"no instrument terms in the context for {missing}")
        ob = compute_obligations(
            specs,
            self.positions,
            {n: SettledMark(p, 0) for n, p in ctx.previous_marks.items()},
            ctx.marks,
            fills,
            funding,
        )
        if ob.marks_used != ctx.marks:
            extra = sorted(set(ctx.marks) - set(ob.marks_used))
            raise Discrepancy(seq, "context", f"the context marks {extra}, which no member holds or trades")
        if len(ob.funding_applied) != len(funding):
            raise Discrepancy(seq, "context", "the context applies funding to an instrument it does not mark")
        _compare(seq, batch, ob)
        changed = {m for (m, _, _) in ob.position_changes}
        self.positions = ob.new_positions(self.positions)
        for name, mark in ob.marks_used.items():
            self.last_marks[name] = (mark, seq)
        self.funding_applied.update((d.instrument, d.ts_ms) for d in funding)
        return changed

    def _check_context(self, seq: int, ctx: BatchContext) -> None:
        expected = {n: self.last_marks[n][0] for n in ctx.marks if n in self.last_marks}
        if ctx.previous_marks != expected:
            for name in sorted(set(ctx.previous_marks) | set(expected)):
                got, want = ctx.previous_marks.get(name), expected.get(name)
                if got != want:
                    last = (
                        f"last settled at {want} in batch {self.last_marks[name][1]}"
                        if want is not None
                        else ("never settled before")
                    )
                    raise Discrepancy(
                        seq, "previous-mark", f"the context's previous mark of {name} is {got}, but it was {last}"
                    )
        for instrument, ts, _ in ctx.funding:
            if (instrument, ts) in self.funding_applied:
                raise Discrepancy(seq, "funding", f"funding of {instrument} at {ts} was already applied")

    def _pending_fills(
        self, seq: int, published: PublishedBatch, ctx: BatchContext, members: dict[str, int]
    ) -> list[PendingFill]:
        out = []
        for i, p in enumerate(published.fills):
            f = p.fill
            if p.instrument not in ctx.marks:
                raise Discrepancy(
                    seq,
                    "fill-instrument",
                    f"fill {f.venue}/{f.venue_fill_id} settles {p.instrument}, which the context does not mark",
                )
            out.append(
                PendingFill(
                    id=i,
                    venue=f.venue,
                    venue_fill_id=f.venue_fill_id,
                    symbol=f.symbol,
                    instrument=p.instrument,
                    buyer=members[f.buyer],
                    seller=members[f.seller],
                    buyer_address=f.buyer,
                    seller_address=f.seller,
                    qty=f.qty,
                    price=f.price,
                    ts_ms=f.ts,
                    leaf=b"",
                )
            )
        return out


def _compare(seq: int, batch: Batch, ob: Obligations) -> None:
    settled = net_by_account(batch.transfers)
    expected = net_by_account(net_transfers(ob.flows))
    for key in sorted(set(settled) | set(expected)):
        got, want = settled.get(key, 0), expected.get(key, 0)
        if got != want:
            account, asset = key
            parts: dict[str, int] = defaultdict(int)
            for f in ob.flows:
                if f.account == account:
                    parts[f.kind] += f.amount
            detail = ", ".join(f"{k} {v}" for k, v in sorted(parts.items())) or "nothing"
            raise Discrepancy(
                seq,
                "transfers",
                f"account {account} asset {asset} settled {got}, the rule gives {want} ({detail}) "
                "from the published fills and context",
            )


def parse_context(seq: int, published: PublishedBatch) -> BatchContext | None:
    if published.context is None:
        return None
    try:
        return BatchContext.from_canonical(published.context.encode())
    except (ValueError, KeyError, TypeError) as exc:
        raise Discrepancy(seq, "context", f"the published context does not parse: {exc}") from exc


def check_contribution(batch: Batch, operator_accounts: frozenset[int]) -> None:
    """A batch without a context carries what the trust model allows it and nothing else: the operator
    funding the default fund and operator capital from its own member account (the account of an address
    holding the vault's operator role). No margin rows, no default rows, no other payer: a member's cash
    moved without a context is a taking, however it is labelled."""
    seq = batch.sequence
    if batch.requirements or batch.marks:
        raise Discrepancy(seq, "no-context", "a batch without a published context posts margin requirements or marks")
    if batch.contributions or batch.margin_calls or batch.default_actions or batch.approved_withdrawals:
        raise Discrepancy(
            seq, "no-context", "a batch without a published context carries default or withdrawal-approval rows"
        )
    for t in batch.transfers:
        if t.amount < 0:
            ok = t.account >= FIRST_MEMBER_ACCOUNT and t.account in operator_accounts
        else:
            ok = t.account in (DEFAULT_FUND_ACCOUNT, OPERATOR_CAPITAL_ACCOUNT)
        if not ok:
            raise Discrepancy(
                seq,
                "no-context",
                f"account {t.account} asset {t.asset} moves {t.amount} in a batch without a published context "
                "(only the operator's own member account may fund the default fund and operator capital)",
            )
