"""Cleared instruments as the API and tools read them (one row type for every column of `instruments`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from offchain.ledger import schema as t


@dataclass(frozen=True)
class InstrumentRow:
    name: str
    kind: str
    underlying: str
    qty_decimals: int
    price_band_bps: int
    max_mark_jump_bps: int
    mark_stale_ms: int
    clearing_fee_bps: int
    active: bool


def instrument_rows(conn: Connection) -> dict[str, InstrumentRow]:
    """Every listed instrument by name."""
    return {
        r.name: InstrumentRow(
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
