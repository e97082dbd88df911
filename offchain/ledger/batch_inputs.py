"""What one batch is computed from: a typed snapshot of the ledger, read in the batch's own transaction
(settlement/builder.py's first step). Settlement receives it and never reads the ledger itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from offchain.core.obligations import FundingDue, InstrumentSpec, PendingFill, SettledMark
from offchain.ledger import schema as t
from offchain.ledger.batches import posted_collateral_marks, posted_requirements
from offchain.ledger.instruments import load_instruments
from offchain.ledger.positions import load_positions
from offchain.ledger.prices import funding_due, load_settled_marks


@dataclass(frozen=True)
class SettlementSnapshot:
    instruments: dict[str, InstrumentSpec]
    positions: dict[tuple[int, str], int]  # settled net qty per (member, instrument), across venues
    settled_marks: dict[str, SettledMark]
    fills: list[PendingFill]  # acknowledged, unclaimed, in ingest order (at most the batch's limit)
    funding: list[FundingDue]  # intervals due by now, unclaimed, oldest first
    members: list[tuple[int, str]]  # (account, tier)
    posted_requirements: dict[int, tuple[int, int]]  # member -> (IM, MM) the vault holds
    posted_marks: dict[int, tuple[int, int]]  # asset -> (price, haircut bps) the vault holds


def load_pending_fills(conn: Connection, limit: int) -> list[PendingFill]:
    """Acknowledged fills no batch has taken yet, in ingest order."""
    f = t.fills
    rows = conn.execute(
        select(
            f.c.id,
            f.c.venue,
            f.c.venue_fill_id,
            f.c.symbol,
            f.c.instrument,
            f.c.buyer,
            f.c.seller,
            f.c.buyer_address,
            f.c.seller_address,
            f.c.qty,
            f.c.price,
            f.c.ts_ms,
            f.c.leaf,
        )
        .where(f.c.batch_sequence.is_(None))
        .order_by(f.c.id)
        .limit(limit)
    ).mappings()
    return [PendingFill(**dict(r)) for r in rows]


def load_members(conn: Connection) -> list[tuple[int, str]]:
    """(account, tier) of every member, in the table's order."""
    return [(a, tier) for a, tier in conn.execute(select(t.members.c.account, t.members.c.tier))]


def load_member_accounts(conn: Connection) -> dict[int, str]:
    """Every member's account number and address."""
    return {a: addr for a, addr in conn.execute(select(t.members.c.account, t.members.c.address))}


def read_snapshot(conn: Connection, max_fills: int, now_ms: int) -> SettlementSnapshot:
    return SettlementSnapshot(
        instruments=load_instruments(conn),
        positions=load_positions(conn),
        settled_marks=load_settled_marks(conn),
        fills=load_pending_fills(conn, max_fills),
        funding=funding_due(conn, now_ms),
        members=load_members(conn),
        posted_requirements=posted_requirements(conn),
        posted_marks=posted_collateral_marks(conn),
    )
