"""Many learners at once, for query-count tests and the benchmarks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, insert, select

from portal.extensions import db
from portal.models import (
    Contract,
    CourseRun,
    EdxSyncState,
    Enrollment,
    LearningOutcome,
    Seat,
    SeatSource,
    User,
    utcnow,
)


def add_bulk_learners(
    contract: Contract, run: CourseRun | None, count: int, *, prefix: str = "bulk"
) -> None:
    """``count`` learners, each with a seat on ``contract`` (claimed over the last 50 days) and an
    active enrollment in ``run``, inserted in bulk (5,000 rows a statement) and committed: data
    for query-count tests and the org admin benchmark. It bypasses the seat limit on purpose."""
    s = db.session
    now = utcnow()
    for offset in range(0, count, 5000):
        n = min(5000, count - offset)
        ids = list(
            s.scalars(
                insert(User).returning(User.id, sort_by_parameter_order=True),
                [
                    {
                        "email": f"{prefix}-{offset + k}@example.com",
                        "name": f"Learner {offset + k}",
                        "edx_username": f"{prefix}_{offset + k}",
                        "created_at": now,
                    }
                    for k in range(n)
                ],
            )
        )
        s.execute(
            insert(Seat),
            [
                {
                    "contract_id": contract.id,
                    "user_id": i,
                    "source": SeatSource.CODE,
                    "claimed_at": now - dt.timedelta(days=i % 50, minutes=i % 1440),
                }
                for i in ids
            ],
        )
        if run is not None:
            s.execute(
                insert(Enrollment),
                [
                    {
                        "user_id": i,
                        "course_run_id": run.id,
                        "contract_id": contract.id,
                        "mode": "verified",
                        "active": True,
                        "edx_state": EdxSyncState.SYNCED,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
    s.commit()


def add_bulk_outcomes(run: CourseRun) -> int:
    """Outcomes for every learner enrolled in ``run`` who has none yet, as a sync would leave them: a third passed
    (with a certificate, completed over the last 50 days), a third in progress, a third not
    started; and the run's sync totals. For query-count tests and benchmarks. Returns the count."""
    from portal.services import outcome_store, outcome_sync

    s = db.session
    now = utcnow()
    users = list(
        s.scalars(
            select(Enrollment.user_id).where(
                Enrollment.course_run_id == run.id,
                ~exists().where(
                    LearningOutcome.course_run_id == run.id,
                    LearningOutcome.user_id == Enrollment.user_id,
                ),
            )
        )
    )
    rows = []
    for n, user_id in enumerate(users):
        kind = n % 3
        rows.append(
            {
                "course_run_id": run.id,
                "user_id": user_id,
                "percent": (0.85, 0.4, 0.0)[kind],
                "letter_grade": "Pass" if kind == 0 else None,
                "passed": kind == 0,
                "progress": (1.0, 0.5, 0.0)[kind],
                "certificate_status": "downloadable" if kind == 0 else None,
                "certificate_url": f"https://lms.example/certificates/{user_id}"
                if kind == 0
                else None,
                "completed_at": now - dt.timedelta(days=n % 50) if kind == 0 else None,
                "synced_at": now,
                "changed_at": now,
            }
        )
    for offset in range(0, len(rows), 5000):
        s.execute(insert(LearningOutcome), rows[offset : offset + 5000])
    outcome_sync.mark_succeeded(run.id, {"grades": len(rows)}, outcome_store.run_totals(run.id))
    s.commit()
    return len(rows)
