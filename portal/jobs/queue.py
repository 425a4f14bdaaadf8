"""Recording jobs in the caller's transaction and handing them over only after it commits."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from redis import Redis
from rq import Queue
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.jobs.registry import no_progress
from portal.models import BackgroundJob, JobState, utcnow

log = logging.getLogger(__name__)
_PENDING = "portal_jobs_to_dispatch"


class _InlineStop:
    """Set when the inline worker was asked to stop (Ctrl-C, SIGTERM): the job running finishes,
    no other starts in this process, and the jobs not started stay pending for the next sweep. A
    plain attribute, not a ``threading.Event``: a signal handler sets it, and setting an event
    takes a lock the interrupted code may hold."""

    requested = False


def stop_inline_jobs(stop: bool = True) -> None:
    """Start no further inline job in this process (``stop=False``: start them again)."""
    _InlineStop.requested = stop


def inline_jobs_stopped() -> bool:
    return _InlineStop.requested


def record_job(
    kind: JobKind | str,
    payload: dict[str, Any] | None = None,
    *,
    object_type: str | None = None,
    object_id: object = None,
    organization_id: int | None = None,
    max_attempts: int = 5,
) -> BackgroundJob:
    """Add a job row to the current transaction; it is dispatched only if that transaction commits."""
    job = BackgroundJob(
        kind=str(kind),
        payload=payload or {},
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        organization_id=organization_id,
        max_attempts=max_attempts,
    )
    db.session.add(job)
    db.session.flush()
    _dispatch_when_committed(job)
    return job


def retry_now(job: BackgroundJob) -> None:
    """Staff's retry button: a failed or cancelled job gets a fresh set of attempts, and is handed
    over when the caller's transaction commits."""
    job.state = JobState.PENDING
    job.attempts = 0
    job.run_after = utcnow()
    job.finished_at = None
    job.enqueued_at = None
    job.last_error = None
    for name, value in no_progress().items():
        setattr(job, name, value)
    db.session.flush()
    _dispatch_when_committed(job)


def _dispatch_when_committed(job: BackgroundJob) -> None:
    db.session.info.setdefault(_PENDING, []).append(job.id)


def leave_to_sweeper() -> None:
    """Commit the jobs recorded so far without handing them over: the sweeper sends them (used where
    another process must run them, e.g. a worker started by a test)."""
    db.session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING, None)
    if ids and has_app_context():
        dispatch(ids)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def redis_connection() -> Redis:
    """The app's Redis client (short timeouts: an unreachable Redis must not hang a request)."""
    ext = current_app.extensions
    if "portal_redis" not in ext:
        ext["portal_redis"] = Redis.from_url(
            current_app.config["PORTAL"].redis_url, socket_connect_timeout=1, socket_timeout=3
        )
    conn: Redis = ext["portal_redis"]
    return conn


def rq_queue() -> Queue:
    return Queue(current_app.config["PORTAL"].job_queue, connection=redis_connection())


def dispatch(job_ids: list[int], *, when: datetime | None = None) -> list[int]:
    """Hand committed jobs to their runner. Returns the ids that were handed over.

    RQ mode: enqueue, then mark the row queued. If Redis is down the row stays pending and the
    sweeper sends it later: nothing is lost. Inline mode (demo): run each job now, in a thread with
    its own app context and database session, and wait for it; once the worker is stopping
    (``stop_inline_jobs``) the jobs not started yet are left to the next sweep.
    """
    settings = current_app.config["PORTAL"]
    if not settings.uses_redis:
        if when is not None and when > utcnow():
            return []  # the inline worker loop picks it up when due
        ran: list[int] = []
        for job_id in job_ids:
            if inline_jobs_stopped():
                break
            _run_inline(job_id)
            ran.append(job_id)
        return ran
    sent: list[int] = []
    try:
        queue = rq_queue()
        for job_id in job_ids:
            if when is not None and when > utcnow():
                queue.enqueue_at(when, "portal.jobs.runner.execute", job_id)
            else:
                queue.enqueue("portal.jobs.runner.execute", job_id)
            sent.append(job_id)
    except Exception as exc:
        log.warning("redis unavailable, %d job(s) left for the sweeper: %s", len(job_ids), exc)
    if sent:
        try:
            _mark_queued(sent)
        except Exception as exc:  # the change is committed: never report it as failed
            log.warning("job(s) %s sent but not marked queued; the sweeper re-sends: %s", sent, exc)
    return sent


def _mark_queued(job_ids: list[int]) -> None:
    # A separate short transaction: the caller's session has just committed and may not emit SQL.
    with db.engine.begin() as conn:
        conn.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id.in_(job_ids), BackgroundJob.state == JobState.PENDING)
            .values(state=JobState.QUEUED, enqueued_at=utcnow())
        )


def _run_inline(job_id: int) -> None:
    from portal.jobs.runner import execute

    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def target() -> None:
        with app.app_context():
            execute(job_id)

    thread = threading.Thread(target=target, name=f"inline-job-{job_id}")
    thread.start()
    thread.join()
