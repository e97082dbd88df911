"""Settled positions per (member, instrument, venue): read netted across venues for a batch, moved forward
by a confirmed batch's position changes. (Entry prices: offchain/ledger/entries.py.)"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, insert, select, update

from offchain.ledger import schema as t


def load_positions(conn: Connection) -> dict[tuple[int, str], int]:
    """Settled net positions per (member account, instrument), summed across venues; flat ones left out."""
    out: dict[tuple[int, str], int] = {}
    for member, instrument, qty in conn.execute(
        select(t.positions.c.member, t.positions.c.instrument, t.positions.c.qty)
    ):
        out[(member, instrument)] = out.get((member, instrument), 0) + qty
    return {k: v for k, v in out.items() if v != 0}


def apply_position_changes(conn: Connection, changes: Mapping[tuple[int, str, str], int]) -> None:
    """Add each (member, instrument, venue) quantity change to its row (created at the change if new)."""
    p = t.positions
    for (member, instrument, venue), dq in changes.items():
        key = (p.c.member == member) & (p.c.instrument == instrument) & (p.c.venue == venue)
        current = conn.execute(select(p.c.qty).where(key)).scalar_one_or_none()
        if current is None:
            conn.execute(insert(p).values(member=member, instrument=instrument, venue=venue, qty=dq))
        else:
            conn.execute(update(p).where(key).values(qty=current + dq))
