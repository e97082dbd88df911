"""What the member and public routes compute from the ledger's read views (`offchain.ledger.views`):
margin from the latest batch, unrealised profit, ADL queues, loss socialisation, the platform's
imbalance. Integer arithmetic, no SQL and no web types."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from offchain.core.waterfall import AdlCandidate, rank_adl
from offchain.ledger.batches import BatchPayload
from offchain.ledger.handles import Connection
from offchain.ledger.views import defaults, margin, members, positions
from offchain.ledger.views.batches import LatestBatch
from offchain.ledger.views.positions import Entry


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


def notional(qty: int, price: int, qty_decimals: int) -> int:
    """qty × price in settlement base units, rounded towards zero (display only)."""
    n: int = abs(qty) * price // pow(10, qty_decimals)
    return n if qty >= 0 else -n


def unrealised_pnl(qty: int, entry: int, mark: int, qty_decimals: int) -> int:
    """(mark − entry) × qty in settlement base units, rounded towards zero."""
    n = (mark - entry) * qty
    out: int = abs(n) // pow(10, qty_decimals)
    return out if n >= 0 else -out


def position_pnl(
    netted: dict[tuple[int, str], int],
    marks: dict[str, int],
    decimals: dict[str, int],
    entry: dict[tuple[int, str], Entry],
) -> dict[tuple[int, str], int]:
    """Unrealised profit of each netted position whose entry is known (its entry row matches the settled
    quantity) and whose instrument has a settled mark."""
    out: dict[tuple[int, str], int] = {}
    for key, qty in netted.items():
        e = entry.get(key)
        mark = marks.get(key[1])
        if e is not None and e.qty == qty and mark is not None:
            out[key] = unrealised_pnl(qty, e.entry_price, mark, decimals.get(key[1], 0))
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
    rows = defaults.loss_socialising_draws(conn, account)
    chain_defaults = {r.default_id for r in rows if r.source == "chain"}
    draws = [r for r in rows if r.source == ("chain" if r.default_id in chain_defaults else "plan")]
    if not draws:
        return LossSocialisation({}, 0)
    gains = margin.vm_gains(conn, account, {d.batch_sequence for d in draws})
    held = positions.member_netted(conn, account)
    fallback = {i: abs(q) for i, q in held.items()}
    out: dict[str, int] = defaultdict(int)
    for d in draws:
        for instrument, part in largest_remainder(d.value, gains.get(d.batch_sequence) or fallback).items():
            out[instrument] += part
    return LossSocialisation(dict(out), sum(d.value for d in draws))


@dataclass(frozen=True)
class GroupTotals:
    net_qty: int
    gross_qty: int


def imbalance(conn: Connection) -> dict[str, dict[str, GroupTotals]]:
    """instrument -> member group -> (net, gross) settled quantity."""
    acc: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    netted = positions.netted_positions(conn)
    groups = members.member_groups(conn)
    for (member, instrument), qty in netted.items():
        cell = acc[instrument][groups.get(member, "unknown")]
        cell[0] += qty
        cell[1] += abs(qty)
    return {i: {g: GroupTotals(v[0], v[1]) for g, v in gs.items()} for i, gs in acc.items()}
