"""Close-out auctions of defaulted members (docs/defaults.md §2): the tranches on offer and members' bids.

A bid carries its own EIP-712 `Bid` signature (the bidder's member key, domain `EIP712("crossclear
Auctions", "1")`), like a venue's fill: no `ApiRequest` envelope. It goes to `AuctionHouse.submit_bid`;
every refusal is a 4xx whose `error` is the house's reason in lower case. Without an auction house in this
API process both routes answer 424 `auctions_unavailable`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from offchain.api.chain import TRANSPORT_ERRORS
from offchain.api.deps import AuctionsDep, PageDep, PublicLimit, ServicesDep, client_key
from offchain.api.errors import COMMON_RESPONSES, ApiError, ErrorBody, chain_unavailable
from offchain.api.fastjson import FastJsonRoute
from offchain.api.models import (
    AwardOut,
    BidAckOut,
    SignedBid,
    TrancheOut,
    TrancheResultOut,
    TranchesOut,
)
from offchain.core.batch import BPS
from offchain.core.bid import Bid
from offchain.defaults.auction import BidRefusal
from offchain.defaults.house import NO_OPEN_TRANCHE, AuctionHouse
from offchain.ledger.handles import Connection
from offchain.ledger.views import defaults
from offchain.ledger.views.defaults import TrancheRow

router = APIRouter(prefix="/auctions", tags=["auctions"], responses=COMMON_RESPONSES, route_class=FastJsonRoute)
_ERRORS: dict[int | str, dict[str, Any]] = {424: {"model": ErrorBody, "description": "`auctions_unavailable`"}}
_BID_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    401: {"model": ErrorBody, "description": "`bad_signature`"},
    403: {"model": ErrorBody, "description": "`not_eligible`: not an active member permitted on the instrument"},
    404: {"model": ErrorBody, "description": "`no_open_tranche`: no such tranche"},
    409: {
        "model": ErrorBody,
        "description": "the tranche's state refuses the bid: `no_open_tranche` (cleared), `wrong_side`, `expired`"
        " (chain clock) or `out_of_band` (the detail gives the band)",
    },
    422: {"model": ErrorBody, "description": "`invalid_request`"},
}
_SQL_INT32_MAX = 2**31 - 1  # default ids and tranche numbers are INTEGER columns
_TRANCHE_SHIFT = 2**32  # cursor = default_id * 2**32 + tranche


def _band(mark: int, band_bps: int) -> tuple[int, int]:
    """The lowest and highest prices `in_band` accepts: |price - mark| * BPS <= band_bps * mark."""
    width = band_bps * mark // BPS
    return mark - width, mark + width


def _tranche_out(conn: Connection, house: AuctionHouse, r: TrancheRow) -> TrancheOut:
    low, high = _band(r.mark, house.params.band_bps)
    result = None
    if r.status == "cleared":
        sign = -1 if r.defaulter_sells else 1
        won = sorted(  # as the house orders them
            defaults.won_bids(conn, r.default_id, r.tranche), key=lambda b: (sign * b.price, -b.qty, b.id)
        )
        result = TrancheResultOut(
            bid_qty=str(r.bid_qty or 0),
            residual_qty=str(r.residual_qty or 0),
            residual_price=None if r.residual_price is None else str(r.residual_price),
            awards=[AwardOut(bidder=b.bidder, qty=str(b.filled_qty), price=str(b.price)) for b in won],
        )
    return TrancheOut(
        default_id=r.default_id,
        tranche=r.tranche,
        defaulter=r.defaulter,
        instrument=r.instrument,
        qty=str(r.qty),
        side="sell" if r.defaulter_sells else "buy",
        mark=str(r.mark),
        band_low=str(max(low, 0)),
        band_high=str(high),
        opened_at=r.opened_at,
        deadline=r.opened_at + house.params.interval_s,
        status=r.status,
        result=result,
    )


@router.get(
    "",
    response_model=TranchesOut,
    responses=_ERRORS,
    dependencies=[PublicLimit],
    summary="Auction tranches of defaulted members, open and cleared (oldest first), with results once cleared",
)
def list_tranches(
    svc: ServicesDep,
    house: AuctionsDep,
    page: PageDep,
    status: Annotated[str | None, Query(pattern="^(open|cleared)$", description="only open or cleared")] = None,
    default_id: Annotated[int | None, Query(ge=1, le=_SQL_INT32_MAX, description="one default's tranches")] = None,
) -> TranchesOut:
    after_default, after_tranche = divmod(page.cursor, _TRANCHE_SHIFT)
    with svc.engine.connect() as conn:
        rows = defaults.tranches_page(conn, after_default, after_tranche, page.limit, status, default_id)
        items = [_tranche_out(conn, house, r) for r in rows]
    last = items[-1] if len(items) == page.limit else None
    return TranchesOut(
        items=items, next_cursor=None if last is None else last.default_id * _TRANCHE_SHIFT + last.tranche
    )


def _refusal(house: AuctionHouse, bid: Bid, reason: str, bid_id: int | None) -> ApiError:
    # A well-formed, signed bid that the tranche's state refuses (its side, the chain's clock, its band) is a
    # 409, not a 422: the same bid is fine against another tranche or earlier; only its shape is the schema's.
    status, message = 409, reason
    if reason == BidRefusal.BAD_SIGNATURE:
        status, message = 401, "the signature is not the bidder's over this Bid (auctions domain)"
    elif reason == BidRefusal.NOT_ELIGIBLE:
        status, message = 403, "the bidder is not an active member permitted on the instrument (nor the defaulter)"
    elif reason == BidRefusal.WRONG_SIDE:
        message = "`buy` must be the defaulter's opposite side"
    elif reason == BidRefusal.EXPIRED:
        message = "the bid's expiry has passed (chain seconds)"
    elif reason == NO_OPEN_TRANCHE:
        status, message = 404, f"no tranche {bid.tranche} of auction {bid.auction} for {bid.instrument}"
        with house.db.connect() as conn:
            row = defaults.tranche_state(conn, bid.auction, bid.tranche)
        if row is not None and row.instrument == bid.instrument and row.status != "open":
            status, message = 409, f"tranche {bid.tranche} of auction {bid.auction} has cleared"
    elif reason == BidRefusal.OUT_OF_BAND:
        message = "the price is outside the band around the tranche's mark"
        with house.db.connect() as conn:
            state = defaults.tranche_state(conn, bid.auction, bid.tranche)
        if state is not None:
            low, high = _band(state.mark, house.params.band_bps)
            message += f" ({max(low, 0)}..{high})"
    return ApiError(status, reason.lower(), message, bid_id=bid_id)


@router.post(
    "/bids",
    status_code=201,
    response_model=BidAckOut,
    responses=_BID_ERRORS,
    summary="Bid on an open tranche (EIP-712 Bid signed by the bidder's member key)",
)
def submit_bid(body: SignedBid, svc: ServicesDep, house: AuctionsDep, request: Request) -> BidAckOut:
    """Accepted bids are stored and judged at the tranche's deadline. A refused bid answers with the house's
    reason; `detail.bid_id` is set when the house stored it anyway (with the refusal as its outcome)."""
    b = body.bid
    try:
        bid = Bid(
            auction=b.auction,
            tranche=b.tranche,
            instrument=b.instrument,
            buy=b.buy,
            qty=int(b.qty),
            price=int(b.price),
            bidder=b.bidder,
            expiry=b.expiry,
        )
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", errors=[dict(e) for e in exc.errors(include_url=False)]) from exc
    svc.ip_limits.take(client_key(request))  # the source address pays before the signature is checked
    signature = bytes.fromhex(body.signature[2:])
    if not bid.verify(signature, house.domain):
        svc.refusals.add("bad_signature")
        raise _refusal(house, bid, BidRefusal.BAD_SIGNATURE, None)
    svc.fill_limits.take("b:" + bid.bidder)  # the bidder's own bucket, now that the bid is its own
    if bid.auction > _SQL_INT32_MAX or bid.tranche > _SQL_INT32_MAX:  # no such tranche can be stored
        raise ApiError(404, NO_OPEN_TRANCHE.lower(), "no such tranche")
    try:
        ack = house.submit_bid(bid, signature)
    except TRANSPORT_ERRORS as exc:  # the house reads the chain's clock
        raise chain_unavailable(str(exc)) from exc
    if not ack.accepted or ack.bid_id is None:
        raise _refusal(house, bid, ack.reason or "refused", ack.bid_id)
    return BidAckOut(bid_id=ack.bid_id, status="accepted")
