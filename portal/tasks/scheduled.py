"""The job that runs one periodic task for its claimed period (``services.scheduling``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from portal.extensions import db
from portal.jobs.errors import PermanentJobError
from portal.jobs.kinds import JobKind
from portal.jobs.registry import JobContext, job_handler
from portal.models import ScheduledRun, utcnow
from portal.services.scheduling import TASKS


@job_handler(JobKind.SCHEDULED_TASK)
def run_task(ctx: JobContext) -> None:
    """Run one periodic task for its claimed period; a retry runs it again (every task is safe to
    run twice: each notice and report is unique per threshold or period)."""
    name = ctx.arg("task", str)
    run_id = ctx.arg("run_id")
    task = TASKS.get(name)
    if task is None:
        ctx.set_step(f"unknown task {name}: nothing to do")
        return
    ctx.set_step(f"running {name}")
    summary = task.run(_tick(ctx))
    db.session.execute(
        update(ScheduledRun)
        .where(ScheduledRun.id == run_id)
        .values(summary=summary[:500], finished_at=utcnow())
    )


def _tick(ctx: JobContext) -> dt.datetime:
    """The time the scheduler fired the task (the job's ``at``); now for a job without one."""
    raw = (ctx.job.payload or {}).get("at")
    if raw is None:
        return utcnow()
    try:
        at = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        raise PermanentJobError(f"job payload 'at' is not a time: {raw!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
