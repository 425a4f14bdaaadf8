"""running totals of seats per contract and day and of active enrollments per contract run, kept by
triggers, so the seat limit check and the org admin's overview stop counting every learner

Revision ID: f4a7c2e9b1d3
Revises: e3b5c8a1d2f6
Create Date: 2026-11-21 13:00:00

The triggers are written for PostgreSQL (plpgsql) and for SQLite (which has no functions, so each
trigger spells out its upserts). Both add a seat's claim on the UTC day of ``claimed_at`` and its
revocation on the UTC day of ``revoked_at``; an update takes the old row's share away and adds the
new row's. Existing rows are counted once at the end of the upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "f4a7c2e9b1d3"
down_revision = "e3b5c8a1d2f6"
branch_labels = None
depends_on = None

SEAT_DAY_UPSERT = (
    "INSERT INTO contract_seat_days (contract_id, day, claims, revokes) VALUES ({values})"
    " ON CONFLICT (contract_id, day) DO UPDATE SET"
    " claims = contract_seat_days.claims + excluded.claims,"
    " revokes = contract_seat_days.revokes + excluded.revokes"
)
RUN_UPSERT = (
    "INSERT INTO contract_run_enrollments (contract_id, course_run_id, active) VALUES ({values})"
    " ON CONFLICT (contract_id, course_run_id) DO UPDATE SET"
    " active = contract_run_enrollments.active + excluded.active"
)
SEAT_CHANGED = (
    "OLD.contract_id IS DISTINCT FROM NEW.contract_id"
    " OR OLD.claimed_at IS DISTINCT FROM NEW.claimed_at"
    " OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at"
)
ENROLLMENT_CHANGED = (
    "OLD.active IS DISTINCT FROM NEW.active"
    " OR OLD.contract_id IS DISTINCT FROM NEW.contract_id"
    " OR OLD.course_run_id IS DISTINCT FROM NEW.course_run_id"
)

POSTGRES_UP = [
    f"""
    CREATE FUNCTION usage_seat_day(cid integer, at timestamptz, dc integer, dr integer)
    RETURNS void LANGUAGE sql AS $$
        {SEAT_DAY_UPSERT.format(values="cid, (at AT TIME ZONE 'UTC')::date, dc, dr")}
    $$
    """,
    f"""
    CREATE FUNCTION usage_run(cid integer, rid integer, n integer)
    RETURNS void LANGUAGE sql AS $$
        {RUN_UPSERT.format(values="cid, rid, n")}
    $$
    """,
    """
    CREATE FUNCTION usage_seats_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM usage_seat_day(OLD.contract_id, OLD.claimed_at, -1, 0);
            IF OLD.revoked_at IS NOT NULL THEN
                PERFORM usage_seat_day(OLD.contract_id, OLD.revoked_at, 0, -1);
            END IF;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            PERFORM usage_seat_day(NEW.contract_id, NEW.claimed_at, 1, 0);
            IF NEW.revoked_at IS NOT NULL THEN
                PERFORM usage_seat_day(NEW.contract_id, NEW.revoked_at, 0, 1);
            END IF;
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION usage_enrollments_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.active AND OLD.contract_id IS NOT NULL THEN
            PERFORM usage_run(OLD.contract_id, OLD.course_run_id, -1);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.active AND NEW.contract_id IS NOT NULL THEN
            PERFORM usage_run(NEW.contract_id, NEW.course_run_id, 1);
        END IF;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER usage_seats_insert_delete AFTER INSERT OR DELETE ON seats"
    " FOR EACH ROW EXECUTE FUNCTION usage_seats_changed()",
    "CREATE TRIGGER usage_seats_update AFTER UPDATE ON seats"
    f" FOR EACH ROW WHEN ({SEAT_CHANGED}) EXECUTE FUNCTION usage_seats_changed()",
    "CREATE TRIGGER usage_enrollments_insert_delete AFTER INSERT OR DELETE ON enrollments"
    " FOR EACH ROW EXECUTE FUNCTION usage_enrollments_changed()",
    "CREATE TRIGGER usage_enrollments_update AFTER UPDATE ON enrollments"
    f" FOR EACH ROW WHEN ({ENROLLMENT_CHANGED}) EXECUTE FUNCTION usage_enrollments_changed()",
]
POSTGRES_DOWN = [
    "DROP TRIGGER usage_enrollments_update ON enrollments",
    "DROP TRIGGER usage_enrollments_insert_delete ON enrollments",
    "DROP TRIGGER usage_seats_update ON seats",
    "DROP TRIGGER usage_seats_insert_delete ON seats",
    "DROP FUNCTION usage_enrollments_changed()",
    "DROP FUNCTION usage_seats_changed()",
    "DROP FUNCTION usage_run(integer, integer, integer)",
    "DROP FUNCTION usage_seat_day(integer, timestamptz, integer, integer)",
]


