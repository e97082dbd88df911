"""Live positions for close-out checks: what the settled ledger holds plus every stored fill no confirmed
batch has applied yet (pending, or claimed by a batch still in flight)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, or_, select

from offchain.ledger.schema import batches, fills, positions


def live_positions(conn: Connection, accounts: Collection[int]) -> dict[tuple[int, str], int]:
    """(account, instrument) -> net quantity across venues, including fills not yet settled."""
    if not accounts:
        return {}
    out: dict[tuple[int, str], int] = {}
    for member, instrument, qty in conn.execute(
        select(positions.c.member, positions.c.instrument, positions.c.qty).where(positions.c.member.in_(accounts))
    ):
        out[(member, instrument)] = out.get((member, instrument), 0) + qty
    confirmed = select(batches.c.sequence).where(batches.c.status == "confirmed")
    unapplied = conn.execute(
        select(fills.c.buyer, fills.c.seller, fills.c.instrument, fills.c.qty).where(
            or_(fills.c.batch_sequence.is_(None), fills.c.batch_sequence.not_in(confirmed)),
            or_(fills.c.buyer.in_(accounts), fills.c.seller.in_(accounts)),
        )
    )
    for buyer, seller, instrument, qty in unapplied:
        if buyer in accounts:
            out[(buyer, instrument)] = out.get((buyer, instrument), 0) + qty
        if seller in accounts:
            out[(seller, instrument)] = out.get((seller, instrument), 0) - qty
    return out
