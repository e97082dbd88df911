"""API request nonces and session-token revocation (tables `api_nonces`, `api_sessions_revoked`,
`api_session_generations`), shared by every API process through the ledger."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from offchain.ledger.atomic import insert_new
from offchain.ledger.schema import api_nonces, api_session_generations, api_sessions_revoked


def record_nonce(conn: Connection, signer: str, nonce: int, action: str, expiry_ms: int, used_ms: int) -> bool:
    """Mark `nonce` of `signer` used, in one statement (two racing requests cannot both spend it); False
    when it was used already. `action` is cut to the column's 64 characters."""
    row = {"signer": signer, "nonce": str(nonce), "action": action[:64], "expiry_ms": expiry_ms, "used_ms": used_ms}
    return insert_new(conn, api_nonces, row)


def prune_nonces(conn: Connection, before_ms: int) -> int:
    """Delete spent nonces whose request expired before `before_ms`; how many."""
    n = api_nonces.c
    return int(conn.execute(delete(api_nonces).where(n.expiry_ms < before_ms)).rowcount or 0)


def generation_of(conn: Connection, address: str) -> int:
    """The session generation of `address`: tokens carrying an older one are revoked (0 before any)."""
    g = api_session_generations.c
    value = conn.execute(select(g.generation).where(g.address == address)).scalar_one_or_none()
    return 0 if value is None else int(value)


def is_sid_revoked(conn: Connection, sid: str) -> bool:
    r = api_sessions_revoked.c
    return conn.execute(select(r.sid).where(r.sid == sid)).first() is not None


def revoke_sid(conn: Connection, sid: str, expires_ms: int) -> None:
    """Revoke one token until it would have expired anyway (a second revocation is a no-op)."""
    insert_new(conn, api_sessions_revoked, {"sid": sid, "expires_ms": expires_ms})


def bump_generation(conn: Connection, address: str) -> int:
    """Revoke every token issued to `address` so far; the new generation (later logins carry it)."""
    g = api_session_generations.c
    if not insert_new(conn, api_session_generations, {"address": address, "generation": 1}):
        conn.execute(update(api_session_generations).where(g.address == address).values(generation=g.generation + 1))
    return generation_of(conn, address)


def prune_revoked(conn: Connection, before_ms: int) -> int:
    """Forget revocations of tokens that have expired by `before_ms`; how many."""
    r = api_sessions_revoked.c
    return int(conn.execute(delete(api_sessions_revoked).where(r.expires_ms < before_ms)).rowcount or 0)
