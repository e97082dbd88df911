"""Ledger reads behind the member and public routes (pure SQL + integer arithmetic, no web types)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from offchain.ledger import schema as t
from offchain.settlement.payload import BatchPayload


@dataclass(frozen=True)
class LatestBatch:
    sequence: int
    as_of: int
    payload: dict[str, Any]


def latest_confirmed(conn: Connection) -> LatestBatch | None:
    b = t.batches.c
    row = conn.execute(
        select(b.sequence, b.as_of_ms, b.payload).where(b.status == "confirmed").order_by(b.sequence.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return LatestBatch(int(row.sequence), int(row.as_of_ms) // 1000, dict(row.payload))


def margin_of(latest: LatestBatch | None, account: int) -> tuple[tuple[int, int], dict[str, float]]:
    """((IM, MM), add-on detail) of `account` at the latest confirmed batch; zeros before any."""
    if latest is None:
        return (0, 0), {}
    req = latest.payload.get("requirements", {}).get(str(account))
    detail = latest.payload.get("margin_detail", {}).get(str(account), {})
    im_mm = (int(req[0]), int(req[1])) if req else (0, 0)
    return im_mm, {k: float(v) for k, v in detail.items()}


def collateral_values(latest: LatestBatch | None) -> dict[int, int]:
    if latest is None:
        return {}
    return {int(a): int(d.get("collateral_value", 0)) for a, d in latest.payload.get("margin_detail", {}).items()}


def decode_payload(data: dict[str, Any]) -> BatchPayload:
    return BatchPayload.from_json(data)


def instruments(conn: Connection) -> dict[str, tuple[int, bool, str, str, int]]:
    """name -> (qty_decimals, active, kind, underlying, clearing_fee_bps)."""
    i = t.instruments.c
    return {
        r.name: (int(r.qty_decimals), bool(r.active), r.kind, r.underlying, int(r.clearing_fee_bps))
        for r in conn.execute(select(i.name, i.qty_decimals, i.active, i.kind, i.underlying, i.clearing_fee_bps))
    }


def settled_marks(conn: Connection) -> dict[str, int]:
    m = t.settled_marks.c
    return {r.instrument: int(r.price) for r in conn.execute(select(m.instrument, m.price))}


def notional(qty: int, price: int, qty_decimals: int) -> int:
    """qty × price in settlement base units, rounded towards zero (display only)."""
    n: int = abs(qty) * price // pow(10, qty_decimals)
    return n if qty >= 0 else -n


def netted_positions(conn: Connection) -> dict[tuple[int, str], int]:
    p = t.positions.c
    out: dict[tuple[int, str], int] = defaultdict(int)
    for r in conn.execute(select(p.member, p.instrument, p.qty)):
        out[(int(r.member), r.instrument)] += int(r.qty)
    return {k: v for k, v in out.items() if v != 0}


def adl_ranks(
    netted: dict[tuple[int, str], int],
    marks: dict[str, int],
    decimals: dict[str, int],
    collateral: dict[int, int],
) -> dict[tuple[int, str], tuple[int, int]]:
    """(member, instrument) -> (rank, queue size). Within each instrument and side, members are ranked
    by leverage, |notional| / collateral at haircut, highest first (ties: lower account first): the
    order auto-deleveraging (the waterfall's last layer) would reduce them in."""
    sides: dict[tuple[str, int], list[tuple[float, int]]] = defaultdict(list)
    for (member, instrument), qty in netted.items():
        price = marks.get(instrument, 0)
        lev = abs(notional(qty, price, decimals.get(instrument, 0))) / max(collateral.get(member, 0), 1)
        sides[(instrument, 1 if qty > 0 else -1)].append((-lev, member))
    ranks: dict[tuple[int, str], tuple[int, int]] = {}
    for (instrument, _), queue in sides.items():
        queue.sort()
        for rank, (_, member) in enumerate(queue, start=1):
            ranks[(member, instrument)] = (rank, len(queue))
    return ranks


@dataclass(frozen=True)
class GroupTotals:
    net_qty: int
    gross_qty: int


def imbalance(conn: Connection) -> dict[str, dict[str, GroupTotals]]:
    """instrument -> member group -> (net, gross) settled quantity."""
    p, m = t.positions.c, t.members.c
    acc: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    netted = netted_positions(conn)
    groups = {int(r.account): r.group_name for r in conn.execute(select(m.account, m.group_name))}
    del p
    for (member, instrument), qty in netted.items():
        cell = acc[instrument][groups.get(member, "unknown")]
        cell[0] += qty
        cell[1] += abs(qty)
    return {i: {g: GroupTotals(v[0], v[1]) for g, v in gs.items()} for i, gs in acc.items()}
