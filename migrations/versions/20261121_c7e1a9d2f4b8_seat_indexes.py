"""indexes for the org admin dashboard: seats by contract and claim date, seats by redemption

Revision ID: c7e1a9d2f4b8
Revises: b1c2d3e4f5a6
Create Date: 2026-11-21 12:00:00

"""
from alembic import op

revision = "c7e1a9d2f4b8"
down_revision = "b1c2d3e4f5a6"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("seats") as batch_op:
        batch_op.create_index("ix_seats_contract_id_claimed_at", ["contract_id", "claimed_at"])
        batch_op.create_index(batch_op.f("ix_seats_redemption_id"), ["redemption_id"])


def downgrade():
    with op.batch_alter_table("seats") as batch_op:
        batch_op.drop_index(batch_op.f("ix_seats_redemption_id"))
        batch_op.drop_index("ix_seats_contract_id_claimed_at")
