"""A fresh database on the session's PostgreSQL server, for tests that need PostgreSQL itself (advisory locks)."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, make_url, text

from offchain.ledger.db import normalise_url


def fresh_database(postgres_url: str) -> str:
    base = normalise_url(postgres_url)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)
