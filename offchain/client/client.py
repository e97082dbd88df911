"""A typed Python client of the crossclear API (`/v1`), on httpx.

It signs what the API needs signed (venue fills, `ApiRequest` envelopes, a sub-account's consent, the
vault's `WithdrawalRequest`) with keys the caller holds, returns the API's own response models, checks
Merkle proofs itself and reads the push stream. Every route it calls is listed in `ROUTES`, which a test
checks against the server's OpenAPI schema.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from eth_account import Account
from pydantic import BaseModel, TypeAdapter

from offchain.api.models import (
    AckOut,
    ApplicationOut,
    BatchOut,
    FillOut,
    FillStatusOut,
    MarginCallsOut,
    MarginOut,
    PositionsOut,
    PriceOut,
    RevokedOut,
    SessionOut,
    WebhookOut,
    WithdrawalOut,
)
from offchain.api.signing import SubAccountConsent, api_domain, sign_request
from offchain.core.eip712 import Domain, vault_domain
from offchain.core.fills import Fill, fills_domain
from offchain.core.merkle import verify
from offchain.core.withdrawal import WithdrawalRequest
from offchain.errors import CrossclearError

M = TypeVar("M", bound=BaseModel)

# method name -> (HTTP method, path template, response model or None for a list/other)
ROUTES: dict[str, tuple[str, str, type[BaseModel] | None]] = {
    "login": ("POST", "/v1/auth/login", SessionOut),
    "logout": ("POST", "/v1/auth/logout", RevokedOut),
    "revoke_sessions": ("POST", "/v1/auth/revoke", RevokedOut),
    "submit_fill": ("POST", "/v1/venues/{venue}/fills", AckOut),
    "submit_fills": ("POST", "/v1/venues/{venue}/fills/bulk", None),
    "fill_status": ("GET", "/v1/venues/{venue}/fills/{venue_fill_id}", FillStatusOut),
    "batch": ("GET", "/v1/batches/{sequence}", BatchOut),
    "batch_fills": ("GET", "/v1/batches/{sequence}/fills", None),
    "marks": ("GET", "/v1/marks", None),
    "apply": ("POST", "/v1/membership/applications", ApplicationOut),
    "open_sub_account": ("POST", "/v1/members/{account}/sub-accounts", ApplicationOut),
    "margin": ("GET", "/v1/members/{account}/margin", MarginOut),
    "positions": ("GET", "/v1/members/{account}/positions", PositionsOut),
    "margin_calls": ("GET", "/v1/members/{account}/margin-calls", MarginCallsOut),
    "request_withdrawal": ("POST", "/v1/members/{account}/withdrawals", WithdrawalOut),
    "add_webhook": ("POST", "/v1/members/{account}/webhooks", WebhookOut),
}


class CrossclearApiError(CrossclearError):
    """A 4xx answer: `status`, the stable `code` and the `detail` sentence."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Domains:
    api: Domain
    fills: Domain
    vault: Domain


