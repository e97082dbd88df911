"""API hardening: one pending application per address (a partial unique index), session revocation,
member webhooks

Revision ID: 0007_api_hardening
Revises: 0006_engine_status

Before the index is created, any address with several pending applications (possible before: concurrent
applications raced past the check) keeps its oldest one; the others are marked rejected with a note.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_api_hardening"
down_revision = "0006_engine_status"
branch_labels = None
depends_on = None

_PENDING = "status = 'pending'"


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE membership_applications SET status = 'rejected', note = 'duplicate pending application' "
            "WHERE status = 'pending' AND id NOT IN ("
            "SELECT MIN(id) FROM membership_applications WHERE status = 'pending' GROUP BY address)"
        )
    )
    op.create_index(
        "uq_membership_applications_pending",
        "membership_applications",
        ["address"],
        unique=True,
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_table(
        "api_sessions_revoked",
        sa.Column("sid", sa.String(length=32), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_api_sessions_revoked")),
    )
    op.create_index("ix_api_sessions_revoked_expiry", "api_sessions_revoked", ["expires_ms"], unique=False)
    op.create_table(
        "api_session_generations",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_api_session_generations")),
    )

    op.create_table(
        "api_webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account"], ["members.account"], name=op.f("fk_api_webhooks_account_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_webhooks")),
        sa.UniqueConstraint("account", "url", name="uq_api_webhooks_account_url"),
    )


def downgrade() -> None:
    op.drop_table("api_webhooks")
    op.drop_table("api_session_generations")
    op.drop_index("ix_api_sessions_revoked_expiry", table_name="api_sessions_revoked")
    op.drop_table("api_sessions_revoked")
    op.drop_index("uq_membership_applications_pending", table_name="membership_applications")
