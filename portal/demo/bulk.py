"""Many learners at once, for query-count tests and the benchmarks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from portal.extensions import db
from portal.models import (
    Contract,
    CourseRun,
    EdxSyncState,
    Enrollment,
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
