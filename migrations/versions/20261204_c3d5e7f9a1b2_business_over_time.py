"""Running the business over time: code discounts, contract renewals, notices, report
subscriptions, scheduled runs and CyberSource refunds; a contract's price is paid once per learner

Revision ID: c3d5e7f9a1b2
Revises: bbac62c196e2
Create Date: 2026-12-04 01:10:00

Data: a code's old ``amount`` was "the price this code sets" and nothing could set it; it becomes
the code's fixed discount (the contract's price minus that amount, nothing if it was not lower).
Pending orders are repriced to what they cost now that the price is paid once per learner: the
first line carries the price and the code's discount, the other lines nothing. Orders paid or
closed keep what they recorded.
"""

import sqlalchemy as sa
from alembic import op

revision = "c3d5e7f9a1b2"
down_revision = "bbac62c196e2"
branch_labels = None
depends_on = None


def _enum(name, *values):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade():
    bind = op.get_bind()
    # Codes: the price a code set becomes the discount it gives. A rename, because SQLite keeps
    # a CHECK naming the column (a rename rewrites it; a drop would need a rebuild of a table
    # others reference).
    op.execute("ALTER TABLE enrollment_codes RENAME COLUMN amount TO discount_amount")
    op.execute(
        "UPDATE enrollment_codes SET discount_amount = ("
        " SELECT c.price_per_learner - enrollment_codes.discount_amount FROM contracts c"
        " WHERE c.id = enrollment_codes.contract_id"
        " AND c.price_per_learner > enrollment_codes.discount_amount)"
        " WHERE discount_amount IS NOT NULL"
    )
    op.add_column(
        "enrollment_codes", sa.Column("discount_percent", sa.Numeric(precision=5, scale=2))
    )
    if bind.dialect.name == "sqlite":
        # SQLite cannot add a CHECK to a table in place: triggers refuse the same rows.
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER enrollment_codes_discount_{event.lower()}"
                f" BEFORE {event} ON enrollment_codes"
                " WHEN (NEW.discount_percent IS NOT NULL"
                " AND (NEW.discount_percent <= 0 OR NEW.discount_percent > 100))"
                " OR (NEW.discount_amount IS NOT NULL AND NEW.discount_percent IS NOT NULL)"
                " BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: discount'); END"
            )
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE enrollment_codes RENAME CONSTRAINT ck_enrollment_codes_amount"
            " TO ck_enrollment_codes_discount_amount"
        )
        op.create_check_constraint(
            "ck_enrollment_codes_discount_percent",
            "enrollment_codes",
            "discount_percent IS NULL OR (discount_percent > 0 AND discount_percent <= 100)",
        )
        op.create_check_constraint(
            "ck_enrollment_codes_one_discount",
            "enrollment_codes",
            "discount_amount IS NULL OR discount_percent IS NULL",
        )

    # Pending orders: the price once per learner, on the first line.
    op.execute(
        "UPDATE order_lines SET unit_price = 0, discount = 0"
        " WHERE order_id IN (SELECT id FROM orders WHERE state = 'pending')"
        " AND id > (SELECT min(l2.id) FROM order_lines l2 WHERE l2.order_id = order_lines.order_id)"
    )
    op.execute(
        "UPDATE orders SET total = (SELECT coalesce(sum(l.unit_price - l.discount), 0)"
        " FROM order_lines l WHERE l.order_id = orders.id) WHERE state = 'pending'"
    )

    if bind.dialect.name == "postgresql":
        op.add_column("contracts", sa.Column("renewed_from_id", sa.Integer()))
        op.create_foreign_key(
            "fk_contracts_renewed_from_id_contracts",
            "contracts",
            "contracts",
            ["renewed_from_id"],
            ["id"],
        )
    else:  # SQLite adds a foreign key only inline, with the column
        op.execute(
            "ALTER TABLE contracts ADD COLUMN renewed_from_id INTEGER"
            " REFERENCES contracts (id)"
        )
    op.create_index("uq_contracts_renewed_from_id", "contracts", ["renewed_from_id"], unique=True)
    op.add_column(
        "memberships",
        sa.Column("notices_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "organizations",
        sa.Column("invite_reminders", sa.Boolean(), nullable=False, server_default=sa.true()),
    )

    op.create_index(op.f("ix_orders_created_at"), "orders", ["created_at"])
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "notice_kind",
                "contract_ending",
                "contract_ended",
                "seats_used",
                "unredeemed_digest",
                "code_reminder",
                "scheduled_report",
            ),
            nullable=False,
        ),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=True),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_notices_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"],
            ["outbox_messages.id"],
            name=op.f("fk_notices_outbox_message_id_outbox_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint(
            "kind",
            "subject_type",
            "subject_id",
            "recipient",
            "key",
            name=op.f("uq_notices_kind_subject_type_subject_id_recipient_key"),
        ),
    )
    op.create_index(op.f("ix_notices_organization_id"), "notices", ["organization_id"])

    op.create_table(
        "report_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("frequency", _enum("report_frequency", "weekly", "monthly"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_period", sa.String(length=16), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_report_subscriptions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_report_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_subscriptions")),
        sa.UniqueConstraint(
            "organization_id", "user_id", name=op.f("uq_report_subscriptions_organization_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_report_subscriptions_organization_id"), "report_subscriptions", ["organization_id"]
    )
    op.create_index(op.f("ix_report_subscriptions_user_id"), "report_subscriptions", ["user_id"])

    op.create_table(
        "scheduled_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_runs")),
        sa.UniqueConstraint("name", "period_start", name=op.f("uq_scheduled_runs_name_period_start")),
    )
    op.create_index(
        "ix_scheduled_runs_name_started_at", "scheduled_runs", ["name", "started_at"]
    )

    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("access", _enum("refund_access", "keep", "revoke"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "state", _enum("refund_state", "requested", "succeeded", "failed"), nullable=False
        ),
        sa.Column("provider_refund_id", sa.String(length=64), nullable=True),
        sa.Column("provider_status", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_refunds_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("request_key", name=op.f("uq_refunds_request_key")),
    )
    op.create_index(op.f("ix_refunds_order_id"), "refunds", ["order_id"])


def downgrade():
    op.drop_index(op.f("ix_orders_created_at"), table_name="orders")
    op.drop_index(op.f("ix_refunds_order_id"), table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_scheduled_runs_name_started_at", table_name="scheduled_runs")
    op.drop_table("scheduled_runs")
    op.drop_index(op.f("ix_report_subscriptions_user_id"), table_name="report_subscriptions")
    op.drop_index(
        op.f("ix_report_subscriptions_organization_id"), table_name="report_subscriptions"
    )
    op.drop_table("report_subscriptions")
    op.drop_index(op.f("ix_notices_organization_id"), table_name="notices")
    op.drop_table("notices")
    bind = op.get_bind()
    op.drop_column("organizations", "invite_reminders")
    op.drop_column("memberships", "notices_opt_out")
    if bind.dialect.name == "postgresql":
        op.drop_constraint(
            "fk_contracts_renewed_from_id_contracts", "contracts", type_="foreignkey"
        )
    op.drop_index("uq_contracts_renewed_from_id", table_name="contracts")
    op.drop_column("contracts", "renewed_from_id")
    if bind.dialect.name == "postgresql":
        for name in ("discount_percent", "one_discount"):
            op.drop_constraint(f"ck_enrollment_codes_{name}", "enrollment_codes", type_="check")
        op.execute(
            "ALTER TABLE enrollment_codes RENAME CONSTRAINT ck_enrollment_codes_discount_amount"
            " TO ck_enrollment_codes_amount"
        )
    else:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS enrollment_codes_discount_{event}")
    op.drop_column("enrollment_codes", "discount_percent")
    op.execute("UPDATE enrollment_codes SET discount_amount = NULL")
    op.execute("ALTER TABLE enrollment_codes RENAME COLUMN discount_amount TO amount")
