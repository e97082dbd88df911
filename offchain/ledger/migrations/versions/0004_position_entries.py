"""position entries (average entry price per netted position) and an index on api_nonces.expiry_ms

Revision ID: 0004_position_entries
Revises: 0003_defaults

The new table is backfilled from the fills of confirmed batches, in settlement order, so a ledger
migrated mid-life has the same entries as one that had the table from the start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import offchain.ledger.types
from offchain.ledger.entries import roll_fills

revision = "0004_position_entries"
down_revision = "0003_defaults"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "position_entries",
        sa.Column("member", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=64), nullable=False),
        sa.Column("qty", offchain.ledger.types.BigInt(length=80), nullable=False),
        sa.Column("entry_price", offchain.ledger.types.BigInt(length=80), nullable=False),
        sa.Column("batch_sequence", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument"], ["instruments.name"], name=op.f("fk_position_entries_instrument_instruments")
        ),
        sa.ForeignKeyConstraint(["member"], ["members.account"], name=op.f("fk_position_entries_member_members")),
        sa.PrimaryKeyConstraint("member", "instrument", name=op.f("pk_position_entries")),
    )
    op.create_index("ix_api_nonces_expiry", "api_nonces", ["expiry_ms"], unique=False)
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    fills = sa.table(
        "fills",
        sa.column("id", sa.Integer()),
        sa.column("buyer", sa.Integer()),
        sa.column("seller", sa.Integer()),
        sa.column("instrument", sa.String()),
        sa.column("qty", offchain.ledger.types.BigInt(length=80)),
        sa.column("price", offchain.ledger.types.BigInt(length=80)),
        sa.column("batch_sequence", sa.Integer()),
    )
    batches = sa.table("batches", sa.column("sequence", sa.Integer()), sa.column("status", sa.String()))
    entries = sa.table(
        "position_entries",
        sa.column("member", sa.Integer()),
        sa.column("instrument", sa.String()),
        sa.column("qty", offchain.ledger.types.BigInt(length=80)),
        sa.column("entry_price", offchain.ledger.types.BigInt(length=80)),
        sa.column("batch_sequence", sa.Integer()),
    )
    rows = bind.execute(
        sa.select(fills.c.buyer, fills.c.seller, fills.c.instrument, fills.c.qty, fills.c.price, fills.c.batch_sequence)
        .select_from(fills.join(batches, fills.c.batch_sequence == batches.c.sequence))
        .where(batches.c.status == "confirmed")
        .order_by(fills.c.batch_sequence, fills.c.id)
    ).all()
    state: dict[tuple[int, str], tuple[int, int]] = {}
    last: dict[tuple[int, str], int] = {}
    for r in rows:
        fill = (int(r.buyer), int(r.seller), r.instrument, int(r.qty), int(r.price))
        for key, value in roll_fills(state, [fill]).items():
            state[key] = value
            last[key] = int(r.batch_sequence)
    if state:
        bind.execute(
            sa.insert(entries),
            [
                {"member": m, "instrument": i, "qty": q, "entry_price": e, "batch_sequence": last[(m, i)]}
                for (m, i), (q, e) in state.items()
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_api_nonces_expiry", table_name="api_nonces")
    op.drop_table("position_entries")
