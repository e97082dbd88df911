"""Shared dependencies: the services of one app, sessions, signed requests, rate limits, pagination."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, select

from offchain.api.chain import ChainGateway
from offchain.api.config import ApiSettings
from offchain.api.errors import ApiError, auctions_unavailable, bad_request, forbidden, unauthorized
from offchain.api.models import Auth
from offchain.api.proofs import ProofCache
from offchain.api.ratelimit import TokenBuckets
from offchain.api.sessions import Session, SessionSigner
from offchain.api.signing import Envelope, Verified, check_times, payload_hash, prune_nonces, verify_signature
from offchain.core.eip712 import Domain
from offchain.defaults.house import AuctionHouse
from offchain.ingest.service import Ingestor
from offchain.ledger.schema import members, membership_applications, venues


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Services:
    """Everything a request handler needs, built once per app (no module-level state)."""

    settings: ApiSettings
    engine: Engine
    ingestor: Ingestor
    domain: Domain  # the API request domain
    fills_domain: Domain
    chain: ChainGateway | None
    sessions: SessionSigner
    limits: TokenBuckets
    fill_limits: TokenBuckets
    auctions: AuctionHouse | None = None  # close-out auctions (bids, tranche deadlines); optional
    proofs: ProofCache = field(default_factory=ProofCache)
    clock: Callable[[], int] = wall_ms  # unix ms
    last_nonce_prune_ms: int | None = None
    _prune_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def operator(self) -> str:
        return self.settings.operator_address

    def maybe_prune_nonces(self) -> int | None:
        """Prune expired nonces if the interval has passed since the last pruning in this process (the
        first signed request after start prunes). Returns the rows deleted, or None when not due or
        another thread is at it. Several processes pruning concurrently delete disjoint-or-equal rows:
        harmless."""
        now = self.clock()
        last = self.last_nonce_prune_ms
        if last is not None and now - last < self.settings.nonce_prune_interval_s * 1000:
            return None
        if not self._prune_lock.acquire(blocking=False):
            return None
        try:
            self.last_nonce_prune_ms = now
            with self.engine.begin() as conn:
                return prune_nonces(conn, now - self.settings.nonce_prune_grace_s * 1000)
        finally:
            self._prune_lock.release()


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


def client_key(request: Request) -> str:
    return "ip:" + (request.client.host if request.client else "unknown")


def public_limit(request: Request, svc: ServicesDep) -> None:
    """Anonymous reads: limited per client address."""
    svc.limits.take(client_key(request))


PublicLimit = Depends(public_limit)


def auction_house(svc: ServicesDep) -> AuctionHouse:
    """The auction house, or 424 `auctions_unavailable` when this process runs none."""
    if svc.auctions is None:
        raise auctions_unavailable()
    return svc.auctions


AuctionsDep = Annotated[AuctionHouse, Depends(auction_house)]


# ---------------------------------------------------------------- sessions


def session(request: Request, svc: ServicesDep) -> Session:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("session_required", "send Authorization: Bearer <token> from POST /v1/auth/login")
    s = svc.sessions.read(token.strip(), svc.clock())
    if s is None:
        raise unauthorized("session_invalid", "the token is malformed, forged or expired")
    svc.limits.take("s:" + s.address)
    return s


SessionDep = Annotated[Session, Depends(session)]


# ---------------------------------------------------------------- signed requests


async def signed(request: Request, svc: ServicesDep) -> Verified:
    """Check the `auth` envelope of a signed request against its raw `payload` (the body model was
    validated already). The nonce is spent later, in the handler's own transaction."""
    try:
        body: Any = await request.json()
    except ValueError as exc:
        raise bad_request("invalid_json", str(exc)) from exc
    if not isinstance(body, dict) or not isinstance(body.get("auth"), dict) or "payload" not in body:
        raise bad_request("invalid_request", "a signed request is {payload, auth}")
    try:
        auth = Auth.model_validate(body["auth"])
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", exc.errors(include_url=False, include_context=False)) from exc
    try:
        digest_payload = payload_hash(body["payload"])
    except ValueError as exc:
        raise ApiError(422, "invalid_payload", str(exc)) from exc
    signer = _checksum(auth.signer)
    nonce, expiry = int(auth.nonce), auth.expiry
    svc.limits.take("k:" + signer)
    check_times(expiry, svc.clock() // 1000, svc.settings.max_request_ttl_s)
    action = f"{request.method.upper()} {request.url.path}"
    envelope = Envelope(signer, action, digest_payload, nonce, expiry)
    signature = bytes.fromhex(auth.signature[2:])
    verify_signature(envelope.digest(svc.domain), signer, signature, svc.chain)
    svc.maybe_prune_nonces()
    return Verified(signer, action, nonce, expiry)


SignedDep = Annotated[Verified, Depends(signed)]


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    try:
        return str(to_checksum_address(address))
    except ValueError as exc:
        raise bad_request("invalid_address", address) from exc


def require_operator(svc: Services, address: str) -> None:
    if address != svc.operator:
        raise forbidden("only the operator may do this")


# ---------------------------------------------------------------- who may read what


def member_account_of(conn: Connection, address: str) -> int | None:
    row = conn.execute(select(members.c.account).where(members.c.address == address)).first()
    return None if row is None else int(row.account)


def may_read_member(conn: Connection, svc: Services, address: str, account: int) -> bool:
    """The member itself, the parent of a sub-account, or the operator."""
    if address == svc.operator:
        return True
    own = member_account_of(conn, address)
    if own is None:
        return False
    if own == account:
        return True
    a = membership_applications.c
    parent = conn.execute(
        select(a.parent).where(a.account == account, a.status == "approved", a.parent.is_not(None))
    ).first()
    return parent is not None and int(parent.parent) == own


def require_member_reader(conn: Connection, svc: Services, s: Session, account: int) -> None:
    # Same answer for "not yours" and "does not exist": account numbers are not enumerable this way.
    if not may_read_member(conn, svc, s.address, account):
        raise forbidden("this session may not read that account")


def require_venue_reader(conn: Connection, svc: Services, s: Session, venue: str) -> None:
    if s.address == svc.operator:
        return
    row = conn.execute(select(venues.c.signer).where(venues.c.name == venue)).first()
    if row is None or row.signer != s.address:
        raise forbidden("this session may not read that venue")


# ---------------------------------------------------------------- pagination


@dataclass(frozen=True)
class Page:
    limit: int
    cursor: int  # exclusive lower bound of the id/sequence to start after


def page(
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="items per page (capped by the server's max_page)")] = 100,
    cursor: Annotated[
        int, Query(ge=0, le=2**62, description="`next_cursor` of the previous page (start after this id)")
    ] = 0,
) -> Page:
    return Page(min(limit, svc.settings.max_page), cursor)


PageDep = Annotated[Page, Depends(page)]
