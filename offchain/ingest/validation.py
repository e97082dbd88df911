"""Pure validation of a venue-signed fill against a `RegistrySnapshot` and the current time.

Checks run in three stages, and the order is part of the contract:

1. **authenticate** — the signature recovers, the venue is registered and approved, and the
   recovered key is the venue's current signer. Until this passes the input is anonymous, so it learns
   nothing beyond whether a venue name exists (venue names are public).
2. **against what is stored** — a fill with the same `(venue, venue_fill_id)` already stored is a
   duplicate when its content (its Merkle leaf, which covers every signed field) is identical, and a
   CONFLICT otherwise. This comes before the business checks, so a resend is acknowledged as a
   duplicate even if the registry, the mark or the clock have moved on since.
3. **terms** — symbol, instrument, timestamp window, quantity, members, permissions, price band.

A venue of a close-out kind (`auction`: the clearing house's own `crossclear-auction` venue) is the only
way a defaulted member trades: each of its fills must have exactly one side closed out, defaulted or exiting (an
exit close-out, offchain/defaults/closeout.py), and an active counterparty (`NOT_CLOSE_OUT` otherwise), and
must only reduce the closed-out side's position (`NOT_REDUCING` for a defaulter, `reduces` below; `EXITING` for
an exiting member; the service checks it against the live position inside its transaction). Every other venue
refuses every fill of a member that is neither active nor exiting.

Nothing here touches the database or the clock: the caller passes the snapshot and `now_ms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from offchain.core.batch import INT128_MAX
from offchain.core.fills import Fill, InvalidSignature, recover_signer_bytes
from offchain.ingest.snapshot import RegistrySnapshot


class Reason(StrEnum):
    """Machine-readable rejection codes (stored in `rejections.reason`, returned to the venue)."""

    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_VENUE = "UNKNOWN_VENUE"
    VENUE_NOT_APPROVED = "VENUE_NOT_APPROVED"
    WRONG_SIGNER = "WRONG_SIGNER"
    CONFLICT = "CONFLICT"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INSTRUMENT_INACTIVE = "INSTRUMENT_INACTIVE"
    TS_TOO_OLD = "TS_TOO_OLD"
    TS_IN_FUTURE = "TS_IN_FUTURE"
    BAD_QTY = "BAD_QTY"
    BAD_PRICE = "BAD_PRICE"
    SELF_TRADE = "SELF_TRADE"
    UNKNOWN_MEMBER = "UNKNOWN_MEMBER"
    MEMBER_NOT_ACTIVE = "MEMBER_NOT_ACTIVE"
    NOT_PERMITTED = "NOT_PERMITTED"
    NO_MARK = "NO_MARK"
    PRICE_OUT_OF_BAND = "PRICE_OUT_OF_BAND"
    NOT_CLOSE_OUT = "NOT_CLOSE_OUT"  # a close-out venue's fill without exactly one defaulted or exiting side
    NOT_REDUCING = "NOT_REDUCING"  # a close-out fill that would grow or flip the defaulter's position
    POSITION_LIMIT = "POSITION_LIMIT"  # a fill that takes a member beyond its tier's position limit
    EXITING = "EXITING"  # a fill that would grow or flip the position of a member with an open exit request


# Stage 1's reasons: a fill refused for one of them proves nothing about who sent it.
AUTHENTICATION_REASONS = frozenset(
    {Reason.BAD_SIGNATURE, Reason.UNKNOWN_VENUE, Reason.VENUE_NOT_APPROVED, Reason.WRONG_SIGNER}
)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid fill, resolved to the cleared instrument and the members' vault account numbers.
    `closes_out`: the defaulted member's account when a close-out venue's fill closes its position (the
    service still checks that it only reduces it)."""

    instrument: str
    buyer: int
    seller: int
    closes_out: int | None = None
    exiting: tuple[int, ...] = ()  # sides with an open exit request on the vault: reduce-only


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The identical fill is stored already."""


Verdict = Accepted | Duplicate | Rejection


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far a fill's `ts` may lie behind or ahead of the clearing house's clock."""

    max_age_ms: int = 10 * 60_000
    max_ahead_ms: int = 5_000


