"""A job's progress step is cut to its column: a handler's long message must not fail the job on
PostgreSQL (a 70-character step once failed every courseware removal there)."""

from __future__ import annotations

from typing import Any

from portal.jobs.registry import STEP_LENGTH, JobContext
from portal.models import BackgroundJob
from tests.support.factories import BackgroundJobFactory


def test_a_long_step_is_stored_cut_to_the_column(db: Any) -> None:
    job = BackgroundJobFactory()
    db.session.commit()
    JobContext(job).set_step("x" * 70 + " the end")
    db.session.expire_all()
    stored = db.session.get(BackgroundJob, job.id)
    assert stored is not None and stored.step == "x" * STEP_LENGTH
    assert BackgroundJob.__table__.c.step.type.length == STEP_LENGTH  # type: ignore[attr-defined]
