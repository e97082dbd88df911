"""Average entry price per netted position (member, instrument), rolled forward from the member's settled
fills in settlement order; kept in `position_entries` by `apply_confirmed`, read by the API for each
position's unrealised profit (the auto-deleveraging rank).

Rules (a weighted average cost, the usual derivatives convention): a fill that opens or adds to a
position averages its price in, weighted by quantity; a fill that reduces it leaves the entry unchanged;
one that closes it exactly resets the entry to 0; one that flips it starts the new side at the fill's
price. Prices are settlement base units per whole unit, rounded half up.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select, update

from offchain.ledger import schema as t


def roll_entry(qty: int, entry: int, dq: int, price: int) -> tuple[int, int]:
    """(new qty, new entry price) after a fill of signed quantity `dq` at `price`."""
    new = qty + dq
    if dq == 0:
        return qty, entry
    if qty == 0 or (qty > 0) == (dq > 0):
        num, den = abs(qty) * entry + abs(dq) * price, abs(new)
        return new, (2 * num + den) // (2 * den)
    if new == 0:
        return 0, 0
    if (new > 0) == (qty > 0):
        return new, entry  # reduced
    return new, price  # flipped


def roll_fills(
    start: dict[tuple[int, str], tuple[int, int]], fills: Iterable[tuple[int, int, str, int, int]]
) -> dict[tuple[int, str], tuple[int, int]]:
    """Roll `(buyer, seller, instrument, qty, price)` fills into `start` ((member, instrument) -> (qty,
    entry)); returns the entries that changed."""
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for buyer, seller, instrument, qty, price in fills:
        for member, dq in ((buyer, qty), (seller, -qty)):
            key = (member, instrument)
            q, e = out.get(key, start.get(key, (0, 0)))
            out[key] = roll_entry(q, e, dq, price)
    return out


def apply_batch_fills(conn: Connection, fill_ids: Iterable[int], sequence: int) -> None:
    """Roll a confirmed batch's fills (in fill id order) into `position_entries`."""
    ids = sorted(fill_ids)
    if not ids:
        return
    f, pe = t.fills.c, t.position_entries
    rows: list[tuple[int, int, str, int, int]] = []
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        rows.extend(
            (int(r.buyer), int(r.seller), r.instrument, int(r.qty), int(r.price))
            for r in conn.execute(
                select(f.buyer, f.seller, f.instrument, f.qty, f.price).where(f.id.in_(chunk)).order_by(f.id)
            )
        )
    keys = {(m, r[2]) for r in rows for m in (r[0], r[1])}
    members = {m for m, _ in keys}
    start = {
        (int(r.member), r.instrument): (int(r.qty), int(r.entry_price))
        for r in conn.execute(select(pe).where(pe.c.member.in_(members)))
        if (int(r.member), r.instrument) in keys
    }
    for (member, instrument), (qty, entry) in roll_fills(start, rows).items():
        values = {"qty": qty, "entry_price": entry, "batch_sequence": sequence}
        if (member, instrument) in start:
            conn.execute(update(pe).where(pe.c.member == member, pe.c.instrument == instrument).values(**values))
        else:
            conn.execute(insert(pe).values(member=member, instrument=instrument, **values))
