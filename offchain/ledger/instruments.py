"""The cleared instruments: one type, `InstrumentSpec` (a frozen dataclass, offchain/core/obligations.py),
read from the `instruments` table here and nowhere else."""

from __future__ import annotations

from sqlalchemy import Connection, select

from offchain.core.obligations import InstrumentSpec
from offchain.ledger import schema as t

__all__ = ["InstrumentSpec", "load_instruments"]


def load_instruments(conn: Connection) -> dict[str, InstrumentSpec]:
    """Every instrument of the registry cache, active or not, by name."""
    rows = conn.execute(select(t.instruments)).mappings()
    return {r["name"]: InstrumentSpec(**dict(r)) for r in rows}
