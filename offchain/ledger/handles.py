"""The ledger's handles as other packages see them: an `Engine` to open transactions on, the `Connection`
a transaction runs on, and the uniqueness conflict a write can raise.

Re-exported from SQLAlchemy so that code outside `offchain/ledger/` can hold and type a transaction
without importing SQLAlchemy itself (the architecture test forbids that import there: only the ledger
builds statements)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

__all__ = ["Connection", "Engine", "IntegrityError"]
