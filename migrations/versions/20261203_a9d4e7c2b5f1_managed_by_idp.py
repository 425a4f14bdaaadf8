"""memberships.managed_by_idp and organizations.idp_aliases: the organization's own credentials,
as Keycloak records them (managed contracts)

Revision ID: a9d4e7c2b5f1
Revises: a9d4e6f1c2b7
Create Date: 2026-12-03 17:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = "a9d4e7c2b5f1"
down_revision = "a9d4e6f1c2b7"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (with its default) on every backend: a batch copy on SQLite would drop and
    # recreate the tables, which the rows referencing them refuse.
    op.add_column(
        "memberships",
        sa.Column("managed_by_idp", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "organizations",
        sa.Column("idp_aliases", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
    )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column in place (3.35+); a batch copy would drop and recreate the
        # tables, which the rows referencing them refuse.
        op.execute("ALTER TABLE organizations DROP COLUMN idp_aliases")
        op.execute("ALTER TABLE memberships DROP COLUMN managed_by_idp")
        return
    op.drop_column("organizations", "idp_aliases")
    op.drop_column("memberships", "managed_by_idp")
