"""Push, not only poll: a WebSocket stream per member or venue, and signed webhooks for members.

`GET /v1/stream` (WebSocket) with the session token in `?token=` (browsers cannot set headers) or in
`Authorization: Bearer`: the session's member account by default, `?account=N` for a sub-account or (the
operator) anyone, `?venue=NAME` for a venue's stream. Each message is one JSON event (offchain/api/push.py);
the server polls the ledger every `stream_poll_ms` and checks the session (expiry, revocation) each time,
closing with 4401 when it no longer holds. Webhooks: `POST /v1/members/{account}/webhooks` (signed by
the member) registers a URL; events arrive as signed POSTs (`X-Crossclear-Signature`).
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Path, Query, WebSocket, WebSocketDisconnect

from offchain.api.deps import (
    ServicesDep,
    SignedDep,
    may_read_member,
    member_account_of,
)
from offchain.api.errors import COMMON_RESPONSES, ApiError, ErrorBody, forbidden, not_found
from offchain.api.fastjson import FastJsonRoute
from offchain.api.models import Signed, WebhookIn, WebhookOut
from offchain.api.push import Cursor, member_events, new_secret, venue_events
from offchain.api.revocation import is_revoked
from offchain.api.sessions import Session
from offchain.api.signing import spend_nonce
from offchain.ledger import webhooks_store
from offchain.ledger.views import members

router = APIRouter(tags=["push"], responses=COMMON_RESPONSES, route_class=FastJsonRoute)
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
}
_POLICY_VIOLATION = 4401  # the session is missing, invalid, expired or revoked
_FORBIDDEN = 4403


@router.post(
    "/members/{account}/webhooks",
    status_code=201,
    response_model=WebhookOut,
    responses=_ERRORS,
    summary="Register a webhook for the member's events (signed by the member); the secret is shown once",
)
def add_webhook(
    account: Annotated[int, Path(ge=0, le=2**32 - 1)], body: Signed[WebhookIn], verified: SignedDep, svc: ServicesDep
) -> WebhookOut:
    """Events after registration are POSTed to `url` as `{"account", "events": [...]}` with
    `X-Crossclear-Signature: sha256=<hex HMAC-SHA256 of the body under secret>`; a non-2xx answer is
    retried on the next round (at-least-once: deduplicate by the events' ids)."""
    now = svc.clock()
    secret = new_secret()
    with svc.engine.begin() as conn:
        owner = members.address_of(conn, account)
        if owner is None:
            raise not_found("unknown_member", account)
        if owner != verified.signer:
            raise forbidden("only the member itself may register its webhooks")
        spend_nonce(conn, verified, now)
        start = Cursor.now(conn, svc.chain).as_json()
        hook_id = webhooks_store.register(conn, account, body.payload.url, secret, start, now)
        if hook_id is None:
            raise ApiError(409, "webhook_exists", "this URL is registered for the account already")
    return WebhookOut(id=hook_id, account=account, url=body.payload.url, secret=secret)


def _session_of(websocket: WebSocket, token: str | None, svc: Any) -> Session | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    raw = token or (bearer.strip() if scheme.lower() == "bearer" else "")
    return svc.sessions.read(raw, svc.clock()) if raw else None


@router.websocket("/stream")
async def stream(
    websocket: WebSocket,
    token: Annotated[str | None, Query(max_length=512)] = None,
    account: Annotated[int | None, Query(ge=0, le=2**32 - 1)] = None,
    venue: Annotated[str | None, Query(pattern=r"^[!-~]{1,64}$")] = None,
) -> None:
    svc = websocket.app.state.services
    s = _session_of(websocket, token, svc)
    if s is None:
        svc.refusals.add("session_invalid")
        await websocket.close(_POLICY_VIOLATION, "session required (token= or Authorization: Bearer)")
        return

    def authorise() -> tuple[str, Any, Cursor] | None:
        with svc.engine.connect() as conn:
            if is_revoked(conn, s):
                return None
            if venue is not None:
                known = members.venue(conn, venue)
                if known is None or (known.signer != s.address and s.address != svc.operator):
                    return ("forbidden", None, Cursor())
                return ("venue", venue, Cursor.now(conn))
            target = account if account is not None else member_account_of(conn, s.address)
            if target is None or not may_read_member(conn, svc, s.address, target):
                return ("forbidden", None, Cursor())
            return ("member", target, Cursor.now(conn, svc.chain))

    granted = await anyio.to_thread.run_sync(authorise)
    if granted is None:
        await websocket.close(_POLICY_VIOLATION, "session revoked")
        return
    kind, subject, cursor = granted
    if kind == "forbidden":
        await websocket.close(_FORBIDDEN, "this session may not read that stream")
        return
    await websocket.accept()
    await websocket.send_json({"type": "hello", "stream": kind, "subject": subject, "cursor": cursor.as_json()})

    def poll(c: Cursor) -> tuple[list[dict[str, Any]], Cursor] | None:
        if s.expires_ms <= svc.clock():
            return None
        with svc.engine.connect() as conn:
            if is_revoked(conn, s):
                return None
            if kind == "venue":
                return venue_events(conn, subject, c)
            return member_events(conn, subject, c, feed=svc.chain)

    interval = svc.settings.stream_poll_ms / 1000
    try:
        while True:
            polled = await anyio.to_thread.run_sync(poll, cursor)
            if polled is None:
                await websocket.close(_POLICY_VIOLATION, "session expired or revoked")
                return
            events, cursor = polled
            for event in events:
                await websocket.send_json(event)
            with anyio.move_on_after(interval):
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
    except WebSocketDisconnect:
        return
