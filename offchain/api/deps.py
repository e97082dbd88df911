"""Shared dependencies: the services of one app, sessions, signed requests, rate limits, pagination."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Depends, Query, Request
from pydantic import ValidationError

from offchain.api.chain import ChainGateway, GuardedChain
from offchain.api.config import ApiSettings
from offchain.api.counters import RefusalCounter
from offchain.api.errors import ApiError, auctions_unavailable, bad_request, forbidden, unauthorized
from offchain.api.models import Auth
from offchain.api.proofs import ProofCache
from offchain.api.ratelimit import TokenBuckets
from offchain.api.revocation import is_revoked, prune_revoked
from offchain.api.sessions import Session, SessionSigner
from offchain.api.signing import (
    Envelope,
    Verified,
    check_times,
    ecdsa_signed,
    payload_hash,
    prune_nonces,
    verify_signature,
)
from offchain.core.eip712 import Domain
from offchain.defaults.house import AuctionHouse
from offchain.ingest.coalesce import Coalescer
from offchain.ingest.service import Ingestor
from offchain.ledger.handles import Connection, Engine
from offchain.ledger.views import members


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Services:
    """Everything a request handler needs, built once per app (no module-level state)."""

    settings: ApiSettings
    engine: Engine
    ingestor: Ingestor
    coalescer: Coalescer  # group commit of concurrent single fills
    domain: Domain  # the API request domain
    fills_domain: Domain
    chain: ChainGateway | None
    sessions: SessionSigner
    limits: TokenBuckets
    fill_limits: TokenBuckets
    ip_limits: TokenBuckets  # per source address, charged before any authentication work
    auctions: AuctionHouse | None = None  # close-out auctions (bids, tranche deadlines); optional
    proofs: ProofCache = field(default_factory=ProofCache)
    refusals: RefusalCounter = field(default_factory=RefusalCounter)  # unauthenticated refusals, in memory
    clock: Callable[[], int] = wall_ms  # unix ms
    last_nonce_prune_ms: int | None = None
    _prune_lock: threading.Lock = field(default_factory=threading.Lock)
    _chain_limiter: CapacityLimiter | None = None
    _health_limiter: CapacityLimiter | None = None

    @property
    def operator(self) -> str:
        return self.settings.operator_address

    def chain_limiter(self) -> CapacityLimiter:
        """The worker threads async code may block on the chain with (EIP-1271 checks): a pool of its
        own, so a slow RPC cannot take the threads every other request runs in."""
        if self._chain_limiter is None:
            self._chain_limiter = CapacityLimiter(self.settings.chain_max_concurrent)
        return self._chain_limiter

    def health_limiter(self) -> CapacityLimiter:
        """Two threads of its own: `/v1/health` answers even when every shared worker thread is busy."""
        if self._health_limiter is None:
            self._health_limiter = CapacityLimiter(2)
        return self._health_limiter

    def chain_state(self) -> Literal["none", "closed", "open", "half_open"]:
        """none (no chain configured), closed (calls go through), open or half_open (the circuit breaker)."""
        if self.chain is None:
            return "none"
        return self.chain.breaker.state if isinstance(self.chain, GuardedChain) else "closed"

    def prune_due(self) -> bool:
        last = self.last_nonce_prune_ms
        return last is None or self.clock() - last >= self.settings.nonce_prune_interval_s * 1000

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
                prune_revoked(conn, now - self.settings.nonce_prune_grace_s * 1000)
                return prune_nonces(conn, now - self.settings.nonce_prune_grace_s * 1000)
        finally:
            self._prune_lock.release()


# The trivial dependencies are `async`: FastAPI runs a sync dependency in a worker thread, and a request
# that only needs these (health) must not wait for one.
async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


def client_key(request: Request) -> str:
    return "ip:" + (request.client.host if request.client else "unknown")


async def public_limit(request: Request, svc: ServicesDep) -> None:
    """Anonymous reads: limited per client address."""
    svc.limits.take(client_key(request))


PublicLimit = Depends(public_limit)


async def auction_house(svc: ServicesDep) -> AuctionHouse:
    """The auction house, or 424 `auctions_unavailable` when this process runs none."""
    if svc.auctions is None:
        raise auctions_unavailable()
    return svc.auctions


AuctionsDep = Annotated[AuctionHouse, Depends(auction_house)]


# ---------------------------------------------------------------- sessions


def session(request: Request, svc: ServicesDep) -> Session:
    """The bearer session: charged to the source address first, to the session's address once the token's
    MAC, expiry and revocation have been checked."""
    svc.ip_limits.take(client_key(request))
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("session_required", "send Authorization: Bearer <token> from POST /v1/auth/login")
    s = svc.sessions.read(token.strip(), svc.clock())
    if s is None:
        svc.refusals.add("session_invalid")
        raise unauthorized("session_invalid", "the token is malformed, forged or expired")
    with svc.engine.connect() as conn:
        revoked = is_revoked(conn, s)
    if revoked:
        raise unauthorized("session_revoked", "this token was revoked (logout or POST /v1/auth/revoke)")
    svc.limits.take("s:" + s.address)
    return s


SessionDep = Annotated[Session, Depends(session)]


# ---------------------------------------------------------------- signed requests


def _refused(svc: Services, exc: ApiError) -> ApiError:
    svc.refusals.add(exc.code)
    return exc


async def signed(request: Request, svc: ServicesDep) -> Verified:
    """Check the `auth` envelope of a signed request against its raw `payload` (the body model was
    validated already). The nonce is spent later, in the handler's own transaction.

    Rate limits: the source address pays before any work; the signer's own bucket only once the
    signature has proven it (forged requests in a victim's name cannot drain the victim's bucket).
    An EIP-1271 check calls the chain, in the chain's own bounded worker pool, never on the event loop."""
    svc.ip_limits.take(client_key(request))
    try:
        body: Any = await request.json()
    except ValueError as exc:
        raise bad_request("invalid_json", str(exc)) from exc
    if not isinstance(body, dict) or not isinstance(body.get("auth"), dict) or "payload" not in body:
        raise bad_request("invalid_request", "a signed request is {payload, auth}")
    try:
        auth = Auth.model_validate(body["auth"])
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", errors=[dict(e) for e in exc.errors(include_url=False)]) from exc
    try:
        digest_payload = payload_hash(body["payload"])
    except ValueError as exc:
        raise ApiError(422, "invalid_payload", str(exc)) from exc
    signer = _checksum(auth.signer)
    nonce, expiry = int(auth.nonce), auth.expiry
    try:
        check_times(expiry, svc.clock() // 1000, svc.settings.max_request_ttl_s)
    except ApiError as exc:
        raise _refused(svc, exc) from None
    action = f"{request.method.upper()} {request.url.path}"
    digest = Envelope(signer, action, digest_payload, nonce, expiry).digest(svc.domain)
    signature = bytes.fromhex(auth.signature[2:])
    if not ecdsa_signed(digest, signer, signature):
        try:
            await anyio.to_thread.run_sync(
                verify_signature, digest, signer, signature, svc.chain, limiter=svc.chain_limiter()
            )
        except ApiError as exc:
            raise _refused(svc, exc) from None
    svc.limits.take("k:" + signer)
    if svc.prune_due():
        await anyio.to_thread.run_sync(svc.maybe_prune_nonces)
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
    return members.account_of(conn, address)


def may_read_member(conn: Connection, svc: Services, address: str, account: int) -> bool:
    """The member itself, the parent of a sub-account, or the operator."""
    if address == svc.operator:
        return True
    own = member_account_of(conn, address)
    if own is None:
        return False
    if own == account:
        return True
    parent = members.approved_parent(conn, account)
    return parent is not None and parent == own


def require_member_reader(conn: Connection, svc: Services, s: Session, account: int) -> None:
    # Same answer for "not yours" and "does not exist": account numbers are not enumerable this way.
    if not may_read_member(conn, svc, s.address, account):
        raise forbidden("this session may not read that account")


def require_venue_reader(conn: Connection, svc: Services, s: Session, venue: str) -> None:
    if s.address == svc.operator:
        return
    row = members.venue(conn, venue)
    if row is None or row.signer != s.address:
        raise forbidden("this session may not read that venue")


# ---------------------------------------------------------------- pagination


@dataclass(frozen=True)
class Page:
    limit: int
    cursor: int  # exclusive lower bound of the id/sequence to start after


async def page(
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="items per page (capped by the server's max_page)")] = 100,
    cursor: Annotated[
        int, Query(ge=0, le=2**62, description="`next_cursor` of the previous page (start after this id)")
    ] = 0,
) -> Page:
    return Page(min(limit, svc.settings.max_page), cursor)


PageDep = Annotated[Page, Depends(page)]
