"""The engine's status row (one per vault): written by the leader, read by `/v1/health`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from offchain.ledger import schema as t

RUNNING = "running"
HALTED = "halted"


@dataclass(frozen=True)
class EngineStatus:
    vault: str
    node: str
    state: str  # RUNNING or HALTED
    detail: str
    chain_lead_s: int
    updated_ms: int


def write_status(conn: Connection, status: EngineStatus) -> None:
    s = t.engine_status
    values = {
        "node": status.node,
        "state": status.state,
        "detail": status.detail[:512],
        "chain_lead_s": status.chain_lead_s,
        "updated_ms": status.updated_ms,
    }
    if conn.execute(update(s).where(s.c.vault == status.vault).values(**values)).rowcount == 0:
        conn.execute(s.insert().values(vault=status.vault, **values))


def read_status(conn: Connection) -> list[EngineStatus]:
    """Every vault's engine status (a ledger serves one vault today; the table allows more)."""
    rows = conn.execute(select(t.engine_status).order_by(t.engine_status.c.vault)).mappings()
    return [EngineStatus(**dict(r)) for r in rows]
