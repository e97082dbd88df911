"""exit close-outs beside defaults: defaults.kind ('default' or 'exit_closeout')

A member that asked to exit and keeps its positions past `exit_closeout_after_s` has its book auctioned like a
defaulter's (offchain/defaults/closeout.py); the close-out is a row of `defaults` of kind `exit_closeout`, so its
tranches and bids use the auction tables unchanged.

Revision ID: 0008_exit_closeouts
Revises: 0007_api_hardening
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_exit_closeouts"
down_revision = "0007_api_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("defaults") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="default"))


def downgrade() -> None:
    with op.batch_alter_table("defaults") as batch:
        batch.drop_column("kind")
