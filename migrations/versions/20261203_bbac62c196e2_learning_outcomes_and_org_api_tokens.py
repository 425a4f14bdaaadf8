"""Learning outcomes read from edX (grades, progress, certificates) with each run's sync state, and
organization API tokens

Revision ID: bbac62c196e2
Revises: b6e2f8a4c1d9
Create Date: 2026-12-03 20:09:33.685679

"""

import sqlalchemy as sa
from alembic import op

revision = "bbac62c196e2"
down_revision = "b6e2f8a4c1d9"
branch_labels = None
depends_on = None


def upgrade():
    # A learner's enrollments through one contract: their outcome in it, asked per seat.
    op.create_index("ix_enrollments_user_contract", "enrollments", ["user_id", "contract_id"])
    op.create_table(
        "organization_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_organization_api_tokens_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_api_tokens_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_organization_api_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_organization_api_tokens_organization_id"),
        "organization_api_tokens",
        ["organization_id"],
    )

    op.create_table(
        "learning_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_run_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Double(), nullable=True),
        sa.Column("letter_grade", sa.String(length=64), nullable=True),
        sa.Column("passed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("progress", sa.Double(), nullable=True),
        sa.Column("certificate_status", sa.String(length=32), nullable=True),
        sa.Column("certificate_type", sa.String(length=32), nullable=True),
        sa.Column("certificate_url", sa.String(length=1000), nullable=True),
        sa.Column("certificate_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "percent IS NULL OR (percent >= 0 AND percent <= 1)",
            name=op.f("ck_learning_outcomes_percent"),
        ),
        sa.CheckConstraint(
            "progress IS NULL OR (progress >= 0 AND progress <= 1)",
            name=op.f("ck_learning_outcomes_progress"),
        ),
        sa.ForeignKeyConstraint(
            ["course_run_id"],
            ["course_runs.id"],
            name=op.f("fk_learning_outcomes_course_run_id_course_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_learning_outcomes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_outcomes")),
        sa.UniqueConstraint(
            "course_run_id", "user_id", name=op.f("uq_learning_outcomes_course_run_id_user_id")
        ),
    )
    op.create_index(
        "ix_learning_outcomes_run_completed", "learning_outcomes", ["course_run_id", "completed_at"]
    )
    op.create_index(op.f("ix_learning_outcomes_user_id"), "learning_outcomes", ["user_id"])

    op.create_table(
        "outcome_syncs",
        sa.Column("course_run_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_run_id"],
            ["course_runs.id"],
            name=op.f("fk_outcome_syncs_course_run_id_course_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["background_jobs.id"],
            name=op.f("fk_outcome_syncs_job_id_background_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("course_run_id", name=op.f("pk_outcome_syncs")),
    )


def downgrade():
    op.drop_index("ix_enrollments_user_contract", table_name="enrollments")
    op.drop_table("outcome_syncs")
    op.drop_index(op.f("ix_learning_outcomes_user_id"), table_name="learning_outcomes")
    op.drop_index("ix_learning_outcomes_run_completed", table_name="learning_outcomes")

    op.drop_table("learning_outcomes")
    op.drop_index(
        op.f("ix_organization_api_tokens_organization_id"), table_name="organization_api_tokens"
    )

    op.drop_table("organization_api_tokens")
