"""The durable ledger: one schema (SQLAlchemy Core, Alembic migrations), SQLite by default,
PostgreSQL by URL. Every state change the engine makes is one transaction here."""
