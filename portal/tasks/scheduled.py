"""The job that runs one periodic task for its claimed period (``services.scheduling``)."""

from __future__ import annotations

from sqlalchemy import update

from portal.extensions import db
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
    summary = task.run(utcnow())
    db.session.execute(
        update(ScheduledRun)
        .where(ScheduledRun.id == run_id)
        .values(summary=summary[:500], finished_at=utcnow())
    )
