"""Progress of long jobs: done / total / unit on each job, and the rows of bulk code assignments

Revision ID: d4e6f8a0b2c3
Revises: c3d5e7f9a1b2
Create Date: 2026-12-04 04:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d4e6f8a0b2c3"
down_revision = "c3d5e7f9a1b2"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs (SQLite has them; a batch rebuild of a table others reference is avoided).
    op.add_column("background_jobs", sa.Column("progress_done", sa.Integer(), nullable=True))
    op.add_column("background_jobs", sa.Column("progress_total", sa.Integer(), nullable=True))
    op.add_column(
        "background_jobs",
        sa.Column("progress_unit", sa.String(32), nullable=False, server_default=""),
    )
    op.add_column(
        "background_jobs", sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True)
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite cannot add a CHECK to a table
        op.create_check_constraint(
            "ck_background_jobs_progress",
            "background_jobs",
            "progress_done >= 0 AND progress_total >= 0",
        )
    op.create_table(
        "bulk_assignment_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("given", sa.String(320), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["background_jobs.id"],
            name="fk_bulk_assignment_rows_job_id_background_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bulk_assignment_rows"),
        sa.UniqueConstraint("job_id", "line", name="uq_bulk_assignment_rows_job_id_line"),
    )
    op.create_index("ix_bulk_assignment_rows_job_id", "bulk_assignment_rows", ["job_id"])


def downgrade():
    op.drop_index("ix_bulk_assignment_rows_job_id", table_name="bulk_assignment_rows")
    op.drop_table("bulk_assignment_rows")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_background_jobs_progress", "background_jobs", type_="check")
    for name in ("progress_at", "progress_unit", "progress_total", "progress_done"):
        op.drop_column("background_jobs", name)
