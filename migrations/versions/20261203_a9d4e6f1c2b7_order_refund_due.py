"""orders: why the portal closed a pending order, and "paid, needs refund" (b2b-rules section 10)

Revision ID: a9d4e6f1c2b7
Revises: f4a7c2e9b1d3
Create Date: 2026-12-03 17:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a9d4e6f1c2b7"
down_revision = "f4a7c2e9b1d3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on every backend: a batch copy on SQLite would recreate ``orders``, which
    # the enrollments and payments referencing it refuse.
    op.add_column("orders", sa.Column("close_reason", sa.Text(), nullable=True))
    op.add_column("orders", sa.Column("refund_reason", sa.Text(), nullable=True))
    op.add_column("orders", sa.Column("refund_due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "orders", sa.Column("refund_resolved_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("orders", sa.Column("refund_resolution", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_orders_refund_due_at"), "orders", ["refund_due_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_refund_due_at"), table_name="orders")
    columns = ("refund_resolution", "refund_resolved_at", "refund_due_at", "refund_reason")
    for column in (*columns, "close_reason"):
        if op.get_bind().dialect.name == "sqlite":
            # In place (SQLite 3.35+): a batch copy would recreate ``orders``, which the
            # enrollments and payments referencing it refuse.
            op.execute(f"ALTER TABLE orders DROP COLUMN {column}")
        else:
            op.drop_column("orders", column)