def _sqlite_seat_steps(row: str, sign: int) -> str:
    """The upserts that add (sign 1) or take away (sign -1) one seat row's share."""
    claim = SEAT_DAY_UPSERT.format(values=f"{row}.contract_id, date({row}.claimed_at), {sign}, 0")
    revoke = SEAT_DAY_UPSERT.replace(" VALUES ({values})", " SELECT {values}").format(
        values=f"{row}.contract_id, date({row}.revoked_at), 0, {sign}"
        f" WHERE {row}.revoked_at IS NOT NULL"
    )
    return f"{claim};\n{revoke};"


def _sqlite_run_step(row: str, sign: int) -> str:
    return (
        RUN_UPSERT.replace(" VALUES ({values})", " SELECT {values}").format(
            values=f"{row}.contract_id, {row}.course_run_id, {sign}"
            f" WHERE {row}.active AND {row}.contract_id IS NOT NULL"
        )
        + ";"
    )


def _sqlite(condition: str) -> str:
    """SQLite before 3.39 has no IS DISTINCT FROM; its IS NOT is the same null-safe test."""
    return condition.replace(" IS DISTINCT FROM ", " IS NOT ")


SQLITE_UP = [
    "CREATE TRIGGER usage_seats_insert AFTER INSERT ON seats BEGIN\n"
    f"{_sqlite_seat_steps('NEW', 1)}\nEND",
    "CREATE TRIGGER usage_seats_delete AFTER DELETE ON seats BEGIN\n"
    f"{_sqlite_seat_steps('OLD', -1)}\nEND",
    f"CREATE TRIGGER usage_seats_update AFTER UPDATE ON seats WHEN {_sqlite(SEAT_CHANGED)} BEGIN\n"
    f"{_sqlite_seat_steps('OLD', -1)}\n{_sqlite_seat_steps('NEW', 1)}\nEND",
    "CREATE TRIGGER usage_enrollments_insert AFTER INSERT ON enrollments BEGIN\n"
    f"{_sqlite_run_step('NEW', 1)}\nEND",
    "CREATE TRIGGER usage_enrollments_delete AFTER DELETE ON enrollments BEGIN\n"
    f"{_sqlite_run_step('OLD', -1)}\nEND",
    "CREATE TRIGGER usage_enrollments_update AFTER UPDATE ON enrollments"
    f" WHEN {_sqlite(ENROLLMENT_CHANGED)} BEGIN\n"
    f"{_sqlite_run_step('OLD', -1)}\n{_sqlite_run_step('NEW', 1)}\nEND",
]
SQLITE_DOWN = [
    f"DROP TRIGGER {name}"
    for name in (
        "usage_enrollments_update",
        "usage_enrollments_delete",
        "usage_enrollments_insert",
        "usage_seats_update",
        "usage_seats_delete",
        "usage_seats_insert",
    )
]


def _utc_day(column: str, dialect: str) -> str:
    return f"({column} AT TIME ZONE 'UTC')::date" if dialect == "postgresql" else f"date({column})"


def upgrade():
    op.create_table(
        "contract_seat_days",
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("revokes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_seat_days_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contract_id", "day", name=op.f("pk_contract_seat_days")),
    )
    op.create_table(
        "contract_run_enrollments",
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("course_run_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_run_enrollments_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_run_id"],
            ["course_runs.id"],
            name=op.f("fk_contract_run_enrollments_course_run_id_course_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "contract_id", "course_run_id", name=op.f("pk_contract_run_enrollments")
        ),
    )
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_UP if dialect == "postgresql" else SQLITE_UP:
        op.execute(statement)
    # What is already there, counted once (the triggers count everything written from now on).
    claimed, revoked = _utc_day("claimed_at", dialect), _utc_day("revoked_at", dialect)
    op.execute(  # noqa: S608 - our own fixed SQL, no input
        "INSERT INTO contract_seat_days (contract_id, day, claims, revokes)"
        " SELECT contract_id, day, sum(claims), sum(revokes) FROM ("
        f" SELECT contract_id, {claimed} AS day, 1 AS claims, 0 AS revokes FROM seats"
        f" UNION ALL SELECT contract_id, {revoked}, 0, 1 FROM seats WHERE revoked_at IS NOT NULL"
        ") AS changes GROUP BY contract_id, day"
    )
    op.execute(
        "INSERT INTO contract_run_enrollments (contract_id, course_run_id, active)"
        " SELECT contract_id, course_run_id, count(*) FROM enrollments"
        " WHERE active AND contract_id IS NOT NULL GROUP BY contract_id, course_run_id"
    )


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_DOWN if dialect == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("contract_run_enrollments")
    op.drop_table("contract_seat_days")
