"""allow the custom-b2c restriction type (Course Discovery ADR 27 has two types)

Revision ID: b1c2d3e4f5a6
Revises: d8473018d44a
Create Date: 2026-11-21 06:00:00

"""
from alembic import op

revision = "b1c2d3e4f5a6"
down_revision = "d8473018d44a"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("course_runs") as batch_op:
        batch_op.drop_constraint(op.f("ck_course_runs_restriction_type"), type_="check")
        batch_op.create_check_constraint(
            "restriction_type",
            "restriction_type IS NULL OR restriction_type IN ('custom-b2b-enterprise', 'custom-b2c')",
        )


def downgrade():
    with op.batch_alter_table("course_runs") as batch_op:
        batch_op.drop_constraint(op.f("ck_course_runs_restriction_type"), type_="check")
        batch_op.create_check_constraint(
            "restriction_type",
            "restriction_type IS NULL OR restriction_type IN ('custom-b2b-enterprise')",
        )
