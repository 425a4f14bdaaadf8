"""The sweeper: the safety net that makes 'recorded' mean 'will run'.

It (re)sends jobs that are due but not in Redis (Redis was down at commit, or was flushed), and jobs
whose worker died mid-run (stale ``running`` rows).
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import and_, or_, select, update

from portal.extensions import db
from portal.jobs.queue import dispatch
from portal.models import BackgroundJob, JobState, utcnow


def sweep(*, limit: int = 500) -> list[int]:
    """Send every job that should be running but is not. Returns the ids handed over."""
    settings = current_app.config["PORTAL"]
    now = utcnow()
    lost_after = dt.timedelta(seconds=settings.job_lost_after_seconds)
    stale_after = dt.timedelta(seconds=settings.job_stale_after_seconds)

    stale = (
        select(BackgroundJob.id)
        .where(
            BackgroundJob.state == JobState.RUNNING, BackgroundJob.updated_at < now - stale_after
        )
        .limit(limit)
    )
    stale_ids = list(db.session.scalars(stale))
    if stale_ids:
        # The worker died mid-job: the attempt counts; the (idempotent) handler runs again.
        db.session.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id.in_(stale_ids), BackgroundJob.state == JobState.RUNNING)
            .values(state=JobState.PENDING, last_error="worker stopped mid-job; retried")
            .execution_options(synchronize_session=False)
        )
        db.session.commit()

    due = select(BackgroundJob.id).where(
        or_(
            and_(BackgroundJob.state == JobState.PENDING, BackgroundJob.run_after <= now),
            # Handed to Redis long ago and never picked up: Redis lost it.
            and_(
                BackgroundJob.state == JobState.QUEUED,
                BackgroundJob.enqueued_at < now - lost_after,
                BackgroundJob.run_after < now - lost_after,
            ),
        )
    )
    ids = list(db.session.scalars(due.order_by(BackgroundJob.id).limit(limit)))
    db.session.commit()
    if not ids:
        return []
    if settings.uses_redis:
        # Put re-sent queued rows back to pending first, so dispatch marks them queued again.
        db.session.execute(
            update(BackgroundJob)
            .where(BackgroundJob.id.in_(ids), BackgroundJob.state == JobState.QUEUED)
            .values(state=JobState.PENDING)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return dispatch(ids)