# A fill whose notional cannot be expressed as a vault transfer (int128) can never be settled.
MAX_NOTIONAL = INT128_MAX

# Venue kinds run by the clearing house itself to close out defaulted members (offchain/defaults/house.py).
CLOSE_OUT_KINDS = frozenset({"auction"})


def authenticate(fill: Fill, signature: bytes, domain_separator: bytes, snapshot: RegistrySnapshot) -> Rejection | None:
    """None when the fill is signed by its venue's current key and the venue is approved."""
    try:
        signer: bytes | str = recover_signer_bytes(fill.digest_under(domain_separator), signature)
    except InvalidSignature as exc:
        signer = str(exc)
    return authenticate_recovered(fill, signer, snapshot)


def authenticate_recovered(fill: Fill, signer: bytes | str, snapshot: RegistrySnapshot) -> Rejection | None:
    """`authenticate` once the signer is recovered (`signer`: its 20 address bytes, or why it did not
    recover), so recovery can run elsewhere (offchain/ingest/recovery.py)."""
    if isinstance(signer, str):
        return Rejection(Reason.BAD_SIGNATURE, signer)
    venue = snapshot.venues.get(fill.venue)
    if venue is None:
        return Rejection(Reason.UNKNOWN_VENUE, f"venue {fill.venue!r} is not registered")
    if not venue.approved:
        return Rejection(Reason.VENUE_NOT_APPROVED, f"venue {fill.venue!r} is not approved yet")
    if signer != bytes.fromhex(venue.signer[2:]):
        return Rejection(Reason.WRONG_SIGNER, f"signed by 0x{signer.hex()}, not by the venue's registered key")
    return None


def against_stored(leaf: bytes, stored_leaf: bytes) -> Duplicate | Rejection:
    """Judge a fill whose `(venue, venue_fill_id)` is stored already."""
    if leaf == stored_leaf:
        return Duplicate()
    return Rejection(Reason.CONFLICT, "this venue_fill_id is stored with different content")


