"""Taking session tokens back: logout (one token) and "revoke all my sessions" (every earlier token of
an address). The SQL behind `sessions.Session` revocation; tables `api_sessions_revoked` and
`api_session_generations` (shared by every API process through the ledger)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from offchain.api.sessions import Session
from offchain.ingest.atomic import insert_new
from offchain.ledger.schema import api_session_generations, api_sessions_revoked


def generation_of(conn: Connection, address: str) -> int:
    g = api_session_generations.c
    value = conn.execute(select(g.generation).where(g.address == address)).scalar_one_or_none()
    return 0 if value is None else int(value)


def is_revoked(conn: Connection, s: Session) -> bool:
    r = api_sessions_revoked.c
    if conn.execute(select(r.sid).where(r.sid == s.sid)).first() is not None:
        return True
    return s.generation != generation_of(conn, s.address)


def revoke_token(conn: Connection, s: Session) -> None:
    """Revoke this one token until it would have expired anyway (a second logout is a no-op)."""
    insert_new(conn, api_sessions_revoked, {"sid": s.sid, "expires_ms": s.expires_ms})


def revoke_all(conn: Connection, address: str) -> int:
    """Revoke every token issued to `address` so far; return the new generation (later logins carry it)."""
    g = api_session_generations.c
    if not insert_new(conn, api_session_generations, {"address": address, "generation": 1}):
        conn.execute(update(api_session_generations).where(g.address == address).values(generation=g.generation + 1))
    return generation_of(conn, address)


def prune_revoked(conn: Connection, before_ms: int) -> int:
    """Forget revocations of tokens that have expired by `before_ms` (they are refused as expired anyway)."""
    r = api_sessions_revoked.c
    return int(conn.execute(delete(api_sessions_revoked).where(r.expires_ms < before_ms)).rowcount or 0)
