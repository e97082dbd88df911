"""Sessions (signed login → bearer token) and what clients need to sign requests."""

from __future__ import annotations

from fastapi import APIRouter

from offchain.api.deps import ServicesDep, SessionDep, SignedDep, member_account_of
from offchain.api.errors import COMMON_RESPONSES, ErrorBody
from offchain.api.fastjson import FastJsonRoute
from offchain.api.models import LoginPayload, RevokedOut, RevokePayload, SessionOut, Signed, SigningInfo
from offchain.api.revocation import generation_of, revoke_all, revoke_token
from offchain.api.signing import API_REQUEST_TYPE, SUB_ACCOUNT_CONSENT_TYPE, spend_nonce
from offchain.core.eip712 import vault_domain
from offchain.core.fills import FILL_TYPE
from offchain.core.withdrawal import WITHDRAWAL_REQUEST_TYPE
from offchain.ledger.views import members

router = APIRouter(tags=["auth"], responses=COMMON_RESPONSES, route_class=FastJsonRoute)


@router.post(
    "/auth/login",
    response_model=SessionOut,
    responses={401: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    summary="Exchange a signed login request for a bearer session token",
)
def login(body: Signed[LoginPayload], verified: SignedDep, svc: ServicesDep) -> SessionOut:
    """Sign `ApiRequest` for `POST /v1/auth/login` with payload `{"purpose": "login"}`. The token
    expires after `session_ttl_s`; reads of private data send it as `Authorization: Bearer <token>`."""
    now = svc.clock()
    with svc.engine.begin() as conn:
        spend_nonce(conn, verified, now)
        generation = generation_of(conn, verified.signer)
        roles = []
        if verified.signer == svc.operator:
            roles.append("operator")
        if member_account_of(conn, verified.signer) is not None:
            roles.append("member")
        if members.is_venue_signer(conn, verified.signer):
            roles.append("venue")
    expires = now + svc.settings.session_ttl_s * 1000
    return SessionOut(
        token=svc.sessions.issue(verified.signer, expires, generation),
        address=verified.signer,
        expires_ms=expires,
        roles=roles,
    )


@router.post(
    "/auth/logout",
    response_model=RevokedOut,
    responses={401: {"model": ErrorBody}},
    summary="Revoke the bearer token of this request (every API process refuses it from now on)",
)
def logout(s: SessionDep, svc: ServicesDep) -> RevokedOut:
    with svc.engine.begin() as conn:
        revoke_token(conn, s)
    return RevokedOut(address=s.address, revoked="this_session", generation=s.generation)


@router.post(
    "/auth/revoke",
    response_model=RevokedOut,
    responses={401: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    summary="Revoke every session token of the signer issued so far (signed; e.g. after a token leaked)",
)
def revoke(body: Signed[RevokePayload], verified: SignedDep, svc: ServicesDep) -> RevokedOut:
    """Signed like a login (payload `{"purpose": "revoke_sessions"}`), so a leaked token alone cannot
    revoke its owner's other sessions. Tokens issued afterwards are valid."""
    with svc.engine.begin() as conn:
        spend_nonce(conn, verified, svc.clock())
        generation = revoke_all(conn, verified.signer)
    return RevokedOut(address=verified.signer, revoked="all_sessions", generation=generation)


@router.get("/signing", response_model=SigningInfo, summary="EIP-712 domains and types clients sign")
def signing(svc: ServicesDep) -> SigningInfo:
    s = svc.settings
    return SigningInfo(
        domain=svc.domain.as_json(),
        request_type=API_REQUEST_TYPE,
        fills_domain=svc.fills_domain.as_json(),
        fill_type=FILL_TYPE,
        withdrawal_domain=vault_domain(s.chain_id, s.vault).as_json(),
        withdrawal_type=WITHDRAWAL_REQUEST_TYPE,
        sub_account_consent_type=SUB_ACCOUNT_CONSENT_TYPE,
        canonical_payload="keccak256(UTF-8 JSON of `payload`: sorted keys, separators ',' ':', integers (1.0 as 1))",
    )
