"""An immutable picture of what ingest checks fills against, loaded from the ledger in one read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from offchain.ledger.registry_store import RegistryRows, read_registry

if TYPE_CHECKING:
    from offchain.ledger.handles import Connection
    from offchain.marketdata.index import IndexRule


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
    status: str  # active, exiting (reduce-only), close_only, defaulted
    permitted: frozenset[str]  # cleared instruments the member may trade
    tier: str = ""  # risk tier (tier1..tier3): scales its position limits


@dataclass(frozen=True, slots=True)
class Mark:
    price: int  # settlement base units per whole unit
    ts_ms: int


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """Venues, symbol map, instruments, members (by checksummed address) and the mark per instrument as of
    `loaded_ms`: its index under the engine's one latest-price rule (offchain/ledger/prices.py; median of the
    fresh sources, outliers rejected, quorum, bounded by the instrument's `mark_stale_ms`). `no_mark` says
    why a symbol has none (its index halted): a fill on it is refused with NO_MARK and that reason."""

    venues: Mapping[str, VenueInfo]
    symbols: Mapping[tuple[str, str], str]  # (venue, venue symbol) -> cleared instrument
    instruments: Mapping[str, InstrumentInfo]
    members: Mapping[str, MemberInfo]
    marks: Mapping[str, Mark]
    loaded_ms: int
    no_mark: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # symbol -> why

    @classmethod
    def load(cls, conn: Connection, loaded_ms: int, rule: IndexRule | None = None) -> RegistrySnapshot:
        return cls.from_rows(read_registry(conn, loaded_ms, rule), loaded_ms)

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
            marks=MappingProxyType(
                {
                    name: Mark(idx.price, idx.ts_ms)
                    for name, idx in rows.indices.items()
                    if idx.price is not None and idx.ts_ms is not None
                }
            ),
            loaded_ms=loaded_ms,
            no_mark=MappingProxyType({name: idx.detail for name, idx in rows.indices.items() if idx.price is None}),
        )
