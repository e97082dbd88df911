"""The registry's queries: venues, symbol maps, instruments, members and permissions, and the one read
ingest's `RegistrySnapshot` is built from.

The operator's checks and errors stay in offchain/ingest/registry.py; these functions only read and
write rows, inside the caller's transaction. Inserts are `insert_new` (ON CONFLICT DO NOTHING), so the
unique constraints, not a prior read, decide between concurrent registrations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, select, update

from offchain.ledger.atomic import insert_new
from offchain.ledger.prices import latest_indices
from offchain.ledger.schema import instruments, members, permissions, venue_symbols, venues
from offchain.marketdata.index import IndexResult, IndexRule


@dataclass(frozen=True, slots=True)
class VenueRow:
    name: str
    signer: str
    approved: bool
    kind: str


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    name: str
    qty_decimals: int
    price_band_bps: int
    mark_stale_ms: int
    active: bool


@dataclass(frozen=True, slots=True)
class MemberRow:
    account: int
    address: str
    status: str
    tier: str


@dataclass(frozen=True, slots=True)
class RegistryRows:
    """Everything ingest checks a fill against, read in one transaction."""

    venues: tuple[VenueRow, ...]
    symbols: tuple[tuple[str, str, str], ...]  # (venue, venue symbol, cleared instrument)
    instruments: tuple[InstrumentRow, ...]
    members: tuple[MemberRow, ...]
    permissions: tuple[tuple[int, str], ...]  # (member account, instrument)
    # The index per symbol now (offchain/ledger/prices.py's one latest-price rule, an instrument's bounded by its
    # mark_stale_ms): the price band's centre, or why there is none (a halted result).
    indices: Mapping[str, IndexResult]


def read_registry(conn: Connection, now_ms: int, rule: IndexRule | None = None) -> RegistryRows:
    """The registry and every symbol's index at `now_ms` under `rule` (default: the engine's default rule)."""
    v, s, i, m, p = venues.c, venue_symbols.c, instruments.c, members.c, permissions.c
    instrument_rows = tuple(
        InstrumentRow(r.name, r.qty_decimals, r.price_band_bps, r.mark_stale_ms, bool(r.active))
        for r in conn.execute(select(i.name, i.qty_decimals, i.price_band_bps, i.mark_stale_ms, i.active))
    )
    return RegistryRows(
        venues=tuple(
            VenueRow(r.name, r.signer, bool(r.approved), r.kind)
            for r in conn.execute(select(v.name, v.signer, v.approved, v.kind))
        ),
        symbols=tuple((r.venue, r.symbol, r.instrument) for r in conn.execute(select(s.venue, s.symbol, s.instrument))),
        instruments=instrument_rows,
        members=tuple(
            MemberRow(r.account, r.address, r.status, r.tier)
            for r in conn.execute(select(m.account, m.address, m.status, m.tier))
        ),
        permissions=tuple((r.member, r.instrument) for r in conn.execute(select(p.member, p.instrument))),
        indices=latest_indices(conn, now_ms, {r.name: r.mark_stale_ms for r in instrument_rows}, rule),
    )


# ---------------------------------------------------------------- existence


def _exists(conn: Connection, table: Table, column: str, value: object) -> bool:
    col = table.c[column]
    return conn.execute(select(col).where(col == value)).first() is not None


def venue_exists(conn: Connection, name: str) -> bool:
    return _exists(conn, venues, "name", name)


def instrument_exists(conn: Connection, name: str) -> bool:
    return _exists(conn, instruments, "name", name)


def member_exists(conn: Connection, account: int) -> bool:
    return _exists(conn, members, "account", account)


# ---------------------------------------------------------------- writes (True when the row was new)


def insert_venue(conn: Connection, row: Mapping[str, Any]) -> bool:
    return insert_new(conn, venues, row)


def set_venue(conn: Connection, name: str, **values: Any) -> None:
    """Update columns of a venue (approved, signer)."""
    conn.execute(update(venues).where(venues.c.name == name).values(**values))


def insert_symbol(conn: Connection, venue: str, symbol: str, instrument: str) -> bool:
    return insert_new(conn, venue_symbols, {"venue": venue, "symbol": symbol, "instrument": instrument})


def mapped_instrument(conn: Connection, venue: str, symbol: str) -> str | None:
    s = venue_symbols.c
    found = conn.execute(select(s.instrument).where(s.venue == venue, s.symbol == symbol)).scalar_one_or_none()
    return None if found is None else str(found)


def insert_instrument(conn: Connection, row: Mapping[str, Any]) -> bool:
    return insert_new(conn, instruments, row)


def set_instrument_active(conn: Connection, name: str, active: bool) -> None:
    conn.execute(update(instruments).where(instruments.c.name == name).values(active=active))


def insert_member(conn: Connection, row: Mapping[str, Any]) -> bool:
    return insert_new(conn, members, row)


def account_holding(conn: Connection, account: int, address: str) -> int | None:
    """The account number of the member that holds `account` or `address`, if any."""
    m = members.c
    found = conn.execute(select(m.account).where((m.account == account) | (m.address == address))).first()
    return None if found is None else int(found.account)


def set_member_status(conn: Connection, account: int, status: str) -> None:
    conn.execute(update(members).where(members.c.account == account).values(status=status))


def sync_exiting(conn: Connection, open_exits: frozenset[int]) -> list[tuple[int, str]]:
    """Member statuses in step with the vault's open exit requests (offchain/chain/exits.py): `active` members
    with one become `exiting`, `exiting` ones without one `active` again (close_only and defaulted stay).
    Returns the (account, new status) changes made."""
    changes: list[tuple[int, str]] = []
    rows = conn.execute(select(members.c.account, members.c.status).where(members.c.status.in_(["active", "exiting"])))
    for account, status in rows.all():
        want = "exiting" if account in open_exits else "active"
        if status != want:
            conn.execute(update(members).where(members.c.account == account).values(status=want))
            changes.append((int(account), want))
    return changes


def insert_permission(conn: Connection, member: int, instrument: str) -> bool:
    return insert_new(conn, permissions, {"member": member, "instrument": instrument})
