"""Running one recorded job: claim it, run its handler, record the outcome.

The claim is a conditional UPDATE, so two deliveries of the same job (a sweeper re-send, a duplicate
in Redis) never run it twice at once, and a job waiting for its retry time never runs early.
"""

from __future__ import annotations

import datetime as dt
import logging
import random

from flask import current_app, has_app_context
from sqlalchemy import update

from portal.extensions import db
from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.registry import JobContext, failure_hook, handler_for, no_progress
from portal.models import BackgroundJob, JobState, utcnow

log = logging.getLogger(__name__)

BACKOFF_CAP_SECONDS = 300.0


def backoff_seconds(attempt: int, retry_after: float | None = None, base: float = 2.0) -> float:
    """Exponential backoff with jitter; a server's ``Retry-After`` is honoured as a floor."""
    delay = min(BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempt - 1))
    delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


def execute(job_id: int) -> str:
    """RQ entry point. Returns the job's resulting state (for RQ's own records and for tests)."""
    if has_app_context():
        return _execute(job_id)
    from portal.jobs.worker import worker_app

    with worker_app().app_context():
        return _execute(job_id)


def _claim(job_id: int) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(BackgroundJob)
        .where(
            BackgroundJob.id == job_id,
            BackgroundJob.state.in_([JobState.PENDING, JobState.QUEUED]),
            BackgroundJob.run_after <= now,
        )
        .values(
            state=JobState.RUNNING,
            attempts=BackgroundJob.attempts + 1,
            started_at=now,
            updated_at=now,
            **no_progress(),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(getattr(result, "rowcount", 0))


def _execute(job_id: int) -> str:
    if not _claim(job_id):
        return "skipped"
    job = db.session.get(BackgroundJob, job_id)
    assert job is not None
    ctx = JobContext(job)
    try:
        handler_for(job.kind)(ctx)
    except TransientJobError as exc:
        return _after_failure(job_id, ctx, str(exc), retry_after=exc.retry_after, transient=True)
    except PermanentJobError as exc:
        return _after_failure(job_id, ctx, str(exc), transient=False)
    except Exception as exc:
        # An unexpected error (a bug, a database restart): keep it visible and retry a bounded number
        # of times, since many such errors are transient.
        log.exception("job %s (%s) raised", job_id, job.kind)
        return _after_failure(job_id, ctx, f"{type(exc).__name__}: {exc}", transient=True)
    _keep_progress(job, ctx)
    job.state = JobState.SUCCEEDED
    job.step = "done"
    job.last_error = None
    job.finished_at = utcnow()
    db.session.commit()
    return JobState.SUCCEEDED.value


def _keep_progress(job: BackgroundJob, ctx: JobContext) -> None:
    """Write the progress the throttle held back with the outcome: the bar ends where the work
    did (a job that fails after three chunks shows three chunks done)."""
    held = ctx.take_unsent()
    if held is not None:
        for name, value in held.items():
            setattr(job, name, value)
        job.progress_at = utcnow()


def _after_failure(
    job_id: int,
    ctx: JobContext,
    message: str,
    *,
    transient: bool,
    retry_after: float | None = None,
) -> str:
    db.session.rollback()
    job = db.session.get(BackgroundJob, job_id)
    assert job is not None
    _keep_progress(job, ctx)
    job.last_error = message[:4000]
    if transient and job.attempts < job.max_attempts:
        base = current_app.config["PORTAL"].job_backoff_base_seconds
        delay = backoff_seconds(job.attempts, retry_after, base)
        job.state = JobState.PENDING
        job.run_after = utcnow() + dt.timedelta(seconds=delay)
        job.enqueued_at = None
        db.session.commit()
        log.info("job %s retry %s in %.1fs: %s", job_id, job.attempts, delay, message)
        from portal.jobs.queue import dispatch

        dispatch([job_id], when=job.run_after)
        return JobState.PENDING.value
    job.state = JobState.FAILED
    job.finished_at = utcnow()
    hook = failure_hook(job.kind)
    if hook is not None:
        hook(job, job.last_error)
    db.session.commit()
    log.warning("job %s failed for good: %s", job_id, message)
    return JobState.FAILED.value
