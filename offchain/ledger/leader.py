"""Leader election for the settlement engine: one leader per vault, any number of hot standbys.

On PostgreSQL the leader holds a session-level advisory lock (`pg_try_advisory_lock`) keyed by the vault,
on a connection of its own that does nothing else: the lock lives exactly as long as that session, so when
the leader's process dies (or its connection drops) PostgreSQL releases it and a standby polling for it
takes over. A standby never steps. SQLite is one node by construction (an embedded file): its lock is
held by the one process that opened it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from eth_utils import keccak
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from offchain.errors import CrossclearError


class LeadershipLost(CrossclearError):  # noqa: N818 - a state the engine must stop on, named as such
    """The leader lock is no longer held (the lock's session ended): stop stepping at once."""


def lock_key(vault: str) -> int:
    """A signed 64-bit advisory-lock key for one vault (the first 8 bytes of keccak of its address)."""
    return int.from_bytes(keccak(text=vault.lower())[:8], "big", signed=True)


class LeaderLock(Protocol):
    def acquire(self, stop: Callable[[], bool]) -> bool:
        """Block until this node leads (True) or `stop()` is true (False)."""
        ...

    def check(self) -> None:
        """Raise LeadershipLost unless this node still leads."""
        ...

    def release(self) -> None: ...


class SingleNodeLock:
    """SQLite: the one engine process is the leader."""

    def acquire(self, stop: Callable[[], bool]) -> bool:
        return not stop()

    def check(self) -> None:
        return None

    def release(self) -> None:
        return None


class PostgresLeaderLock:
    """`pg_try_advisory_lock(key)` on a dedicated connection, polled every `poll_s` by a standby."""

    def __init__(self, db: Engine, vault: str, poll_s: float = 0.5) -> None:
        self.db = db
        self.key = lock_key(vault)
        self.poll_s = poll_s
        self._conn: Connection | None = None

    def acquire(self, stop: Callable[[], bool]) -> bool:
        while not stop():
            conn = self._conn or self.db.connect()
            self._conn = conn
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar_one())
            conn.commit()  # no transaction stays open on the lock's session (the lock is session-level)
            if got:
                return True
            time.sleep(self.poll_s)
        return False

    def check(self) -> None:
        if self._conn is None:
            raise LeadershipLost("the leader lock was never taken")
        try:
            held = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND objid::bigint = (:k & 4294967295)"
                    " AND classid::bigint = ((:k >> 32) & 4294967295)"
                ),
                {"k": self.key},
            ).scalar_one()
            self._conn.commit()
        except SQLAlchemyError as exc:  # the lock's session failed: with it went the lock
            self._drop()  # nothing left to unlock: a later release() must not fail on the dead session
            raise LeadershipLost(f"the leader lock's session failed: {exc}") from exc
        if not held:
            raise LeadershipLost("the leader lock is no longer held")

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            except SQLAlchemyError:
                # The session died under us (the server ended it, the network dropped): a session-level lock
                # ends with its session, so there is nothing to unlock, and release() runs in `finally`
                # blocks where raising here would replace the error that stopped the engine.
                pass
            finally:
                self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # a dead connection goes, not back to the pool
            finally:
                self._conn = None


def leader_lock(db: Engine, vault: str, poll_s: float = 0.5) -> LeaderLock:
    """The leader lock for this ledger's backend."""
    if db.dialect.name == "postgresql":
        return PostgresLeaderLock(db, vault, poll_s)
    return SingleNodeLock()


# One key for "someone is migrating this database" (any value distinct from the vaults' keys).
MIGRATION_LOCK_KEY = lock_key("crossclear ledger migrations")


def open_ledger_serialised(url: str) -> Engine:
    """`open_ledger`, with concurrent openers of one PostgreSQL database taking turns (an advisory lock held
    while migrating): a leader and its standby started together on a fresh database must not both create
    its tables. SQLite is one process's file: no lock needed."""
    from offchain.ledger.db import make_engine, migrate

    engine = make_engine(url)
    if engine.dialect.name != "postgresql":
        migrate(engine)
        return engine
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        conn.commit()
        try:
            migrate(engine)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
    return engine
