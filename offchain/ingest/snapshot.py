"""An immutable picture of what ingest checks fills against, loaded from the ledger in one read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from offchain.ledger.registry_store import RegistryRows, read_registry

if TYPE_CHECKING:
    from offchain.ledger.handles import Connection


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
    tier: str = ""  # risk tier (tier1..tier3): scales its position limits


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
        return cls.from_rows(read_registry(conn), loaded_ms)

    @classmethod
    def from_rows(cls, rows: RegistryRows, loaded_ms: int) -> RegistrySnapshot:
        granted: dict[int, set[str]] = {}
        for member, instrument in rows.permissions:
            granted.setdefault(member, set()).add(instrument)
        return cls(
            venues=MappingProxyType({v.name: VenueInfo(v.signer, v.approved, v.kind) for v in rows.venues}),
            symbols=MappingProxyType({(venue, symbol): ins for venue, symbol, ins in rows.symbols}),
            instruments=MappingProxyType(
                {
                    i.name: InstrumentInfo(i.name, i.qty_decimals, i.price_band_bps, i.mark_stale_ms, i.active)
                    for i in rows.instruments
                }
            ),
            members=MappingProxyType(
                {
                    m.address: MemberInfo(m.account, m.status, frozenset(granted.get(m.account, ())), m.tier)
                    for m in rows.members
                }
            ),
            marks=MappingProxyType({m.instrument: Mark(m.price, m.ts_ms) for m in rows.latest_marks}),
            loaded_ms=loaded_ms,
        )
