"""Session tokens: a signed login (an `ApiRequest` for `POST /v1/auth/login`) buys a bearer token.

Tokens are `cc1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`, so any API process with the same
`session_secret` accepts them. Claims: `sub` (the checksummed address), `exp` (unix ms), `sid` (a random
id: `POST /v1/auth/logout` revokes that one token) and `gen` (the address's session generation when the
token was issued: `POST /v1/auth/revoke` bumps it, which revokes every earlier token of the address).
Revocations live in the ledger (shared by every API process) and are checked on every authenticated
request. What the address may read is decided per request from the ledger (member, sub-account parent,
venue signer, operator), so an admission or a key rotation takes effect without a new login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

PREFIX = "cc1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    address: str
    expires_ms: int
    sid: str
    generation: int


class SessionSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("session secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, f"{PREFIX}.{body}".encode(), hashlib.sha256).digest())

    def issue(self, address: str, expires_ms: int, generation: int = 0) -> str:
        claims = {"sub": address, "exp": expires_ms, "sid": secrets.token_hex(16), "gen": generation}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{PREFIX}.{body}.{self._mac(body)}"

    def read(self, token: str, now_ms: int) -> Session | None:
        """The session, or None when the token is malformed, forged or expired."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        _, body, mac = parts
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            claims = json.loads(_unb64(body))
            address, exp = str(claims["sub"]), int(claims["exp"])
            sid, gen = str(claims["sid"]), int(claims["gen"])
        except (ValueError, KeyError, TypeError):
            return None
        if exp <= now_ms or len(sid) != 32:
            return None
        return Session(address, exp, sid, gen)
