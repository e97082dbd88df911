"""What one batch settles: variation margin, funding and fees per member, netted to transfers.

A pure function of the settled state, the new marks and the pending fills, built on the accounting
rules in offchain/core/accounting.py. The engine builds batches with it and the auditor recomputes
them with it from the chain and the published fills: one rule, two independent inputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from offchain.core.accounting import (
    CashFlow,
    clearing_fee,
    funding_payment,
    variation_margin,
    with_rounding_residual,
)
from offchain.core.batch import FEE_ACCOUNT


@dataclass(frozen=True)
class InstrumentSpec:
    name: str
    kind: str
    underlying: str
    qty_decimals: int
    price_band_bps: int
    max_mark_jump_bps: int
    mark_stale_ms: int
    clearing_fee_bps: int
    active: bool


@dataclass(frozen=True)
class PendingFill:
    id: int
    venue: str
    venue_fill_id: str
    symbol: str
    instrument: str
    buyer: int
    seller: int
    buyer_address: str
    seller_address: str
    qty: int
    price: int
    ts_ms: int
    leaf: bytes


@dataclass(frozen=True)
class SettledMark:
    price: int
    ts_ms: int


@dataclass(frozen=True)
class FundingDue:
    instrument: str
    ts_ms: int
    rate_e8: int


@dataclass
class Obligations:
    flows: list[CashFlow]
    settled_fills: list[PendingFill]
    deferred_fills: list[PendingFill]
    marks_used: dict[str, int]  # instrument -> the mark this batch settles at
    funding_applied: list[FundingDue]
    # (member, instrument, venue) -> signed quantity change from the settled fills
    position_changes: dict[tuple[int, str, str], int] = field(default_factory=dict)

    def new_positions(self, settled: Mapping[tuple[int, str], int]) -> dict[tuple[int, str], int]:
        """Net positions per (member, instrument) after this batch."""
        out = dict(settled)
        for (member, instrument, _venue), dq in self.position_changes.items():
            out[(member, instrument)] = out.get((member, instrument), 0) + dq
        return {k: v for k, v in out.items() if v != 0}


def compute_obligations(
    instruments: Mapping[str, InstrumentSpec],
    positions: Mapping[tuple[int, str], int],
    settled_marks: Mapping[str, SettledMark],
    new_marks: Mapping[str, int],
    fills: Sequence[PendingFill],
    funding: Sequence[FundingDue],
) -> Obligations:
    """Cash flows of one batch.

    Args:
        instruments: specs by name.
        positions: settled net positions per (member, instrument).
        settled_marks: the mark each instrument was last settled at.
        new_marks: the mark to settle at now, for every instrument that may settle (an instrument
            missing here is halted: its fills wait and its positions are not re-marked).
        fills: pending fills in ingest order.
        funding: funding intervals due.
    """
    settled = [f for f in fills if f.instrument in new_marks]
    deferred = [f for f in fills if f.instrument not in new_marks]
    by_instrument: dict[str, dict[int, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    changes: dict[tuple[int, str, str], int] = defaultdict(int)
    flows: list[CashFlow] = []
    for f in settled:
        by_instrument[f.instrument][f.buyer].append((f.qty, f.price))
        by_instrument[f.instrument][f.seller].append((-f.qty, f.price))
        changes[(f.buyer, f.instrument, f.venue)] += f.qty
        changes[(f.seller, f.instrument, f.venue)] -= f.qty
        spec = instruments[f.instrument]
        for member in (f.buyer, f.seller):
            fee = clearing_fee(f.qty, f.price, spec.clearing_fee_bps, spec.qty_decimals)
            if fee:
                flows.append(CashFlow(member, f.instrument, "fee", -fee))
                flows.append(CashFlow(FEE_ACCOUNT, f.instrument, "fee", fee))

    marks_used: dict[str, int] = {}
    held: dict[str, dict[int, int]] = defaultdict(dict)
    for (member, instrument), qty in positions.items():
        held[instrument][member] = qty
    for instrument, mark in sorted(new_marks.items()):
        spec = instruments[instrument]
        members = set(held[instrument]) | set(by_instrument[instrument])
        if not members:
            continue
        old = settled_marks.get(instrument)
        for member in sorted(members):
            pos = held[instrument].get(member, 0)
            vm = variation_margin(
                pos, by_instrument[instrument].get(member, []), old.price if old else None, mark, spec.qty_decimals
            )
            if vm:
                flows.append(CashFlow(member, instrument, "vm", vm))
        marks_used[instrument] = mark

    applied: list[FundingDue] = []
    for due in funding:
        if due.instrument not in new_marks:
            continue  # halted: funding waits for a valid mark
        spec = instruments[due.instrument]
        for member, pos in sorted(held[due.instrument].items()):
            pay = funding_payment(pos, new_marks[due.instrument], due.rate_e8, spec.qty_decimals)
            if pay:
                flows.append(CashFlow(member, due.instrument, "funding", pay))
        applied.append(due)

    return Obligations(
        flows=with_rounding_residual(flows),
        settled_fills=settled,
        deferred_fills=deferred,
        marks_used=marks_used,
        funding_applied=applied,
        position_changes={k: v for k, v in changes.items() if v != 0},
    )
