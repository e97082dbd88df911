"""Review of issue 12 ("a leader whose lock's session fails exits (status 4)", docs/operators.md): when
PostgreSQL ends the leader lock's session from the server side (a failover of the database, an idle-session
timeout, `pg_terminate_backend`), `check()` raises LeadershipLost as it should, but `run_node`'s `finally:
lock.release()` then raises SQLAlchemy's PendingRollbackError on the dead connection. That error replaces
LeadershipLost, so `crossclear engine` dies with a traceback and exit status 1 (which the docs reserve for
"the chain refused") instead of printing one line and exiting 4. Seen running the operator path by hand."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from offchain.ledger.db import make_engine
from offchain.ledger.leader import LeadershipLost, PostgresLeaderLock
from tests.pgdb import fresh_database

VAULT = "0x" + "ef" * 20


def test_release_after_the_server_ended_the_lock_session_does_not_mask_leadership_lost(postgres_url: str) -> None:
    db = make_engine(fresh_database(postgres_url))
    lock = PostgresLeaderLock(db, VAULT, 0.01)
    assert lock.acquire(lambda: False)
    assert lock._conn is not None
    backend = lock._conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    lock._conn.commit()
    with db.connect() as admin:  # the server ends the lock's session, as a DBA or a database failover would
        assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend}).scalar_one()
    with pytest.raises(LeadershipLost):
        lock.check()
    lock.release()  # fails: PendingRollbackError, which replaces LeadershipLost in run_node's `finally`
    db.dispose()
