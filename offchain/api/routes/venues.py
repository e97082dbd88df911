"""Venues: registration (operator-approved), signed fills (single and bulk), fill status and proofs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import ValidationError
from sqlalchemy import Connection, select

from offchain.api.deps import (
    PageDep,
    PublicLimit,
    Services,
    ServicesDep,
    SessionDep,
    SignedDep,
    require_operator,
    require_venue_reader,
)
from offchain.api.errors import COMMON_RESPONSES, ApiError, ErrorBody, bad_request, not_found
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
)
from offchain.api.routes.membership import registry_error
from offchain.api.signing import spend_nonce
from offchain.core.fills import Fill
from offchain.ingest import registry
from offchain.ingest.errors import RegistryError
from offchain.ingest.service import Ack
from offchain.ledger.schema import batches, fills, venues

router = APIRouter(prefix="/venues", tags=["venues"], responses=COMMON_RESPONSES)
VenueName = Annotated[str, Path(pattern=r"^[!-~]{1,64}$")]
VenueFillId = Annotated[str, Path(pattern=r"^[!-~]([ -~]*[!-~])?$", max_length=128)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
}


def venue_out(r: Any) -> VenueOut:
    return VenueOut(name=r.name, signer=r.signer, kind=r.kind, approved=r.approved, created_ms=r.created_ms)


@router.get("", response_model=list[VenueOut], dependencies=[PublicLimit], summary="Registered venues")
def list_venues(svc: ServicesDep) -> list[VenueOut]:
    with svc.engine.connect() as conn:
        return [venue_out(r) for r in conn.execute(select(venues).order_by(venues.c.name))]


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
        return venue_out(conn.execute(select(venues).where(venues.c.name == body.payload.name)).one())


@router.post(
    "/{venue}/approve", response_model=VenueOut, responses=_ERRORS, summary="Approve a venue (operator-signed)"
)
def approve(venue: VenueName, body: Signed[Empty], verified: SignedDep, svc: ServicesDep) -> VenueOut:
    require_operator(svc, verified.signer)
    with svc.engine.begin() as conn:
        row = conn.execute(select(venues).where(venues.c.name == venue)).first()
        if row is None:
            raise not_found("unknown_venue", venue)
        spend_nonce(conn, verified, svc.clock())
        registry.approve_venue(conn, venue)
        return venue_out(conn.execute(select(venues).where(venues.c.name == venue)).one())


def _core_fill(venue: str, item: SignedFill) -> tuple[Fill, bytes]:
    f = item.fill
    if f.venue != venue:
        raise bad_request("venue_mismatch", f"fill {f.venue_fill_id} is for venue {f.venue!r}, not {venue!r}")
    try:
        fill = Fill(
            venue=f.venue,
            venue_fill_id=f.venue_fill_id,
            symbol=f.symbol,
            buyer=f.buyer,
            seller=f.seller,
            qty=int(f.qty),
            price=int(f.price),
            ts=f.ts,
        )
    except ValidationError as exc:
        raise ApiError(
            422, "invalid_request", f"fill {f.venue_fill_id}: {exc.errors(include_url=False)[0]['msg']}"
        ) from exc
    return fill, bytes.fromhex(item.signature[2:])


def _ack_out(fill: Fill, ack: Ack) -> AckOut:
    return AckOut(
        venue_fill_id=fill.venue_fill_id,
        status=ack.status.value,
        fill_id=ack.fill_id,
        reason=None if ack.reason is None else ack.reason.value,
        detail=ack.detail,
    )


@router.post(
    "/{venue}/fills",
    response_model=AckOut,
    responses=_ERRORS,
    summary="Submit one venue-signed fill; the ack comes after it is durably stored",
)
def submit_fill(venue: VenueName, body: SignedFill, svc: ServicesDep) -> AckOut:
    """The EIP-712 `Fill` signature is the request's signature; `(venue, venue_fill_id)` makes a resend
    a `duplicate`, so the fill needs no extra nonce. A refused fill is an ack with a `reason`."""
    fill, sig = _core_fill(venue, body)
    svc.fill_limits.take("v:" + venue)
    return _ack_out(fill, svc.ingestor.submit(fill, sig))


@router.post(
    "/{venue}/fills/bulk",
    response_model=list[AckOut],
    responses=_ERRORS,
    summary="Submit many venue-signed fills in one transaction; one ack per fill, in order",
)
def submit_bulk(venue: VenueName, body: BulkFills, svc: ServicesDep) -> list[AckOut]:
    if len(body.fills) > svc.settings.max_bulk:
        raise ApiError(413, "bulk_too_large", f"at most {svc.settings.max_bulk} fills per request")
    items = [_core_fill(venue, f) for f in body.fills]
    svc.fill_limits.take("v:" + venue, len(items))
    acks = svc.ingestor.submit_many(items)
    return [_ack_out(f, a) for (f, _), a in zip(items, acks, strict=True)]


def fill_out(r: Any, batch_status: str | None) -> FillOut:
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
        signature="0x" + bytes(r.signature).hex(),
        leaf="0x" + bytes(r.leaf).hex(),
        received_ms=r.received_ms,
        status=status,
        batch_sequence=r.batch_sequence,
    )


def _batch_statuses(conn: Connection, sequences: set[int]) -> dict[int, str]:
    if not sequences:
        return {}
    b = batches.c
    return {
        int(r.sequence): r.status for r in conn.execute(select(b.sequence, b.status).where(b.sequence.in_(sequences)))
    }


def fills_page(conn: Connection, where: Any, cursor: int, limit: int) -> Paged[FillOut]:
    rows = conn.execute(select(fills).where(where, fills.c.id > cursor).order_by(fills.c.id).limit(limit)).all()
    statuses = _batch_statuses(conn, {r.batch_sequence for r in rows if r.batch_sequence is not None})
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
        where: Any = fills.c.venue == venue
        if status == "pending":
            where = where & fills.c.batch_sequence.is_(None)
        elif status == "included":
            where = where & fills.c.batch_sequence.is_not(None)
        return fills_page(conn, where, page.cursor, page.limit)


def proof_of(conn: Connection, svc: Services, r: Any) -> ProofOut | None:
    if r.batch_sequence is None:
        return None
    b = conn.execute(
        select(batches.c.status, batches.c.tx_hash, batches.c.block_number, batches.c.payload).where(
            batches.c.sequence == r.batch_sequence
        )
    ).one()
    tree = svc.proofs.tree(conn, r.batch_sequence)
    leaf = bytes(r.leaf)
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
        tx_hash=None if b.tx_hash is None else "0x" + bytes(b.tx_hash).hex(),
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
        r = conn.execute(select(fills).where(fills.c.venue == venue, fills.c.venue_fill_id == venue_fill_id)).first()
        if r is None or s.address not in (r.buyer_address, r.seller_address):
            require_venue_reader(conn, svc, s, venue)
        if r is None:
            raise not_found("unknown_fill", f"{venue}/{venue_fill_id}")
        statuses = _batch_statuses(conn, {r.batch_sequence} if r.batch_sequence is not None else set())
        return FillStatusOut(
            fill=fill_out(r, statuses.get(r.batch_sequence) if r.batch_sequence is not None else None),
            proof=proof_of(conn, svc, r),
        )
