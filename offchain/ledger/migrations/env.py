"""Alembic environment: runs against the engine the caller put in config.attributes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from offchain.ledger.schema import metadata

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("offchain.ledger.db.migrate() passes the engine; alembic is not run from a CLI ini here")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    context.run_migrations()
