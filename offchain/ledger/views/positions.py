"""Settled positions: per venue, netted across venues, average entry prices."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class VenueHolding:
    instrument: str
    venue: str
    qty: int


@dataclass(frozen=True)
class Entry:
    qty: int  # signed; equals the netted settled quantity when the entry is current
    entry_price: int


def netted_positions(conn: Connection) -> dict[tuple[int, str], int]:
    """(member, instrument) -> settled quantity netted across venues, flat positions omitted."""
    p = t.positions.c
    out: dict[tuple[int, str], int] = defaultdict(int)
    for r in conn.execute(select(p.member, p.instrument, p.qty)):
        out[(int(r.member), r.instrument)] += int(r.qty)
    return {k: v for k, v in out.items() if v != 0}


def holdings_by_venue(conn: Connection, member: int) -> list[VenueHolding]:
    """The member's settled position rows (flat ones included), by instrument then venue."""
    p = t.positions.c
    return [
        VenueHolding(r.instrument, r.venue, int(r.qty))
        for r in conn.execute(
            select(p.instrument, p.venue, p.qty).where(p.member == member).order_by(p.instrument, p.venue)
        )
    ]


def member_netted(conn: Connection, member: int) -> dict[str, int]:
    """instrument -> the member's settled quantity summed over venues (zeros kept)."""
    p = t.positions.c
    held: dict[str, int] = defaultdict(int)
    for r in conn.execute(select(p.instrument, p.qty).where(p.member == member)):
        held[r.instrument] += int(r.qty)
    return dict(held)


def entries(conn: Connection) -> dict[tuple[int, str], Entry]:
    """(member, instrument) -> quantity and average entry price from `position_entries`."""
    e = t.position_entries.c
    return {
        (int(r.member), r.instrument): Entry(int(r.qty), int(r.entry_price))
        for r in conn.execute(select(e.member, e.instrument, e.qty, e.entry_price))
    }


def venue_positions(conn: Connection) -> dict[tuple[int, str, str], int]:
    """(member, instrument, venue) -> settled quantity, flat rows omitted."""
    p = t.positions.c
    return {
        (int(m), str(i), str(v)): int(q)
        for m, i, v, q in conn.execute(select(p.member, p.instrument, p.venue, p.qty))
        if q
    }
