"""API tables: spent request nonces and membership applications

Revision ID: 0002_api
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_api"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_nonces",
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("expiry_ms", sa.BigInteger(), nullable=False),
        sa.Column("used_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signer", "nonce", name=op.f("pk_api_nonces")),
    )
    op.create_table(
        "membership_applications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("group_name", sa.String(length=32), nullable=False),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("account", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=256), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("decided_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent"], ["members.account"], name=op.f("fk_membership_applications_parent_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_applications")),
    )
    op.create_index(
        "ix_membership_applications_address", "membership_applications", ["address", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_membership_applications_address", table_name="membership_applications")
    op.drop_table("membership_applications")
    op.drop_table("api_nonces")
