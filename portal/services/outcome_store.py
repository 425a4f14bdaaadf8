"""Writing what the outcome sync read from edX into ``learning_outcomes``: one bulk upsert per page
that touches only the rows whose values changed, so a rerun with nothing new writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, and_, case, exists, func, or_, select, update
from sqlalchemy.sql.dml import Insert

from portal.extensions import db
from portal.integrations.openedx_outcomes import Certificate, Grade
from portal.models import (
    CERTIFICATE_EARNED,
    Enrollment,
    LearningOutcome,
    OutcomeStatus,
    User,
    utcnow,
)

OUTCOMES: Table = LearningOutcome.__table__  # type: ignore[assignment]
CERTIFICATE_BATCH = 200


def _insert() -> Insert:
    """An INSERT with ON CONFLICT for this database (PostgreSQL or SQLite)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(OUTCOMES)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(OUTCOMES)


def portal_learners(course_run_id: int, usernames: Iterable[str]) -> dict[str, int]:
    """edX username -> portal user id, for the learners of ``usernames`` the portal enrolled in the
    run (an edX learner the portal does not know is left out: the sync ignores and counts it).
    The usernames' unique index drives it, each probing the (user, run) enrollment index."""
    names = sorted(set(usernames))
    if not names:
        return {}
    rows = db.session.execute(
        select(User.edx_username, User.id).where(
            User.edx_username.in_(names),
            exists().where(
                Enrollment.user_id == User.id, Enrollment.course_run_id == course_run_id
            ),
        )
    )
    return {str(name): int(user_id) for name, user_id in rows}


def _upsert(rows: list[dict[str, Any]], changes: dict[str, Any], differs: Any) -> int:
    """INSERT the rows, or UPDATE the existing ones where ``differs``; returns how many rows were
    written. One statement compiled once and sent as a batch (SQLAlchemy's "insertmanyvalues"),
    whose RETURNING lists only the rows written."""
    if not rows:
        return 0
    stmt: Any = _insert()
    stmt = stmt.on_conflict_do_update(
        index_elements=["course_run_id", "user_id"],
        set_={name: value(stmt.excluded) for name, value in changes.items()},
        where=differs(stmt.excluded),
    ).returning(OUTCOMES.c.id)
    return len(db.session.execute(stmt, rows).all())


def record_grades(
    course_run_id: int, grades: list[Grade], known: dict[str, int], now: dt.datetime | None = None
) -> int:
    """Upsert one page of grades of the ``known`` learners (``portal_learners``); returns how
    many rows were inserted or changed."""
    now = now or utcnow()
    by_user = {
        known[g.username]: {
            "course_run_id": course_run_id,
            "user_id": known[g.username],
            "percent": g.percent,
            "letter_grade": g.letter_grade,
            "passed": g.passed,
            "completed_at": now if g.passed else None,
            "synced_at": now,
            "changed_at": now,
        }
        for g in grades
        if g.username in known
    }
    c = OUTCOMES.c
    return _upsert(
        list(by_user.values()),
        {
            "percent": lambda x: x.percent,
            "letter_grade": lambda x: x.letter_grade,
            "passed": lambda x: x.passed,
            # The first sync that saw the pass dates it; a pass withdrawn in edX clears it.
            "completed_at": lambda x: case(
                (x.passed.is_(True), func.coalesce(c.completed_at, x.completed_at)), else_=None
            ),
            "synced_at": lambda x: x.synced_at,
            "changed_at": lambda x: x.changed_at,
        },
        lambda x: or_(
            c.percent.is_distinct_from(x.percent),
            c.letter_grade.is_distinct_from(x.letter_grade),
            c.passed.is_distinct_from(x.passed),
        ),
    )


def record_progress(
    course_run_id: int, progress: dict[int, float], now: dt.datetime | None = None
) -> int:
    """Upsert one page of progress (portal user id -> 0..1); returns the rows changed."""
    now = now or utcnow()
    rows = [
        {
            "course_run_id": course_run_id,
            "user_id": user_id,
            "progress": value,
            "passed": False,
            "synced_at": now,
            "changed_at": now,
        }
        for user_id, value in progress.items()
    ]
    c = OUTCOMES.c
    return _upsert(
        rows,
        {
            "progress": lambda x: x.progress,
            "synced_at": lambda x: x.synced_at,
            "changed_at": lambda x: x.changed_at,
        },
        lambda x: c.progress.is_distinct_from(x.progress),
    )


def certificate_candidates(
    course_run_id: int, after_id: int, *, recheck: bool
) -> list[tuple[int, str]]:
    """(outcome id, edX username) of the next learners who passed and whose certificate may be
    new: those without an earned one recorded (all who passed when ``recheck``)."""
    query = (
        select(LearningOutcome.id, User.edx_username)
        .join(User, User.id == LearningOutcome.user_id)
        .where(
            LearningOutcome.course_run_id == course_run_id,
            LearningOutcome.passed.is_(True),
            LearningOutcome.id > after_id,
            User.edx_username.is_not(None),
        )
        .order_by(LearningOutcome.id)
        .limit(CERTIFICATE_BATCH)
    )
    if not recheck:
        query = query.where(LearningOutcome.certificate_status.is_distinct_from(CERTIFICATE_EARNED))
    return [(int(i), str(name)) for i, name in db.session.execute(query)]


def record_certificate(outcome_id: int, cert: Certificate | None) -> bool:
    """Store the learner's certificate (or its absence); True when that changed anything."""
    values: dict[str, Any] = {
        "certificate_status": cert.status if cert else None,
        "certificate_type": cert.certificate_type if cert else None,
        "certificate_url": cert.download_url if cert else None,
        "certificate_created_at": cert.created if cert else None,
    }
    c = OUTCOMES.c
    statement = (
        update(OUTCOMES)
        .where(
            c.id == outcome_id,
            or_(*(c[name].is_distinct_from(value) for name, value in values.items())),
        )
        .values(**values, changed_at=utcnow())
    )
    if cert is not None and cert.status == CERTIFICATE_EARNED and cert.created is not None:
        statement = statement.values(completed_at=cert.created)  # the certificate dates the pass
    return bool(getattr(db.session.execute(statement), "rowcount", 0))


def run_totals(course_run_id: int) -> dict[str, Any]:
    """The run's totals over its active enrollments: learners, started, passed, certificates and
    the sum of progress (one aggregate; the summary pages read this snapshot)."""
    status = LearningOutcome.status
    row = db.session.execute(
        select(
            func.count(Enrollment.id),
            func.sum(case((status != OutcomeStatus.NOT_STARTED.value, 1), else_=0)),
            func.sum(case((LearningOutcome.passed.is_(True), 1), else_=0)),
            func.sum(case((LearningOutcome.certificate_status == CERTIFICATE_EARNED, 1), else_=0)),
            func.sum(func.coalesce(LearningOutcome.progress, 0.0)),
        )
        .select_from(Enrollment)
        .outerjoin(
            LearningOutcome,
            and_(
                LearningOutcome.course_run_id == Enrollment.course_run_id,
                LearningOutcome.user_id == Enrollment.user_id,
            ),
        )
        .where(Enrollment.course_run_id == course_run_id, Enrollment.active.is_(True))
    ).one()
    learners, started, passed, certificates, progress_sum = row
    return {
        "learners": int(learners or 0),
        "started": int(started or 0),
        "passed": int(passed or 0),
        "certificates": int(certificates or 0),
        "progress_sum": round(float(progress_sum or 0.0), 4),
    }