def check_terms(fill: Fill, snapshot: RegistrySnapshot, now_ms: int, window: TimeWindow) -> Accepted | Rejection:
    """The business checks, for an authenticated fill not stored yet."""
    instrument_name = snapshot.symbols.get((fill.venue, fill.symbol))
    if instrument_name is None:
        return Rejection(Reason.UNKNOWN_SYMBOL, f"{fill.venue} symbol {fill.symbol!r} maps to no cleared instrument")
    instrument = snapshot.instruments[instrument_name]
    if not instrument.active:
        return Rejection(Reason.INSTRUMENT_INACTIVE, f"{instrument_name} is not active")

    if fill.ts < now_ms - window.max_age_ms:
        return Rejection(Reason.TS_TOO_OLD, f"ts {fill.ts} is more than {window.max_age_ms} ms before {now_ms}")
    if fill.ts > now_ms + window.max_ahead_ms:
        return Rejection(Reason.TS_IN_FUTURE, f"ts {fill.ts} is more than {window.max_ahead_ms} ms after {now_ms}")

    if fill.qty <= 0:
        return Rejection(Reason.BAD_QTY, f"qty must be positive, got {fill.qty}")
    if fill.price <= 0:
        return Rejection(Reason.BAD_PRICE, f"price must be positive, got {fill.price}")
    scale = 10**instrument.qty_decimals
    notional = -(-fill.qty * fill.price // scale)  # rounded up
    if notional > MAX_NOTIONAL:
        return Rejection(Reason.BAD_QTY, f"notional {notional} exceeds what a settlement transfer can carry")

    if fill.buyer == fill.seller:
        return Rejection(Reason.SELF_TRADE, "buyer and seller are the same member")
    buyer = snapshot.members.get(fill.buyer)
    seller = snapshot.members.get(fill.seller)
    for side, address, member in (("buyer", fill.buyer, buyer), ("seller", fill.seller, seller)):
        if member is None:
            return Rejection(Reason.UNKNOWN_MEMBER, f"{side} {address} is not a member")
    assert buyer is not None and seller is not None
    closes_out: int | None = None
    if snapshot.venues[fill.venue].kind in CLOSE_OUT_KINDS:
        # A defaulter's close-out, or an exiting member's (its reduction is checked as EXITING below).
        closed = [m for m in (buyer, seller) if m.status in ("defaulted", "exiting")]
        if len(closed) != 1:
            return Rejection(
                Reason.NOT_CLOSE_OUT,
                f"a {fill.venue} fill closes out exactly one defaulted or exiting member; {len(closed)} side(s) are",
            )
        if closed[0].status == "defaulted":
            closes_out = closed[0].account
    for side, member in (("buyer", buyer), ("seller", seller)):
        # A close_only member may in principle still reduce its position; ingest does not check its
        # positions, so it refuses every fill of a close_only or defaulted member, except the defaulted side of a
        # close-out venue's fill (whose reduction the service checks against the live position). An exiting
        # member's fills pass here and the service checks them against its live positions (EXITING).
        if member.status not in ("active", "exiting") and member.account != closes_out:
            return Rejection(Reason.MEMBER_NOT_ACTIVE, f"{side} account {member.account} is {member.status}")
    # A member that asked the vault for its exit may only reduce its positions (the service checks them live):
    # new exposure would raise the IM the signers must bring to 0 to serve the exit (issue 11, finding 2).
    exiting = tuple(m.account for m in (buyer, seller) if m.status == "exiting")
    for side, member in (("buyer", buyer), ("seller", seller)):
        if instrument_name not in member.permitted:
            return Rejection(Reason.NOT_PERMITTED, f"{side} account {member.account} may not trade {instrument_name}")

    mark = snapshot.marks.get(instrument_name)
    if mark is None:
        why = snapshot.no_mark.get(instrument_name, "no source has reported it")
        return Rejection(Reason.NO_MARK, f"{instrument_name} has no mark to check the price against ({why})")
    if now_ms - mark.ts_ms > instrument.mark_stale_ms:
        return Rejection(Reason.NO_MARK, f"{instrument_name}'s mark from {mark.ts_ms} is stale at {now_ms}")
    # |price - mark| > band_bps / 10000 * mark, in integers.
    if abs(fill.price - mark.price) * 10_000 > instrument.price_band_bps * mark.price:
        return Rejection(
            Reason.PRICE_OUT_OF_BAND,
            f"price {fill.price} is more than {instrument.price_band_bps} bps from the mark {mark.price}",
        )
    return Accepted(
        instrument=instrument_name,
        buyer=buyer.account,
        seller=seller.account,
        closes_out=closes_out,
        exiting=exiting,
    )


def reduces(position: int, defaulter_buys: bool, qty: int) -> Rejection | None:
    """None when a close-out fill of `qty` only reduces the defaulter's live `position` (never past zero)."""
    if _reducing(position, defaulter_buys, qty):
        return None
    side = "buys" if defaulter_buys else "sells"
    return Rejection(
        Reason.NOT_REDUCING, f"the defaulter {side} {qty} against a position of {position}: it would not reduce it"
    )


def exit_reduces(account: int, position: int, buys: bool, qty: int) -> Rejection | None:
    """None when a fill of `qty` only reduces the live `position` of `account`, a member with an open exit
    request (never past zero); else EXITING."""
    if _reducing(position, buys, qty):
        return None
    side = "buys" if buys else "sells"
    return Rejection(
        Reason.EXITING,
        f"account {account} asked to exit: it {side} {qty} against a position of {position}, which would not reduce it",
    )


def _reducing(position: int, buys: bool, qty: int) -> bool:
    after = position + qty if buys else position - qty
    return not (position == 0 or abs(after) > abs(position) or (after != 0 and (after > 0) != (position > 0)))


def validate(
    fill: Fill,
    signature: bytes,
    snapshot: RegistrySnapshot,
    now_ms: int,
    *,
    domain_separator: bytes,
    window: TimeWindow = TimeWindow(),
    stored_leaf: bytes | None = None,
) -> Verdict:
    """The full judgement of one fill; `stored_leaf` is the leaf of the fill stored under the same
    `(venue, venue_fill_id)`, if any."""
    refused = authenticate(fill, signature, domain_separator, snapshot)
    if refused is not None:
        return refused
    if stored_leaf is not None:
        return against_stored(fill.leaf(), stored_leaf)
    return check_terms(fill, snapshot, now_ms, window)
