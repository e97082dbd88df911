"""Direct admission with a risk tier: apply (signed by the applicant), approve or reject (signed by the operator)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from offchain.api.deps import PageDep, ServicesDep, SessionDep, SignedDep, require_operator
from offchain.api.errors import COMMON_RESPONSES, ApiError, ErrorBody, conflict, forbidden, not_found
from offchain.api.fastjson import FastJsonRoute
from offchain.api.models import (
    ApplicationOut,
    ApplyPayload,
    ApprovePayload,
    Paged,
    RejectPayload,
    Signed,
    TierOut,
)
from offchain.api.signing import Verified, spend_nonce
from offchain.ingest import registry
from offchain.ingest.errors import RegistryError
from offchain.ledger import membership_store
from offchain.ledger.handles import Connection
from offchain.ledger.views import instruments, members
from offchain.ledger.views.members import ApplicationRow
from offchain.risk.tiers import DEFAULT_TIERS

router = APIRouter(prefix="/membership", tags=["membership"], responses=COMMON_RESPONSES, route_class=FastJsonRoute)
ApplicationId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
}
TIER_NAMES = frozenset(t.name for t in DEFAULT_TIERS)


def application_out(r: ApplicationRow) -> ApplicationOut:
    return ApplicationOut(
        id=r.id,
        address=r.address,
        name=r.name,
        kind=r.kind,
        tier=r.tier,
        group=r.group_name,
        parent=r.parent,
        status=r.status,
        account=r.account,
        note=r.note,
        created_ms=r.created_ms,
        decided_ms=r.decided_ms,
    )


def check_tier(tier: str) -> None:
    if tier not in TIER_NAMES:
        raise ApiError(422, "unknown_tier", f"tier must be one of {sorted(TIER_NAMES)}")


def create_application(
    conn: Connection,
    verified: Verified,
    now: int,
    address: str,
    name: str,
    kind: str,
    tier: str,
    group: str,
    parent: int | None,
) -> ApplicationOut:
    if members.account_of(conn, address) is not None:
        raise conflict("already_member", f"{address} is a member already")
    spend_nonce(conn, verified, now)
    # The partial unique index (one pending application per address) decides between concurrent
    # applications; the loser's transaction, nonce included, rolls back.
    if not membership_store.insert_pending_application(conn, address, name, kind, tier, group, parent, now):
        raise conflict("application_pending", f"{address} has a pending application")
    return application_out(members.stored_pending_application(conn, address))


@router.get("/tiers", response_model=list[TierOut], summary="Risk tiers: IM multiplier, position limits, DF share")
def tiers() -> list[TierOut]:
    return [TierOut(**t.__dict__) for t in DEFAULT_TIERS]


@router.post(
    "/applications",
    status_code=201,
    response_model=ApplicationOut,
    responses=_ERRORS,
    summary="Apply for direct membership (signed by the applicant's address; EIP-1271 for contract accounts)",
)
def apply(body: Signed[ApplyPayload], verified: SignedDep, svc: ServicesDep) -> ApplicationOut:
    p = body.payload
    check_tier(p.tier)
    with svc.engine.begin() as conn:
        return create_application(conn, verified, svc.clock(), verified.signer, p.name, p.kind, p.tier, p.group, None)


@router.get(
    "/applications",
    response_model=Paged[ApplicationOut],
    responses=_ERRORS,
    summary="Applications (operator: all; anyone else: their own)",
)
def list_applications(
    s: SessionDep,
    svc: ServicesDep,
    page: PageDep,
    status: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = None,
) -> Paged[ApplicationOut]:
    with svc.engine.connect() as conn:
        rows = members.applications_page(
            conn, page.cursor, page.limit, address=None if s.address == svc.operator else s.address, status=status
        )
    items = [application_out(r) for r in rows]
    return Paged(items=items, next_cursor=items[-1].id if len(items) == page.limit else None)


@router.get("/applications/{application_id}", response_model=ApplicationOut, responses=_ERRORS)
def get_application(application_id: ApplicationId, s: SessionDep, svc: ServicesDep) -> ApplicationOut:
    with svc.engine.connect() as conn:
        row = members.application(conn, application_id)
        allowed = row is not None and (s.address in (svc.operator, row.address) or _is_parent(conn, s.address, row))
    if row is None or not allowed:
        raise not_found("unknown_application", application_id)
    return application_out(row)


def _is_parent(conn: Connection, address: str, row: ApplicationRow) -> bool:
    if row.parent is None:
        return False
    return members.address_of(conn, row.parent) == address


def _pending(conn: Connection, application_id: int) -> ApplicationRow:
    row = members.application(conn, application_id)
    if row is None:
        raise not_found("unknown_application", application_id)
    if row.status != "pending":
        raise conflict("application_decided", f"application {application_id} is {row.status}")
    return row


@router.post(
    "/applications/{application_id}/approve",
    response_model=ApplicationOut,
    responses=_ERRORS,
    summary="Approve an application (operator-signed) once the address is admitted on-chain",
)
def approve(
    application_id: ApplicationId, body: Signed[ApprovePayload], verified: SignedDep, svc: ServicesDep
) -> ApplicationOut:
    """The operator first admits the address on-chain (`Vault.admitMember`, which assigns the account
    number) and then approves here with that number; when the API has a chain connection it checks
    `accountOf(address) == account`. Approval admits the member to the ledger with its tier and grants
    the listed instruments (default: every active one) in one transaction."""
    require_operator(svc, verified.signer)
    p = body.payload
    now = svc.clock()
    with svc.engine.begin() as conn:
        row = _pending(conn, application_id)
        tier = p.tier or row.tier
        check_tier(tier)
        if svc.chain is not None and svc.chain.account_of(row.address) != p.account:
            raise conflict("not_admitted_on_chain", f"the vault's accountOf({row.address}) is not {p.account}")
        spend_nonce(conn, verified, now)
        if p.instruments is None:
            granted = instruments.active_instrument_names(conn)
        else:
            granted = list(dict.fromkeys(p.instruments))
        try:
            registry.admit_member(
                conn, p.account, row.address, row.name, row.kind, tier, row.group_name, created_ms=now
            )
            for name in granted:
                registry.grant(conn, p.account, name)
        except RegistryError as exc:
            raise registry_error(exc) from exc
        _decide(conn, application_id, status="approved", account=p.account, tier=tier, decided_ms=now)
        return application_out(members.stored_application(conn, application_id))


@router.post(
    "/applications/{application_id}/reject",
    response_model=ApplicationOut,
    responses=_ERRORS,
    summary="Reject an application (operator-signed)",
)
def reject(
    application_id: ApplicationId, body: Signed[RejectPayload], verified: SignedDep, svc: ServicesDep
) -> ApplicationOut:
    require_operator(svc, verified.signer)
    now = svc.clock()
    with svc.engine.begin() as conn:
        _pending(conn, application_id)
        spend_nonce(conn, verified, now)
        _decide(conn, application_id, status="rejected", note=body.payload.reason[:256], decided_ms=now)
        return application_out(members.stored_application(conn, application_id))


def _decide(
    conn: Connection,
    application_id: int,
    *,
    status: str,
    decided_ms: int,
    account: int | None = None,
    tier: str | None = None,
    note: str | None = None,
) -> None:
    """Decide a pending application, atomically: an approval and a rejection (or two approvals) racing
    each other cannot both win; the loser's whole transaction rolls back with 409."""
    done = membership_store.decide_pending(
        conn, application_id, status=status, decided_ms=decided_ms, account=account, tier=tier, note=note
    )
    if not done:
        raise conflict("application_decided", f"application {application_id} was decided by a concurrent request")


def registry_error(exc: RegistryError) -> ApiError:
    from offchain.ingest.errors import AlreadyExistsError, NotFoundError

    if isinstance(exc, AlreadyExistsError):
        return conflict("already_exists", str(exc))
    if isinstance(exc, NotFoundError):
        return ApiError(422, "unknown_reference", str(exc))
    return ApiError(422, "invalid_value", str(exc))


__all__ = ["create_application", "forbidden", "router"]
