"""default_undo: what a stored batch's default management overwrote, so a batch dropped unsent takes its
default writes with it

Revision ID: 0009_default_undo
Revises: 0008_exit_closeouts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_default_undo"
down_revision = "0008_exit_closeouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "default_undo",
        sa.Column("batch_sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("covered", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("batch_sequence", name=op.f("pk_default_undo")),
    )


def downgrade() -> None:
    op.drop_table("default_undo")
