"""The language each person reads the portal in, so the emails sent to them later (notices,
reminders, reports) speak it too

Revision ID: e5f7a9b1c3d4
Revises: d4e6f8a0b2c3
Create Date: 2026-12-04 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e5f7a9b1c3d4"
down_revision = "d4e6f8a0b2c3"
branch_labels = None
depends_on = None


def upgrade():
    # Null until the person signs in or chooses a language: their emails are then in English.
    op.add_column("users", sa.Column("locale", sa.String(8), nullable=True))


def downgrade():
    op.drop_column("users", "locale")
