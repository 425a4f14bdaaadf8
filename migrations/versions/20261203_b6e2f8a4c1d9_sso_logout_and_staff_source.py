"""Keycloak governs staff it granted; back-channel logout's ended sessions and used logout tokens

Revision ID: b6e2f8a4c1d9
Revises: a9d4e7c2b5f1
Create Date: 2026-12-03 18:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b6e2f8a4c1d9"
down_revision = "a9d4e7c2b5f1"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN on every backend: a batch copy on SQLite would recreate ``users``, which
    # the rows referencing it refuse.
    op.add_column(
        "users",
        sa.Column("staff_from_keycloak", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # Staff made so by the realm role before this column existed stay governed by it.
    op.execute(
        "UPDATE users SET staff_from_keycloak = "
        + ("true" if op.get_bind().dialect.name == "postgresql" else "1")
        + " WHERE is_staff AND CAST(id AS VARCHAR(64)) IN (SELECT object_id FROM audit_events"
        " WHERE action = 'user.staff_granted' AND object_type = 'user'"
        " AND reason = 'Keycloak realm role')"
    )
    op.create_table(
        "ended_sso_sessions",
        sa.Column("sid", sa.String(length=255), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_ended_sso_sessions")),
    )
    op.create_index(op.f("ix_ended_sso_sessions_expires_at"), "ended_sso_sessions", ["expires_at"])
    op.create_table(
        "used_logout_tokens",
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_used_logout_tokens")),
    )
    op.create_index(op.f("ix_used_logout_tokens_expires_at"), "used_logout_tokens", ["expires_at"])


def downgrade():
    op.drop_index(op.f("ix_used_logout_tokens_expires_at"), table_name="used_logout_tokens")
    op.drop_table("used_logout_tokens")
    op.drop_index(op.f("ix_ended_sso_sessions_expires_at"), table_name="ended_sso_sessions")
    op.drop_table("ended_sso_sessions")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column in place (3.35+); a batch copy would drop and recreate ``users``,
        # which the rows referencing it refuse.
        op.execute("ALTER TABLE users DROP COLUMN staff_from_keycloak")
    else:
        op.drop_column("users", "staff_from_keycloak")
