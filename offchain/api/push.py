"""Push: what changed for a member or a venue since a cursor, read from the ledger.

One reader (`member_events`, `venue_events`) feeds both push channels, the WebSocket stream
(`GET /v1/stream`, routes/stream.py) and signed webhooks (`WebhookDispatcher`), so they tell the same
story. A cursor is the last id seen per source table; every API process can serve any client, since the
ledger is the only state. Event kinds:

* member: `fill` (a fill of the member stored), `margin_call` (issue, raise, cure or default of a call:
  amount, cure deadline, equity, IM, MM), `positions` (the member's netted positions after each
  confirmed batch), `default` (a default declared), `exit_closeout` (the engine started closing out the
  member's book by auction, its exit request having been open for the close-out delay while it kept positions:
  offchain/defaults/closeout.py; the same cursor as defaults), `withdrawal` (a withdrawal of the member requested,
  approved, executed, cancelled, vetoed or recalled: read from the vault's events when the API has a
  chain; the cursor's `block` is the last block read);
* venue: `ack` (a fill of the venue stored, with its ledger id), `settlement` (a confirmed batch that
  settles fills of the venue: sequence, tx hash, fillsRoot, how many of the venue's fills).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import threading
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import httpx
import orjson

from offchain.api.errors import ApiError
from offchain.ledger import webhooks_store
from offchain.ledger.handles import Connection, Engine
from offchain.ledger.views import batches, defaults, fills, margin, positions

Event = dict[str, Any]


class WithdrawalFeed(Protocol):
    """Where withdrawal events come from (the API's chain gateway: offchain/api/chain.py)."""

    def block_number(self) -> int: ...
    def withdrawal_events(self, account: int, after_block: int) -> tuple[list[Event], int]: ...


@dataclass
class Cursor:
    fill: int = 0
    margin_call: int = 0
    default: int = 0
    batch: int = 0
    block: int = 0  # the last chain block whose withdrawal events were delivered

    @classmethod
    def now(cls, conn: Connection, feed: WithdrawalFeed | None = None) -> Cursor:
        """The cursor of "from now on": the latest id of every source (and the chain's tip, with a feed;
        with the chain down, 0: the first poll that reaches it delivers the account's whole history)."""
        block = 0
        if feed is not None:
            with contextlib.suppress(ApiError):
                block = feed.block_number()
        return cls(
            fill=fills.last_fill_id(conn),
            margin_call=margin.last_margin_call_id(conn),
            default=defaults.last_default_id(conn),
            batch=batches.last_confirmed_sequence(conn),
            block=block,
        )

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def member_events(
    conn: Connection, account: int, cursor: Cursor, limit: int = 500, feed: WithdrawalFeed | None = None
) -> tuple[list[Event], Cursor]:
    """The member's events after `cursor`, oldest first per kind, and the cursor after them. With a
    `feed`, also its withdrawals' events (none this round while the chain is unavailable: the cursor's
    block stays, so they come with a later poll)."""
    out: list[Event] = []
    for r in fills.member_fills_since(conn, account, cursor.fill, limit):
        out.append(
            {
                "type": "fill",
                "fill_id": r.id,
                "venue": r.venue,
                "venue_fill_id": r.venue_fill_id,
                "instrument": r.instrument,
                "side": "buy" if r.buyer == account else "sell",
                "qty": str(r.qty),
                "price": str(r.price),
                "ts": r.ts_ms,
            }
        )
        cursor.fill = r.id
    for m in margin.margin_calls_since(conn, account, cursor.margin_call, limit):
        out.append(
            {
                "type": "margin_call",
                "id": m.id,
                "verdict": m.verdict,
                "amount": str(m.amount),
                "deadline": m.deadline,
                "deep": m.deep,
                "cured": m.verdict == "cure",
                "equity": str(m.equity),
                "im": str(m.im),
                "mm": str(m.mm),
                "batch_sequence": m.batch_sequence,
            }
        )
        cursor.margin_call = m.id
    for dr in defaults.defaults_since(conn, account, cursor.default):
        out.append(
            {
                "type": "exit_closeout" if dr.kind == defaults.EXIT_CLOSEOUT_KIND else "default",
                "id": dr.id,
                "status": dr.status,
                "declared_sequence": dr.declared_sequence,
                "declared_at": dr.declared_at,
                "positions": dr.positions,
            }
        )
        cursor.default = dr.id
    confirmed = batches.confirmed_since(conn, cursor.batch)
    if confirmed:
        held = positions.member_netted(conn, account)
        last = confirmed[-1]
        out.append(
            {
                "type": "positions",
                "batch_sequence": last.sequence,
                "netted": {k: str(v) for k, v in sorted(held.items()) if v},
            }
        )
        cursor.batch = last.sequence
    if feed is not None:
        try:
            withdrawals, cursor.block = feed.withdrawal_events(account, cursor.block)
            out.extend(withdrawals)
        except ApiError:
            pass
    return out, cursor


def venue_events(conn: Connection, venue: str, cursor: Cursor, limit: int = 1_000) -> tuple[list[Event], Cursor]:
    """The venue's acknowledgements and settlements after `cursor`."""
    out: list[Event] = []
    for r in fills.venue_fills_since(conn, venue, cursor.fill, limit):
        out.append({"type": "ack", "venue_fill_id": r.venue_fill_id, "fill_id": r.id, "status": "accepted"})
        cursor.fill = r.id
    for b in batches.confirmed_since(conn, cursor.batch):
        n = fills.venue_fill_count_in(conn, venue, b.sequence)
        if n:
            out.append(
                {
                    "type": "settlement",
                    "batch_sequence": b.sequence,
                    "tx_hash": None if b.tx_hash is None else "0x" + b.tx_hash.hex(),
                    "fills_root": "0x" + b.payload["batch"]["fills_root"],
                    "venue_fills": n,
                }
            )
        cursor.batch = b.sequence
    return out, cursor


# ---------------------------------------------------------------- webhooks


def sign_body(secret: str, body: bytes) -> str:
    """The `X-Crossclear-Signature` header: `sha256=` + hex HMAC-SHA256 of the raw body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_secret() -> str:
    return secrets.token_hex(32)


class WebhookDispatcher:
    """Delivers member events to registered webhooks: every `interval_s`, for each webhook, the events
    after its stored cursor are POSTed as one JSON body `{"account", "events": [...]}`, signed with the
    webhook's secret; the cursor moves only after a 2xx (at-least-once: a receiver dedups by event id)."""

    def __init__(
        self, engine: Engine, interval_s: float = 0.5, timeout_s: float = 2.0, feed: WithdrawalFeed | None = None
    ) -> None:
        self.engine = engine
        self.feed = feed
        self.interval_s = interval_s
        self._timeout_s = timeout_s
        self._client = httpx.Client(timeout=timeout_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Deliver in a background thread until `close()` (which a later `start()` undoes)."""
        if self._thread is None:
            if self._client.is_closed:
                self._client = httpx.Client(timeout=self._timeout_s)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.deliver_once()

    def deliver_once(self) -> int:
        """One round over every webhook; how many deliveries succeeded."""
        with self.engine.connect() as conn:
            hooks = webhooks_store.webhooks(conn)
        delivered = 0
        for hook in hooks:
            with self.engine.connect() as conn:
                events, after = member_events(conn, hook.account, Cursor(**hook.cursor), feed=self.feed)
            if not events:
                continue
            body = orjson.dumps({"account": hook.account, "events": events})
            headers = {"content-type": "application/json", "x-crossclear-signature": sign_body(hook.secret, body)}
            try:
                ok = self._client.post(hook.url, content=body, headers=headers).is_success
            except httpx.HTTPError:
                ok = False
            if ok:
                delivered += 1
                with self.engine.begin() as conn:
                    webhooks_store.move_cursor(conn, hook.id, after.as_json())
        return delivered

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._client.close()
