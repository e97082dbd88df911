"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from eth_utils import to_checksum_address
from fastapi import APIRouter, FastAPI

from offchain.api import errors
from offchain.api.bodyguard import BodyGuard, restore_recursion_limit
from offchain.api.chain import ChainGateway, CircuitBreaker, GuardedChain
from offchain.api.config import ApiSettings
from offchain.api.deps import Services, wall_ms
from offchain.api.push import WebhookDispatcher
from offchain.api.ratelimit import TokenBuckets
from offchain.api.routes import auctions, auth, members, membership, public, stream, venues
from offchain.api.sessions import SessionSigner
from offchain.api.signing import api_domain
from offchain.core.fills import fills_domain
from offchain.defaults.house import AuctionHouse
from offchain.ingest.coalesce import Coalescer
from offchain.ingest.limits import PositionLimit
from offchain.ingest.recovery import default_workers
from offchain.ingest.service import Ingestor
from offchain.ledger.db import open_ledger
from offchain.ledger.handles import Engine

DESCRIPTION = """Cross-venue clearing API.

* **Signed requests** (everything that changes state): body `{"payload": ..., "auth": {signer, nonce,
  expiry, signature}}`, an EIP-712 `ApiRequest` under the domain ("crossclear API", "1", chainId, vault);
  see `GET /v1/signing`. Fills carry the venue's EIP-712 `Fill` signature instead; auction bids the
  bidder's `Bid` signature (member keys only); withdrawals the vault's `WithdrawalRequest` signature.
  EIP-1271 contract accounts are accepted.
* **Sessions** (private reads): `POST /v1/auth/login` (signed) returns a bearer token.
* **Errors**: `{"error": code, "detail": sentence, "errors": [{loc, msg, type}], "bid_id": null}` with a
  4xx status (`errors` lists invalid fields of `invalid_request`); 424 when the chain is needed and down.
* **Limits**: bodies up to `max_body_bytes` (413 `payload_too_large`) nested at most `max_json_depth` levels
  (400 `too_deep`); token buckets per source address before authentication and per key after it (429
  `rate_limited`, Retry-After); lists are paginated by `cursor` (`next_cursor` null on the last page).
"""


def create_app(
    settings: ApiSettings,
    *,
    engine: Engine | None = None,
    chain: ChainGateway | None = None,
    clock: Callable[[], int] = wall_ms,
    auction_house: Callable[[Engine, Ingestor], AuctionHouse] | None = None,
    position_limit: PositionLimit | None = None,
) -> FastAPI:
    """Build the app. `engine` defaults to `open_ledger(settings.db_url)`; `chain` (withdrawals,
    EIP-1271, default fund from chain) is optional; so is `auction_house`, which builds the auction house
    (`/v1/auctions`) over the app's ledger and ingestor, and `position_limit`, the risk engine's check
    that ingest applies to every fill (`RiskEngineMargin.position_limit`: `POSITION_LIMIT` refusals)."""
    settings = settings.model_copy(update={"operator_address": to_checksum_address(settings.operator_address)})
    restore_recursion_limit()  # py_ecc raised it at import; a deep body must not overflow the C stack
    engine = engine or open_ledger(settings.db_url)
    if chain is not None and not isinstance(chain, GuardedChain):
        breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_open_s)
        chain = GuardedChain(chain, breaker, settings.chain_max_concurrent, settings.chain_queue_s)
    fdomain = fills_domain(settings.chain_id, settings.vault)
    workers = default_workers() if settings.ingest_workers is None else settings.ingest_workers
    ingestor = Ingestor(engine, fdomain, clock=clock, recovery_workers=workers, position_limit=position_limit)
    coalescer = Coalescer(ingestor, max_batch=settings.max_bulk)
    svc = Services(
        settings=settings,
        engine=engine,
        ingestor=ingestor,
        coalescer=coalescer,
        domain=api_domain(settings.chain_id, settings.vault),
        fills_domain=fdomain,
        chain=chain,
        sessions=SessionSigner(settings.session_secret.get_secret_value().encode()),
        limits=TokenBuckets(settings.rate_per_s, settings.burst),
        fill_limits=TokenBuckets(settings.fill_rate_per_s, settings.fill_burst),
        ip_limits=TokenBuckets(settings.ip_rate_per_s, settings.ip_burst),
        clock=clock,
        auctions=None if auction_house is None else auction_house(engine, ingestor),
    )

    webhooks = WebhookDispatcher(engine, settings.webhook_interval_ms / 1000, feed=chain)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        webhooks.start()
        yield
        webhooks.close()
        coalescer.close()
        ingestor.close()  # the signature-recovery workers, if a big bulk started them

    app = FastAPI(
        # The API emits no OpenTelemetry. Left on, FastAPI's native telemetry asks the global providers whether
        # they are configured (environment reads) on every request: a tenth of a single fill's CPU.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        lifespan=lifespan,
        title="crossclear",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    app.state.services = svc
    errors.install(app)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    v1 = APIRouter(prefix="/v1")
    for module in (auth, membership, venues, members, public, auctions, stream):
        v1.include_router(module.router)
    app.include_router(v1)
    _document_bulk_limit(app, settings.max_bulk)
    return app


def _document_bulk_limit(app: FastAPI, max_bulk: int) -> None:
    """The schema's `maxItems` of a bulk is this process's `max_bulk` (the handler answers 413 beyond it)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            bulk = schema.get("components", {}).get("schemas", {}).get("BulkFills", {})
            if "properties" in bulk:
                bulk["properties"]["fills"]["maxItems"] = max_bulk
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
