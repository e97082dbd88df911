"""The operator's registry: venues and their signer keys, cleared instruments, venue symbols, members
and their trading permissions.

Every function takes an open `Connection` and runs inside the caller's transaction, so an operator
can make several changes atomically (`with engine.begin() as conn: ...`). Ingest reads the result
through `RegistrySnapshot.load` (offchain/ingest/snapshot.py).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from eth_utils import to_checksum_address

from offchain.ingest.errors import (
    AlreadyGrantedError,
    InstrumentExistsError,
    InvalidRegistryValueError,
    MemberExistsError,
    SymbolMappedError,
    UnknownInstrumentError,
    UnknownMemberError,
    UnknownVenueError,
    VenueExistsError,
)
from offchain.ledger import registry_store as store

if TYPE_CHECKING:
    from offchain.ledger.handles import Connection

VENUE_KINDS: Final = frozenset({"dex", "cex", "otc", "auction"})  # auction: see validation.CLOSE_OUT_KINDS
INSTRUMENT_KINDS: Final = frozenset({"perp", "future", "spot"})
MEMBER_STATUSES: Final = frozenset({"active", "exiting", "close_only", "defaulted"})
MAX_QTY_DECIMALS: Final = 38


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _address(value: str, what: str) -> str:
    try:
        return str(to_checksum_address(value))
    except (ValueError, TypeError) as exc:
        raise InvalidRegistryValueError(f"{what} is not an address: {value!r}") from exc


def _name(value: str, what: str, max_len: int) -> str:
    if not value or len(value) > max_len or value != value.strip():
        raise InvalidRegistryValueError(f"{what} must be 1..{max_len} characters without surrounding spaces: {value!r}")
    return value


def _require_venue(conn: Connection, name: str) -> None:
    if not store.venue_exists(conn, name):
        raise UnknownVenueError(name)


def _require_instrument(conn: Connection, name: str) -> None:
    if not store.instrument_exists(conn, name):
        raise UnknownInstrumentError(name)


def _require_member(conn: Connection, account: int) -> None:
    if not store.member_exists(conn, account):
        raise UnknownMemberError(str(account))


# ---------------------------------------------------------------- venues


def register_venue(conn: Connection, name: str, signer: str, kind: str, *, created_ms: int | None = None) -> None:
    """Register a venue with the address of its fill-signing key. It starts unapproved: its fills are
    refused (VENUE_NOT_APPROVED) until the operator calls `approve_venue`."""
    _name(name, "venue name", 64)
    if kind not in VENUE_KINDS:
        raise InvalidRegistryValueError(f"venue kind must be one of {sorted(VENUE_KINDS)}, got {kind!r}")
    signer = _address(signer, "venue signer")
    row = {
        "name": name,
        "signer": signer,
        "kind": kind,
        "approved": False,
        "created_ms": _now_ms() if created_ms is None else created_ms,
    }
    if not store.insert_venue(conn, row):
        raise VenueExistsError(name)


def approve_venue(conn: Connection, name: str) -> None:
    _require_venue(conn, name)
    store.set_venue(conn, name, approved=True)


def rotate_venue_signer(conn: Connection, name: str, signer: str) -> None:
    """Replace the venue's signer key. Fills signed by the old key are refused from then on
    (WRONG_SIGNER); fills already stored keep the signature they were accepted with."""
    signer = _address(signer, "venue signer")
    _require_venue(conn, name)
    store.set_venue(conn, name, signer=signer)


def map_symbol(conn: Connection, venue: str, symbol: str, instrument: str) -> None:
    """Map a venue's own symbol onto a cleared instrument, so the same exposure from two venues nets."""
    _name(symbol, "symbol", 64)
    _require_venue(conn, venue)
    _require_instrument(conn, instrument)
    if not store.insert_symbol(conn, venue, symbol, instrument):
        existing = store.mapped_instrument(conn, venue, symbol)
        raise SymbolMappedError(f"{venue}:{symbol} already maps to {existing}")


# ---------------------------------------------------------------- instruments


