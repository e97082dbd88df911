"""Check-then-insert without the race: `INSERT ... ON CONFLICT DO NOTHING`, on SQLite and PostgreSQL.

A SELECT followed by an INSERT lets two concurrent requests both see "absent" and both insert; the second
then fails on the unique constraint (a 500, and on PostgreSQL an aborted transaction). Letting the
database decide, and reading the outcome from the row count, turns that into a clean "already there".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_new(conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert one row unless it would violate a unique constraint or index; True when it was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: psycopg reports rowcount -1 for INSERT ... ON CONFLICT DO NOTHING.
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return conn.execute(stmt).first() is not None
