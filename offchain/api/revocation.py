"""Taking session tokens back: logout (one token) and "revoke all my sessions" (every earlier token of
an address). `sessions.Session` revocation over the ledger's `sessions_store` (shared by every API
process through the ledger)."""

from __future__ import annotations

from offchain.api.sessions import Session
from offchain.ledger import sessions_store
from offchain.ledger.handles import Connection
from offchain.ledger.sessions_store import generation_of, prune_revoked


def is_revoked(conn: Connection, s: Session) -> bool:
    if sessions_store.is_sid_revoked(conn, s.sid):
        return True
    return s.generation != generation_of(conn, s.address)


def revoke_token(conn: Connection, s: Session) -> None:
    """Revoke this one token until it would have expired anyway (a second logout is a no-op)."""
    sessions_store.revoke_sid(conn, s.sid, s.expires_ms)


def revoke_all(conn: Connection, address: str) -> int:
    """Revoke every token issued to `address` so far; return the new generation (later logins carry it)."""
    return sessions_store.bump_generation(conn, address)


__all__ = ["generation_of", "is_revoked", "prune_revoked", "revoke_all", "revoke_token"]
