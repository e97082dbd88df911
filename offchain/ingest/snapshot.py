"""An immutable picture of what ingest checks fills against, loaded from the ledger in one read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import Connection, func, select

from offchain.ledger.schema import instruments, marks, members, permissions, venue_symbols, venues


@dataclass(frozen=True, slots=True)
class VenueInfo:
    signer: str  # checksummed address of the venue's fill-signing key
    approved: bool
    kind: str = ""  # dex, cex, otc, or auction (the clearing house's own close-out venue)


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    name: str
    qty_decimals: int
    price_band_bps: int
    mark_stale_ms: int
    active: bool


@dataclass(frozen=True, slots=True)
class MemberInfo:
    account: int
    status: str  # active, close_only, defaulted
    permitted: frozenset[str]  # cleared instruments the member may trade


@dataclass(frozen=True, slots=True)
class Mark:
    price: int  # settlement base units per whole unit
    ts_ms: int


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """Venues, symbol map, instruments, members (by checksummed address) and the latest mark per
    instrument, as of `loaded_ms`."""

    venues: Mapping[str, VenueInfo]
    symbols: Mapping[tuple[str, str], str]  # (venue, venue symbol) -> cleared instrument
    instruments: Mapping[str, InstrumentInfo]
    members: Mapping[str, MemberInfo]
    marks: Mapping[str, Mark]
    loaded_ms: int

    @classmethod
    def load(cls, conn: Connection, loaded_ms: int) -> RegistrySnapshot:
        venue_map = {
            r.name: VenueInfo(signer=r.signer, approved=bool(r.approved), kind=r.kind)
            for r in conn.execute(select(venues.c.name, venues.c.signer, venues.c.approved, venues.c.kind))
        }
        symbol_map = {
            (r.venue, r.symbol): r.instrument
            for r in conn.execute(select(venue_symbols.c.venue, venue_symbols.c.symbol, venue_symbols.c.instrument))
        }
        instrument_map = {
            r.name: InstrumentInfo(
                name=r.name,
                qty_decimals=r.qty_decimals,
                price_band_bps=r.price_band_bps,
                mark_stale_ms=r.mark_stale_ms,
                active=bool(r.active),
            )
            for r in conn.execute(
                select(
                    instruments.c.name,
                    instruments.c.qty_decimals,
                    instruments.c.price_band_bps,
                    instruments.c.mark_stale_ms,
                    instruments.c.active,
                )
            )
        }
        granted: dict[int, set[str]] = {}
        for p in conn.execute(select(permissions.c.member, permissions.c.instrument)):
            granted.setdefault(p.member, set()).add(p.instrument)
        member_map = {
            r.address: MemberInfo(account=r.account, status=r.status, permitted=frozenset(granted.get(r.account, ())))
            for r in conn.execute(select(members.c.account, members.c.address, members.c.status))
        }
        latest = (
            select(marks.c.instrument, func.max(marks.c.ts_ms).label("ts_ms")).group_by(marks.c.instrument).subquery()
        )
        mark_map: dict[str, Mark] = {}
        latest_marks = conn.execute(
            select(marks.c.instrument, marks.c.price, marks.c.ts_ms)
            .join(latest, (marks.c.instrument == latest.c.instrument) & (marks.c.ts_ms == latest.c.ts_ms))
            .order_by(marks.c.id)
        )
        for m in latest_marks:  # two marks with the same latest ts: the later-recorded one wins
            mark_map[m.instrument] = Mark(price=m.price, ts_ms=m.ts_ms)
        return cls(
            venues=MappingProxyType(venue_map),
            symbols=MappingProxyType(symbol_map),
            instruments=MappingProxyType(instrument_map),
            members=MappingProxyType(member_map),
            marks=MappingProxyType(mark_map),
            loaded_ms=loaded_ms,
        )
