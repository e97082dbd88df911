"""Margin as posted on-chain and its history: posted requirements and collateral marks, margin calls,
settled cash flows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class PostedRequirement:
    im: int
    mm: int


@dataclass(frozen=True)
class CollateralMark:
    asset: int
    price: int
    haircut_bps: int


@dataclass(frozen=True)
class MarginCallRow:
    id: int
    batch_sequence: int
    account: int
    verdict: str  # issue, raise, cure, default
    amount: int
    deadline: int
    deep: bool
    equity: int
    debt: int
    im: int
    mm: int
    as_of: int


@dataclass(frozen=True)
class CashFlowRow:
    id: int
    batch_sequence: int
    account: int
    instrument: str | None
    kind: str
    amount: int


def _call(r: Any) -> MarginCallRow:
    return MarginCallRow(
        int(r.id),
        int(r.batch_sequence),
        int(r.account),
        r.verdict,
        int(r.amount),
        int(r.deadline),
        bool(r.deep),
        int(r.equity),
        int(r.debt),
        int(r.im),
        int(r.mm),
        int(r.as_of),
    )


def posted_requirement(conn: Connection, member: int) -> PostedRequirement | None:
    pr = t.posted_requirements.c
    row = conn.execute(select(pr.im, pr.mm).where(pr.member == member)).first()
    return None if row is None else PostedRequirement(int(row.im), int(row.mm))


def posted_collateral_marks(conn: Connection) -> list[CollateralMark]:
    cm = t.posted_collateral_marks.c
    return [
        CollateralMark(int(r.asset), int(r.price), int(r.haircut_bps))
        for r in conn.execute(select(cm.asset, cm.price, cm.haircut_bps).order_by(cm.asset))
    ]


def margin_calls_since(conn: Connection, account: int, after_id: int, limit: int) -> list[MarginCallRow]:
    """Every event of the account's margin calls after id `after_id`, oldest first."""
    c = t.margin_calls.c
    return [
        _call(r)
        for r in conn.execute(
            select(t.margin_calls).where(c.account == account, c.id > after_id).order_by(c.id).limit(limit)
        )
    ]


def last_margin_call_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(t.margin_calls.c.id))).scalar_one_or_none() or 0)


def cash_flows_since(conn: Connection, account: int, after_id: int, limit: int) -> list[CashFlowRow]:
    c = t.cash_flows.c
    return [
        CashFlowRow(int(r.id), int(r.batch_sequence), int(r.account), r.instrument, r.kind, int(r.amount))
        for r in conn.execute(
            select(t.cash_flows).where(c.account == account, c.id > after_id).order_by(c.id).limit(limit)
        )
    ]


def cash_flow_total(conn: Connection, account: int) -> int:
    """The sum of every settled cash flow into `account` (settlement asset)."""
    c = t.cash_flows.c
    return sum(int(a) for a in conn.execute(select(c.amount).where(c.account == account)).scalars())


def vm_gains(conn: Connection, account: int, sequences: set[int]) -> dict[int, dict[str, int]]:
    """batch sequence -> instrument -> the account's positive variation-margin flows in those batches."""
    cf = t.cash_flows.c
    gains: dict[int, dict[str, int]] = {}
    for flow in conn.execute(
        select(cf.batch_sequence, cf.instrument, cf.amount).where(
            cf.account == account, cf.kind == "vm", cf.batch_sequence.in_(sequences)
        )
    ):
        if flow.instrument is not None and int(flow.amount) > 0:
            per = gains.setdefault(int(flow.batch_sequence), {})
            per[flow.instrument] = per.get(flow.instrument, 0) + int(flow.amount)
    return gains


def margin_calls_after(conn: Connection, after_id: int) -> list[MarginCallRow]:
    """Every margin-call event of every account after id `after_id`, oldest first."""
    c = t.margin_calls.c
    return [_call(r) for r in conn.execute(select(t.margin_calls).where(c.id > after_id).order_by(c.id))]
