"""Cleared instruments as the API and tools read them, in the one instrument type
(`core.obligations.InstrumentSpec`, every column of `instruments`)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from offchain.core.obligations import InstrumentSpec
from offchain.ledger import schema as t


def instrument_rows(conn: Connection) -> dict[str, InstrumentSpec]:
    """Every listed instrument, active or not, by name (what the engine loads with
    `ledger.instruments.load_instruments`, read here for the API so it needs no settlement import)."""
    return {
        r.name: InstrumentSpec(
            r.name,
            r.kind,
            r.underlying,
            int(r.qty_decimals),
            int(r.price_band_bps),
            int(r.max_mark_jump_bps),
            int(r.mark_stale_ms),
            int(r.clearing_fee_bps),
            bool(r.active),
        )
        for r in conn.execute(select(t.instruments))
    }


def active_instrument_names(conn: Connection) -> list[str]:
    i = t.instruments.c
    return [str(n) for n in conn.execute(select(i.name).where(i.active)).scalars()]
