"""Ledger reads behind the member and public routes (pure SQL + integer arithmetic, no web types)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from offchain.core.waterfall import AdlCandidate, rank_adl
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


def entries(conn: Connection) -> dict[tuple[int, str], tuple[int, int]]:
    """(member, instrument) -> (qty, average entry price) from `position_entries`."""
    e = t.position_entries.c
    return {
        (int(r.member), r.instrument): (int(r.qty), int(r.entry_price))
        for r in conn.execute(select(e.member, e.instrument, e.qty, e.entry_price))
    }


def unrealised_pnl(qty: int, entry: int, mark: int, qty_decimals: int) -> int:
    """(mark − entry) × qty in settlement base units, rounded towards zero."""
    n = (mark - entry) * qty
    out: int = abs(n) // pow(10, qty_decimals)
    return out if n >= 0 else -out


def position_pnl(
    netted: dict[tuple[int, str], int],
    marks: dict[str, int],
    decimals: dict[str, int],
    entry: dict[tuple[int, str], tuple[int, int]],
) -> dict[tuple[int, str], int]:
    """Unrealised profit of each netted position whose entry is known (its entry row matches the settled
    quantity) and whose instrument has a settled mark."""
    out: dict[tuple[int, str], int] = {}
    for key, qty in netted.items():
        e = entry.get(key)
        mark = marks.get(key[1])
        if e is not None and e[0] == qty and mark is not None:
            out[key] = unrealised_pnl(qty, e[1], mark, decimals.get(key[1], 0))
    return out


@dataclass(frozen=True)
class AdlQueues:
    ranks: dict[tuple[int, str], int]  # (member, instrument) -> rank, profitable positions only
    sizes: dict[tuple[str, bool], int]  # (instrument, long) -> queue size


def adl_ranks(netted: dict[tuple[int, str], int], pnl: dict[tuple[int, str], int]) -> AdlQueues:
    """Each side's auto-deleveraging queue (instrument, long or short): profitable positions only, most
    profitable first, ties by larger |qty| then account, the ordering the waterfall's L7 uses
    (`core.waterfall.rank_adl`). A position without profit is not in the queue: ADL takes at most a
    position's profit."""
    sides: dict[tuple[str, bool], list[AdlCandidate]] = defaultdict(list)
    for (member, instrument), qty in netted.items():
        profit = pnl.get((member, instrument), 0)
        if profit > 0:
            sides[(instrument, qty > 0)].append(AdlCandidate(member, instrument, qty, profit))
    ranks: dict[tuple[int, str], int] = {}
    for queue in sides.values():
        for a in rank_adl(queue):
            ranks[(a.account, a.instrument)] = a.rank
    return AdlQueues(ranks, {side: len(queue) for side, queue in sides.items()})


def largest_remainder(total: int, weights: dict[str, int]) -> dict[str, int]:
    """`total` split pro rata to positive `weights`, in integers summing exactly to `total` (the
    remainder to the largest fractional parts, ties by key)."""
    w = {k: v for k, v in weights.items() if v > 0}
    den = sum(w.values())
    if not w or total == 0:
        return {}
    base = {k: total * v // den for k, v in w.items()}
    rest = total - sum(base.values())
    for k in sorted(w, key=lambda k: (-(total * w[k] % den), k))[:rest]:
        base[k] += 1
    return base


@dataclass(frozen=True)
class LossSocialisation:
    by_instrument: dict[str, int]  # what layers 6-7 took, attributed to each position
    total: int  # everything layers 6-7 took from the account (including positions closed since)


def loss_socialisation(conn: Connection, account: int) -> LossSocialisation:
    """What waterfall layers 6 (VM-gains haircut) and 7 (ADL) took from `account`, per instrument.

    Each draw is attributed to the instruments whose variation-margin gains the account made in the
    draw's batch (pro rata, exact integers), or, without such gains, to its settled positions then
    (pro rata to |qty|; the API's best knowledge: its current netted positions). Per default, chain
    rows win over plan rows (L6/L7 are off-chain today, so only plan rows exist)."""
    w = t.waterfall_draws.c
    rows = conn.execute(
        select(w.default_id, w.batch_sequence, w.source, w.value).where(w.account == account, w.layer.in_((6, 7)))
    ).all()
    chain_defaults = {r.default_id for r in rows if r.source == "chain"}
    draws = [r for r in rows if r.source == ("chain" if r.default_id in chain_defaults else "plan")]
    if not draws:
        return LossSocialisation({}, 0)
    cf, p = t.cash_flows.c, t.positions.c
    gains: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for flow in conn.execute(
        select(cf.batch_sequence, cf.instrument, cf.amount).where(
            cf.account == account,
            cf.kind == "vm",
            cf.batch_sequence.in_({int(d.batch_sequence) for d in draws}),
        )
    ):
        if flow.instrument is not None and int(flow.amount) > 0:
            gains[int(flow.batch_sequence)][flow.instrument] += int(flow.amount)
    held: dict[str, int] = defaultdict(int)
    for pos in conn.execute(select(p.instrument, p.qty).where(p.member == account)):
        held[pos.instrument] += int(pos.qty)
    fallback = {i: abs(q) for i, q in held.items()}
    out: dict[str, int] = defaultdict(int)
    for d in draws:
        for instrument, part in largest_remainder(int(d.value), gains.get(int(d.batch_sequence)) or fallback).items():
            out[instrument] += part
    return LossSocialisation(dict(out), sum(int(d.value) for d in draws))


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


@dataclass(frozen=True)
class LatestPrice:
    name: str
    price: int
    ts_ms: int
    source: str


def latest_prices(conn: Connection) -> list[LatestPrice]:
    """The latest observation per name in `marks` (cleared instruments' marks and underlyings' index
    prices), ties on ts broken by the later-recorded row: what ingest's price band checks against."""
    m = t.marks.c
    newest = select(m.instrument, func.max(m.ts_ms).label("ts")).group_by(m.instrument).subquery()
    rows = conn.execute(
        select(m.instrument, m.price, m.ts_ms, m.source)
        .join(newest, (m.instrument == newest.c.instrument) & (m.ts_ms == newest.c.ts))
        .order_by(m.id)
    ).all()
    out = {r.instrument: LatestPrice(r.instrument, int(r.price), int(r.ts_ms), r.source) for r in rows}
    return [out[k] for k in sorted(out)]
