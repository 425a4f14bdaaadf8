"""When each contract run's outcomes are synced from edX, and the state staff see.

* Scheduled: the long-running worker's scheduler records one sync job per contract run with active
  enrollments every ``OPENEDX_OUTCOME_SYNC_INTERVAL_SECONDS`` (default hourly), for runs that have
  not ended more than ``OPENEDX_OUTCOME_SYNC_AFTER_END_DAYS`` ago. A run is claimed with a
  conditional UPDATE of its ``outcome_syncs`` row, so several schedulers record it once.
* On demand: staff sync a run now (``request_outcome_sync``), which also re-reads certificates
  already recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from sqlalchemy import exists, or_, select, update

from portal.core.domain_errors import Conflict
from portal.extensions import db
from portal.jobs import JobKind, record_job
from portal.models import (
    BackgroundJob,
    ContractRunEnrollments,
    CourseRun,
    EdxRunState,
    OutcomeSync,
    OutcomeSyncState,
    utcnow,
)
from portal.services.jobs import start_job

BUSY = (OutcomeSyncState.QUEUED.value, OutcomeSyncState.RUNNING.value)


def _settings() -> Any:
    return current_app.config["PORTAL"]


def sync_row(course_run_id: int) -> OutcomeSync:
    """The run's sync row, created on first use."""
    row = db.session.get(OutcomeSync, course_run_id)
    if row is None:
        row = OutcomeSync(course_run_id=course_run_id, state=OutcomeSyncState.NEVER.value)
        db.session.add(row)
        db.session.flush()
    return row


def _due_runs(now: dt.datetime) -> Any:
    """Contract runs edX has, with active enrollments, not ended too long ago."""
    ended_before = now - dt.timedelta(days=int(_settings().openedx_outcome_sync_after_end_days))
    return select(CourseRun.id).where(
        CourseRun.contract_id.is_not(None),
        CourseRun.edx_state == EdxRunState.READY,
        or_(CourseRun.end_at.is_(None), CourseRun.end_at > ended_before),
        exists().where(
            ContractRunEnrollments.course_run_id == CourseRun.id,
            ContractRunEnrollments.active > 0,
        ),
    )


def schedule_outcome_syncs(now: dt.datetime | None = None) -> list[BackgroundJob]:
    """Record the sync of every run that is due (the caller commits); returns the jobs."""
    interval = float(_settings().openedx_outcome_sync_interval_seconds)
    if interval <= 0:
        return []
    now = now or utcnow()
    due = _due_runs(now)
    missing = db.session.scalars(
        select(CourseRun.id).where(
            CourseRun.id.in_(due),
            ~exists().where(OutcomeSync.course_run_id == CourseRun.id),
        )
    ).all()
    for run_id in missing:
        db.session.add(OutcomeSync(course_run_id=run_id, state=OutcomeSyncState.NEVER.value))
    db.session.flush()
    # The claim: a scheduler that loses the race to another finds the row already requested.
    claimed = db.session.scalars(
        update(OutcomeSync)
        .where(
            OutcomeSync.course_run_id.in_(due),
            OutcomeSync.state.not_in(BUSY),
            or_(
                OutcomeSync.requested_at.is_(None),
                OutcomeSync.requested_at <= now - dt.timedelta(seconds=interval),
            ),
        )
        .values(requested_at=now, state=OutcomeSyncState.QUEUED.value)
        .returning(OutcomeSync.course_run_id)
        .execution_options(synchronize_session=False)
    ).all()
    jobs = []
    for run_id in sorted(claimed):
        job = record_job(
            JobKind.OPENEDX_SYNC_OUTCOMES,
            {"course_run_id": run_id, "scheduled": True},
            object_type="course_run",
            object_id=run_id,
        )
        db.session.execute(
            update(OutcomeSync).where(OutcomeSync.course_run_id == run_id).values(job_id=job.id)
        )
        jobs.append(job)
    return jobs


def request_outcome_sync(run: CourseRun) -> BackgroundJob:
    """Staff's "Sync outcomes now": a full sync (certificates re-read too), audited."""
    row = sync_row(run.id)
    if row.state in BUSY:
        raise Conflict(
            f"The outcomes of {run.course_key} are already being synced (job {row.job_id}); "
            "the page shows the result when it finishes."
        )
    job = start_job(
        JobKind.OPENEDX_SYNC_OUTCOMES,
        {"course_run_id": run.id, "full": True},
        about=("course_run", run.id),
        action="course_run.outcome_sync_requested",
    )
    row.state = OutcomeSyncState.QUEUED.value
    row.requested_at = utcnow()
    row.job_id = job.id
    return job


def mark_running(course_run_id: int, job_id: int) -> None:
    row = sync_row(course_run_id)
    row.state = OutcomeSyncState.RUNNING.value
    row.job_id = job_id
    row.started_at = utcnow()


def mark_succeeded(course_run_id: int, counts: dict[str, Any], totals: dict[str, Any]) -> None:
    row = sync_row(course_run_id)
    now = utcnow()
    row.state = OutcomeSyncState.SUCCEEDED.value
    row.finished_at = row.last_success_at = now
    row.last_error = None
    row.counts = counts
    row.totals = totals


def mark_failed(course_run_id: int, message: str) -> None:
    row = sync_row(course_run_id)
    row.state = OutcomeSyncState.FAILED.value
    row.finished_at = utcnow()
    row.last_error = message[:4000]


def mark_retrying(course_run_id: int, message: str) -> None:
    """A transient failure: the job waits for its retry; staff see why."""
    row = sync_row(course_run_id)
    row.state = OutcomeSyncState.QUEUED.value
    row.last_error = message[:4000]
