"""Venues: registration (operator-approved), signed fills (single and bulk), fill status and proofs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from offchain.api.deps import (
    PageDep,
    PublicLimit,
    Services,
    ServicesDep,
    SessionDep,
    SignedDep,
    client_key,
    require_operator,
    require_venue_reader,
)
from offchain.api.errors import COMMON_RESPONSES, ApiError, ErrorBody, not_found
from offchain.api.fastjson import FastJsonRoute
from offchain.api.models import (
    AckOut,
    BulkFills,
    Empty,
    FillOut,
    FillStatusOut,
    Paged,
    ProofOut,
    Signed,
    SignedFill,
    VenueOut,
    VenueRegisterPayload,
    checksum,
)
from offchain.api.routes.membership import registry_error
from offchain.api.signing import spend_nonce
from offchain.core.batch import UINT128_MAX
from offchain.core.fills import Fill
from offchain.ingest import registry
from offchain.ingest.errors import RegistryError
from offchain.ingest.service import Ack
from offchain.ingest.validation import Reason
from offchain.ledger.handles import Connection
from offchain.ledger.views import batches, fills, members
from offchain.ledger.views.fills import FillRow
from offchain.ledger.views.members import VenueRow

router = APIRouter(prefix="/venues", tags=["venues"], responses=COMMON_RESPONSES, route_class=FastJsonRoute)
VenueName = Annotated[str, Path(pattern=r"^[!-~]{1,64}$")]
VenueFillId = Annotated[str, Path(pattern=r"^[!-~]([ -~]*[!-~])?$", max_length=128)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
}


def venue_out(r: VenueRow) -> VenueOut:
    return VenueOut(name=r.name, signer=r.signer, kind=r.kind, approved=r.approved, created_ms=r.created_ms)


@router.get("", response_model=list[VenueOut], dependencies=[PublicLimit], summary="Registered venues")
def list_venues(svc: ServicesDep) -> list[VenueOut]:
    with svc.engine.connect() as conn:
        return [venue_out(r) for r in members.venues(conn)]


@router.post(
    "",
    status_code=201,
    response_model=VenueOut,
    responses=_ERRORS,
    summary="Register a venue (signed by its fill-signing key); fills are refused until the operator approves",
)
def register(body: Signed[VenueRegisterPayload], verified: SignedDep, svc: ServicesDep) -> VenueOut:
    now = svc.clock()
    with svc.engine.begin() as conn:
        spend_nonce(conn, verified, now)
        try:
            registry.register_venue(conn, body.payload.name, verified.signer, body.payload.kind, created_ms=now)
        except RegistryError as exc:
            raise registry_error(exc) from exc
        return venue_out(members.stored_venue(conn, body.payload.name))


@router.post(
    "/{venue}/approve", response_model=VenueOut, responses=_ERRORS, summary="Approve a venue (operator-signed)"
)
def approve(venue: VenueName, body: Signed[Empty], verified: SignedDep, svc: ServicesDep) -> VenueOut:
    require_operator(svc, verified.signer)
    with svc.engine.begin() as conn:
        row = members.venue(conn, venue)
        if row is None:
            raise not_found("unknown_venue", venue)
        spend_nonce(conn, verified, svc.clock())
        registry.approve_venue(conn, venue)
        return venue_out(members.stored_venue(conn, venue))


def _core_fill(venue: str, item: SignedFill) -> tuple[Fill, bytes] | AckOut:
    """The wire fill as ingest's `Fill`, or its per-fill refusal when it can never be a signed uint128.

    `FillIn` has validated every field `Fill` validates (the same lengths, address format, ts range) and
    the uint128 bounds of qty and price are checked here, so the fill is built with `model_construct`
    and the addresses are checksummed through a cache: on the ingest hot path the model's own validation
    would redo all of it (~70 µs a fill). A qty or price of 0 is a value the EIP-712 type can carry, so it
    is built too and ingest judges it like any other: authenticated first, then refused with its own
    `BAD_QTY`/`BAD_PRICE`, so one bad fill never fails the rest of its bulk. Values beyond uint128 cannot
    have been signed as a `Fill` at all and are refused at once (nothing is stored for them)."""
    f = item.fill
    if f.venue != venue:
        # 403, not 400: the request is well formed, but this venue's endpoint may not carry another's fills.
        raise ApiError(403, "venue_mismatch", f"fill {f.venue_fill_id} is for venue {f.venue!r}, not {venue!r}")
    qty, price = int(f.qty), int(f.price)
    for name, value, reason in (("qty", qty, Reason.BAD_QTY), ("price", price, Reason.BAD_PRICE)):
        if value > UINT128_MAX:
            return AckOut(
                venue_fill_id=f.venue_fill_id,
                status="rejected",
                fill_id=None,
                reason=reason.value,
                detail=f"{name} {value} does not fit the Fill type's uint128",
            )
    fields: dict[str, Any] = {
        "venue": f.venue,
        "venue_fill_id": f.venue_fill_id,
        "symbol": f.symbol,
        "buyer": checksum(f.buyer),
        "seller": checksum(f.seller),
        "qty": qty,
        "price": price,
        "ts": f.ts,
    }
    return Fill.model_construct(**fields), bytes.fromhex(item.signature[2:])


def _ack_out(fill: Fill, ack: Ack) -> AckOut:
    return AckOut(
        venue_fill_id=fill.venue_fill_id,
        status=ack.status.value,
        fill_id=ack.fill_id,
        reason=None if ack.reason is None else ack.reason.value,
        detail=ack.detail,
    )


def _ingest(svc: Services, request: Request, venue: str, wire: list[SignedFill]) -> list[AckOut]:
    """Rate limits around authentication: the source address pays for every fill before any signature is
    recovered; the venue's own bucket only for the fills its key really signed (so forged fills in a venue's
    name cannot exhaust it). Then one transaction for the authentic ones."""
    svc.fill_limits.take(client_key(request), len(wire))
    built = [_core_fill(venue, f) for f in wire]
    items = [b for b in built if isinstance(b, tuple)]
    checked = svc.ingestor.authenticate_many(items)
    authentic = sum(1 for c in checked if c is None)
    if authentic:
        svc.fill_limits.take("v:" + venue, authentic)
    acks = iter(svc.ingestor.submit_many(items, authenticated=checked))
    out = []
    for b in built:
        if isinstance(b, AckOut):
            svc.refusals.add(b.reason or "rejected")
            out.append(b)
        else:
            out.append(_ack_out(b[0], next(acks)))
    return out


_FILL_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "`venue_mismatch`: a fill names another venue (nothing stored)"},
    413: {"model": ErrorBody, "description": "`bulk_too_large` or `payload_too_large` (nothing stored)"},
}


@router.post(
    "/{venue}/fills",
    response_model=AckOut,
    responses=_FILL_ERRORS,
    summary="Submit one venue-signed fill; the ack comes after it is durably stored",
)
async def submit_fill(venue: VenueName, body: SignedFill, svc: ServicesDep, request: Request) -> AckOut:
    """The EIP-712 `Fill` signature is the request's signature; `(venue, venue_fill_id)` makes a resend
    a `duplicate`, so the fill needs no extra nonce. A refused fill is an ack with a `reason`."""
    # On the event loop, not a worker thread: the thread hop cost more than the fill's own checks. Nothing
    # here blocks: recovery is ~50 µs of C, a registry reload (once a second) goes to a thread, and the
    # handler awaits the shared commit (offchain/ingest/coalesce.py) instead of holding a thread for it.
    svc.fill_limits.take(client_key(request))
    built = _core_fill(venue, body)
    if isinstance(built, AckOut):
        svc.refusals.add(built.reason or "rejected")
        return built
    fill, signature = built
    if svc.ingestor.snapshot_is_fresh():
        (checked,) = svc.ingestor.authenticate_many([built])
    else:
        (checked,) = await run_in_threadpool(svc.ingestor.authenticate_many, [built])
    if checked is None:
        svc.fill_limits.take("v:" + venue)
    # Concurrent single fills share a commit; the ack still follows it.
    return _ack_out(fill, await svc.coalescer.submit_async(fill, signature, checked))


@router.post(
    "/{venue}/fills/bulk",
    response_model=list[AckOut],
    responses=_FILL_ERRORS,
    summary="Submit up to `max_bulk` (default 1,000) venue-signed fills in one transaction; one ack per fill, in order",
)
def submit_bulk(venue: VenueName, body: BulkFills, svc: ServicesDep, request: Request) -> list[AckOut]:
    """Each fill is judged on its own (a refused fill is an ack with its reason, the others are stored);
    only a fill naming another venue (403 `venue_mismatch`) or too many fills (413 `bulk_too_large`)
    refuse the whole request, and then nothing is stored."""
    if len(body.fills) > svc.settings.max_bulk:
        raise ApiError(413, "bulk_too_large", f"at most {svc.settings.max_bulk} fills per request")
    return _ingest(svc, request, venue, body.fills)


def fill_out(r: FillRow, batch_status: str | None) -> FillOut:
    status: Literal["pending", "batched", "settled"]
    status = "pending" if r.batch_sequence is None else "settled" if batch_status == "confirmed" else "batched"
    return FillOut(
        id=r.id,
        venue=r.venue,
        venue_fill_id=r.venue_fill_id,
        symbol=r.symbol,
        instrument=r.instrument,
        buyer=r.buyer_address,
        seller=r.seller_address,
        qty=str(r.qty),
        price=str(r.price),
        ts=r.ts_ms,
        signature="0x" + r.signature.hex(),
        leaf="0x" + r.leaf.hex(),
        received_ms=r.received_ms,
        status=status,
        batch_sequence=r.batch_sequence,
    )


def fills_page_out(conn: Connection, rows: list[FillRow], limit: int) -> Paged[FillOut]:
    """One page of fills with each fill's status (from its batch's status)."""
    statuses = batches.statuses(conn, {r.batch_sequence for r in rows if r.batch_sequence is not None})
    items = [fill_out(r, statuses.get(r.batch_sequence) if r.batch_sequence is not None else None) for r in rows]
    return Paged(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.get(
    "/{venue}/fills",
    response_model=Paged[FillOut],
    responses=_ERRORS,
    summary="The venue's fills with their status (venue's session)",
)
def list_fills(
    venue: VenueName,
    s: SessionDep,
    svc: ServicesDep,
    page: PageDep,
    status: Annotated[str | None, Query(pattern="^(pending|included)$", description="pending: no batch yet")] = None,
) -> Paged[FillOut]:
    with svc.engine.connect() as conn:
        require_venue_reader(conn, svc, s, venue)
        batched: Literal["pending", "included"] | None = (
            "pending" if status == "pending" else "included" if status == "included" else None
        )
        rows = fills.fills_page(conn, page.cursor, page.limit, venue=venue, batched=batched)
        return fills_page_out(conn, rows, page.limit)


def proof_of(conn: Connection, svc: Services, r: FillRow) -> ProofOut | None:
    if r.batch_sequence is None:
        return None
    b = batches.batch_of_fill(conn, r.batch_sequence)
    tree = svc.proofs.tree(conn, r.batch_sequence)
    leaf = r.leaf
    committed = bytes.fromhex(b.payload["batch"]["fills_root"])
    if tree.root != committed:  # the ledger disagrees with the batch it built: never serve a bad proof
        raise ApiError(409, "proof_unavailable", f"batch {r.batch_sequence}'s stored fills do not match its root")
    return ProofOut(
        venue=r.venue,
        venue_fill_id=r.venue_fill_id,
        leaf="0x" + leaf.hex(),
        proof=["0x" + p.hex() for p in tree.proof(leaf)],
        root="0x" + tree.root.hex(),
        batch_sequence=r.batch_sequence,
        batch_status=b.status,
        tx_hash=None if b.tx_hash is None else "0x" + b.tx_hash.hex(),
        block_number=b.block_number,
    )


@router.get(
    "/{venue}/fills/{venue_fill_id}",
    response_model=FillStatusOut,
    responses=_ERRORS,
    summary="One fill's status and, once batched, its Merkle inclusion proof (root, batch, tx)",
)
def get_fill(venue: VenueName, venue_fill_id: VenueFillId, s: SessionDep, svc: ServicesDep) -> FillStatusOut:
    """Readable by the venue's session, the buyer's or seller's session, or the operator's. The proof
    verifies with OpenZeppelin's `MerkleProof.verify(proof, root, leaf)` against the batch's `fillsRoot`."""
    with svc.engine.connect() as conn:
        r = fills.fill_by_venue_id(conn, venue, venue_fill_id)
        if r is None or s.address not in (r.buyer_address, r.seller_address):
            require_venue_reader(conn, svc, s, venue)
        if r is None:
            raise not_found("unknown_fill", f"{venue}/{venue_fill_id}")
        statuses = batches.statuses(conn, {r.batch_sequence} if r.batch_sequence is not None else set())
        return FillStatusOut(
            fill=fill_out(r, statuses.get(r.batch_sequence) if r.batch_sequence is not None else None),
            proof=proof_of(conn, svc, r),
        )
