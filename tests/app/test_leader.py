"""The leader lock on real PostgreSQL: one holder per vault, released with its session, checked every step;
the migration lock lets engines started together open a fresh ledger."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from offchain.ledger.db import make_engine
from offchain.ledger.leader import (
    LeadershipLost,
    PostgresLeaderLock,
    SingleNodeLock,
    leader_lock,
    lock_key,
    open_ledger_serialised,
)
from tests.pgdb import fresh_database

VAULT = "0x" + "ab" * 20
OTHER_VAULT = "0x" + "cd" * 20


def _tries(n: int) -> Callable[[], bool]:
    count = [0]

    def stop() -> bool:
        count[0] += 1
        return count[0] > n

    return stop


def test_one_leader_per_vault_and_the_lock_dies_with_its_session(postgres_url: str) -> None:
    db = make_engine(fresh_database(postgres_url))
    leader, standby = PostgresLeaderLock(db, VAULT, 0.01), PostgresLeaderLock(db, VAULT, 0.01)
    assert isinstance(leader_lock(db, VAULT), PostgresLeaderLock)
    assert leader.acquire(lambda: False)
    leader.check()
    assert not standby.acquire(_tries(5))  # blocked while the leader lives
    other = PostgresLeaderLock(db, OTHER_VAULT, 0.01)
    assert other.acquire(lambda: False)  # another vault has its own leader
    assert leader._conn is not None
    leader._conn.invalidate()  # the leader's session ends (as when its process dies)
    with pytest.raises(LeadershipLost):
        leader.check()
    assert standby.acquire(_tries(50))
    standby.check()
    standby.release()
    other.release()
    db.dispose()


def test_keys_differ_per_vault_and_sqlite_is_one_node(tmp_path: Path) -> None:
    assert lock_key(VAULT) != lock_key(OTHER_VAULT)
    assert lock_key(VAULT) == lock_key(VAULT.upper().replace("0X", "0x"))  # address case does not matter
    assert -(2**63) <= lock_key(VAULT) < 2**63
    db = make_engine(f"sqlite:///{tmp_path}/l.db")
    lock = leader_lock(db, VAULT)
    assert isinstance(lock, SingleNodeLock) and lock.acquire(lambda: False)
    lock.check()


def test_engines_started_together_migrate_a_fresh_ledger_once(postgres_url: str) -> None:
    url = fresh_database(postgres_url)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            open_ledger_serialised(url).dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    db = make_engine(url)
    assert "engine_status" in inspect(db).get_table_names()
    db.dispose()


def test_a_lock_whose_session_the_server_ended_is_lost_and_releases_quietly(postgres_url: str) -> None:
    """A database failover, an idle-session timeout or `pg_terminate_backend` ends the lock's session from the
    server side: `check()` says LeadershipLost, and the `finally: release()` after it must not raise on the
    dead session (it did, with PendingRollbackError, which replaced LeadershipLost: `crossclear engine` then
    died with a traceback and exit 1 instead of one line and exit 4). Found by the issue 12 review."""
    db = make_engine(fresh_database(postgres_url))
    lock = PostgresLeaderLock(db, VAULT, 0.01)
    assert lock.acquire(_tries(1))
    assert lock._conn is not None
    backend = lock._conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    lock._conn.commit()
    with db.connect() as admin:
        assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend}).scalar_one()
    with pytest.raises(LeadershipLost, match="session failed"):
        lock.check()
    lock.release()  # nothing to unlock: the lock went with its session
    with pytest.raises(LeadershipLost, match="never taken"):
        lock.check()  # and the lock knows it no longer leads
    successor = PostgresLeaderLock(db, VAULT, 0.01)
    assert successor.acquire(_tries(1))  # the lock is free for a standby
    successor.release()
    db.dispose()
