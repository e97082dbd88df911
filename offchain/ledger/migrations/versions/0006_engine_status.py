"""engine status (leader node, halted by clock drift) for /v1/health

Revision ID: 0006_engine_status
Revises: 0005_market_data
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_engine_status"
down_revision = "0005_market_data"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_status",
        sa.Column("vault", sa.String(length=42), nullable=False),
        sa.Column("node", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=512), nullable=False),
        sa.Column("chain_lead_s", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("vault", name=op.f("pk_engine_status")),
    )


def downgrade() -> None:
    op.drop_table("engine_status")