class CrossclearClient:
    """`CrossclearClient(base_url)`, or `CrossclearClient(http=an httpx.Client)` (e.g. a TestClient)."""

    def __init__(self, base_url: str | None = None, *, http: httpx.Client | None = None, timeout: float = 30) -> None:
        if http is None:
            if base_url is None:
                raise ValueError("give base_url or http")
            http = httpx.Client(base_url=base_url, timeout=timeout)
        self.http = http
        self.token: str | None = None
        info = self._json("GET", "/v1/signing")
        chain_id, vault = int(info["domain"]["chainId"]), str(info["domain"]["verifyingContract"])
        self.domains = Domains(
            api_domain(chain_id, vault), fills_domain(chain_id, vault), vault_domain(chain_id, vault)
        )

    # ------------------------------------------------------------ plumbing

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        r = self.http.request(method, path, headers=headers, **kw)
        if r.status_code >= 400:
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            raise CrossclearApiError(
                r.status_code, str(body.get("error", "http_error")), str(body.get("detail", r.text))
            )
        return r.json()

    def _model(self, model: type[M], method: str, path: str, **kw: Any) -> M:
        return model.model_validate(self._json(method, path, **kw))

    def _signed(self, key: str, method: str, path: str, payload: Any, signer: str | None = None) -> Any:
        body = sign_request(
            key, self.domains.api, method, path, payload, secrets.randbits(128), int(time.time()) + 300, signer=signer
        )
        return self._json(method, path, json=body)

    # ------------------------------------------------------------ sessions

    def login(self, key: str) -> SessionOut:
        """Sign a login with `key`; later private reads of this client use the session."""
        out = SessionOut.model_validate(self._signed(key, "POST", "/v1/auth/login", {"purpose": "login"}))
        self.token = out.token
        return out

    def logout(self) -> RevokedOut:
        out = self._model(RevokedOut, "POST", "/v1/auth/logout")
        self.token = None
        return out

    def revoke_sessions(self, key: str) -> RevokedOut:
        return RevokedOut.model_validate(self._signed(key, "POST", "/v1/auth/revoke", {"purpose": "revoke_sessions"}))

    # ------------------------------------------------------------ venues

    def sign_fill(self, venue_key: str, fill: Fill) -> dict[str, Any]:
        sig = Account.unsafe_sign_hash(fill.digest(self.domains.fills), venue_key).signature
        wire = fill.model_dump()
        wire["qty"], wire["price"] = str(fill.qty), str(fill.price)
        return {"fill": wire, "signature": "0x" + bytes(sig).hex()}

    def submit_fill(self, venue_key: str, fill: Fill) -> AckOut:
        return self._model(AckOut, "POST", f"/v1/venues/{fill.venue}/fills", json=self.sign_fill(venue_key, fill))

    def submit_fills(self, venue_key: str, fills: Sequence[Fill]) -> list[AckOut]:
        """One bulk (at most the server's max_bulk); one ack per fill, in order."""
        if not fills:
            return []
        venue = fills[0].venue
        body = {"fills": [self.sign_fill(venue_key, f) for f in fills]}
        return TypeAdapter(list[AckOut]).validate_python(
            self._json("POST", f"/v1/venues/{venue}/fills/bulk", json=body)
        )

    def fill_status(self, venue: str, venue_fill_id: str) -> FillStatusOut:
        return self._model(FillStatusOut, "GET", f"/v1/venues/{venue}/fills/{venue_fill_id}")

    def verify_inclusion(self, status: FillStatusOut, fill: Fill | None = None, root: str | None = None) -> bool:
        """Whether the proof puts the fill (its own fields, when given) under its batch's `fillsRoot`:
        `root` as you read it from the chain (the vault's BatchSettled event; trust no one), or else the
        API's copy (`GET /v1/batches/{n}`)."""
        if status.proof is None:
            return False
        leaf = bytes.fromhex(status.proof.leaf[2:])
        if fill is not None and fill.leaf() != leaf:
            return False
        if root is None:
            root = self.batch(status.proof.batch_sequence).fills_root
        return verify(bytes.fromhex(root[2:]), leaf, [bytes.fromhex(p[2:]) for p in status.proof.proof])

    # ------------------------------------------------------------ public

    def batch(self, sequence: int) -> BatchOut:
        return self._model(BatchOut, "GET", f"/v1/batches/{sequence}")

    def batch_fills(self, sequence: int, page: int = 500) -> list[FillOut]:
        """Every fill of the batch, all pages (one page alone would rebuild a wrong root)."""
        out: list[FillOut] = []
        cursor = 0
        while True:
            body = self._json("GET", f"/v1/batches/{sequence}/fills", params={"cursor": cursor, "limit": page})
            out.extend(FillOut.model_validate(f) for f in body["items"])
            if body["next_cursor"] is None:
                return out
            cursor = int(body["next_cursor"])

    def marks(self) -> list[PriceOut]:
        return TypeAdapter(list[PriceOut]).validate_python(self._json("GET", "/v1/marks"))

    # ------------------------------------------------------------ members

    def apply(self, key: str, name: str, kind: str, tier: str, group: str) -> ApplicationOut:
        payload = {"name": name, "kind": kind, "tier": tier, "group": group}
        return ApplicationOut.model_validate(self._signed(key, "POST", "/v1/membership/applications", payload))

    def open_sub_account(self, parent_key: str, parent_account: int, sub_key: str, label: str) -> ApplicationOut:
        sub = Account.from_key(sub_key).address
        expiry = int(time.time()) + 300
        consent = SubAccountConsent(parent_account, sub, label, expiry)
        sig = Account.unsafe_sign_hash(consent.digest(self.domains.api), sub_key).signature
        payload = {"address": sub, "label": label, "consent": {"expiry": expiry, "signature": "0x" + bytes(sig).hex()}}
        path = f"/v1/members/{parent_account}/sub-accounts"
        return ApplicationOut.model_validate(self._signed(parent_key, "POST", path, payload))

    def margin(self, account: int) -> MarginOut:
        return self._model(MarginOut, "GET", f"/v1/members/{account}/margin")

    def positions(self, account: int) -> PositionsOut:
        return self._model(PositionsOut, "GET", f"/v1/members/{account}/positions")

    def margin_calls(self, account: int) -> MarginCallsOut:
        return self._model(MarginCallsOut, "GET", f"/v1/members/{account}/margin-calls")

    def request_withdrawal(
        self, key: str, account: int, asset: int, amount: int, to: str, nonce: int, deadline: int
    ) -> WithdrawalOut:
        """Sign the vault's WithdrawalRequest (nonce: the vault's withdrawalNonce) and have the API relay it."""
        member = Account.from_key(key).address
        req = WithdrawalRequest(member=member, asset=asset, amount=amount, to=to, nonce=nonce, deadline=deadline)
        sig = Account.unsafe_sign_hash(req.digest(self.domains.vault), key).signature
        body = {
            "member": member,
            "asset": asset,
            "amount": str(amount),
            "to": to,
            "nonce": str(nonce),
            "deadline": deadline,
            "signature": "0x" + bytes(sig).hex(),
        }
        return self._model(WithdrawalOut, "POST", f"/v1/members/{account}/withdrawals", json=body)

    def add_webhook(self, key: str, account: int, url: str) -> WebhookOut:
        return WebhookOut.model_validate(self._signed(key, "POST", f"/v1/members/{account}/webhooks", {"url": url}))

    # ------------------------------------------------------------ push

    def stream(
        self, ws_url: str, *, account: int | None = None, venue: str | None = None
    ) -> Generator[dict[str, Any], None, None]:
        """The session's event stream (`ws_url`: the server's ws:// or wss:// base), one dict per event,
        starting with `hello`. Needs `login` first."""
        from websockets.sync.client import connect

        if self.token is None:
            raise ValueError("log in first: the stream needs a session")
        params = f"?token={self.token}" + (f"&account={account}" if account is not None else "")
        params += f"&venue={venue}" if venue is not None else ""
        with connect(ws_url.rstrip("/") + "/v1/stream" + params) as ws:
            for message in ws:
                yield json.loads(message)
