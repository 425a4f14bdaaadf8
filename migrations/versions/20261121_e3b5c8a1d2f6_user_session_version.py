"""users.session_version: bumped at sign-out so copied session cookies stop working

Revision ID: e3b5c8a1d2f6
Revises: c7e1a9d2f4b8
Create Date: 2026-11-21 13:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "e3b5c8a1d2f6"
down_revision = "c7e1a9d2f4b8"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("session_version")