def add_instrument(
    conn: Connection,
    name: str,
    kind: str,
    underlying: str,
    qty_decimals: int,
    price_band_bps: int,
    max_mark_jump_bps: int,
    mark_stale_ms: int,
    clearing_fee_bps: int,
    active: bool = True,
) -> None:
    """Add a cleared instrument. `price_band_bps`: fills priced further than this from the mark are
    refused; `qty_decimals`: fill quantities are in 10**-qty_decimals of one unit of the underlying."""
    _name(name, "instrument name", 64)
    _name(underlying, "underlying", 16)
    if kind not in INSTRUMENT_KINDS:
        raise InvalidRegistryValueError(f"instrument kind must be one of {sorted(INSTRUMENT_KINDS)}, got {kind!r}")
    if not 0 <= qty_decimals <= MAX_QTY_DECIMALS:
        raise InvalidRegistryValueError(f"qty_decimals must be in 0..{MAX_QTY_DECIMALS}, got {qty_decimals}")
    for label, bps in (("price_band_bps", price_band_bps), ("max_mark_jump_bps", max_mark_jump_bps)):
        if not 0 < bps <= 10_000:
            raise InvalidRegistryValueError(f"{label} must be in 1..10000, got {bps}")
    if not 0 <= clearing_fee_bps <= 10_000:
        raise InvalidRegistryValueError(f"clearing_fee_bps must be in 0..10000, got {clearing_fee_bps}")
    if mark_stale_ms <= 0:
        raise InvalidRegistryValueError(f"mark_stale_ms must be positive, got {mark_stale_ms}")
    row = {
        "name": name,
        "kind": kind,
        "underlying": underlying,
        "qty_decimals": qty_decimals,
        "price_band_bps": price_band_bps,
        "max_mark_jump_bps": max_mark_jump_bps,
        "mark_stale_ms": mark_stale_ms,
        "clearing_fee_bps": clearing_fee_bps,
        "active": active,
    }
    if not store.insert_instrument(conn, row):
        raise InstrumentExistsError(name)


def set_instrument_active(conn: Connection, name: str, active: bool) -> None:
    _require_instrument(conn, name)
    store.set_instrument_active(conn, name, active)


# ---------------------------------------------------------------- members


def admit_member(
    conn: Connection,
    account: int,
    address: str,
    name: str,
    kind: str,
    tier: str,
    group_name: str,
    *,
    created_ms: int | None = None,
) -> None:
    """Admit a member under its vault account number and address, with status 'active' and no
    permissions yet (see `grant`)."""
    if account < 0:
        raise InvalidRegistryValueError(f"account must be non-negative, got {account}")
    address = _address(address, "member address")
    _name(name, "member name", 128)
    _name(kind, "member kind", 32)
    _name(tier, "tier", 16)
    _name(group_name, "group name", 32)
    row = {
        "account": account,
        "address": address,
        "name": name,
        "kind": kind,
        "tier": tier,
        "group_name": group_name,
        "status": "active",
        "created_ms": _now_ms() if created_ms is None else created_ms,
    }
    if not store.insert_member(conn, row):
        taken = store.account_holding(conn, account, address)
        by = "" if taken is None else f" (by account {taken})"
        raise MemberExistsError(f"account {account} or address {address} is taken{by}")


def set_member_status(conn: Connection, account: int, status: str) -> None:
    """active, exiting (an open exit request on the vault: reduce-only), close_only (under a margin call) or
    defaulted. Ingest accepts fills only for 'active', and reducing ones for 'exiting'."""
    if status not in MEMBER_STATUSES:
        raise InvalidRegistryValueError(f"member status must be one of {sorted(MEMBER_STATUSES)}, got {status!r}")
    _require_member(conn, account)
    store.set_member_status(conn, account, status)


def grant(conn: Connection, member_account: int, instrument: str) -> None:
    """Allow a member to trade a cleared instrument (on every venue that maps a symbol to it)."""
    _require_member(conn, member_account)
    _require_instrument(conn, instrument)
    if not store.insert_permission(conn, member_account, instrument):
        raise AlreadyGrantedError(f"member {member_account} may already trade {instrument}")
