"""market data: signed price observations (signature, signer on `marks`), candles and their cursors

Revision ID: 0005_market_data
Revises: 0004_position_entries
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import offchain.ledger.types

revision = "0005_market_data"
down_revision = "0004_position_entries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature", sa.LargeBinary(length=65), nullable=True))
        batch_op.add_column(sa.Column("signer", sa.String(length=42), nullable=True))
        batch_op.create_index("ix_marks_source", ["instrument", "source", "ts_ms"], unique=False)
    op.create_table(
        "candles",
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("interval_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("open_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("open", offchain.ledger.types.BigInt(length=80), nullable=False),
        sa.Column("high", offchain.ledger.types.BigInt(length=80), nullable=False),
        sa.Column("low", offchain.ledger.types.BigInt(length=80), nullable=False),
        sa.Column("close", offchain.ledger.types.BigInt(length=80), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "source", "interval_ms", "open_ms", name=op.f("pk_candles")),
    )
    op.create_table(
        "candle_cursors",
        sa.Column("interval_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("upto_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("interval_ms", name=op.f("pk_candle_cursors")),
    )


def downgrade() -> None:
    op.drop_table("candle_cursors")
    op.drop_table("candles")
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.drop_index("ix_marks_source")
        batch_op.drop_column("signer")
        batch_op.drop_column("signature")
