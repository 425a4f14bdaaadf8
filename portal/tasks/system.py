"""Operational jobs."""

from __future__ import annotations

from portal.jobs.kinds import JobKind
from portal.jobs.registry import JobContext, job_handler
from portal.services.audit import record_event


@job_handler(JobKind.SYSTEM_PING)
def ping(ctx: JobContext) -> None:
    """Proves the whole job path end to end (record, commit, queue, worker, database): writes an
    audit event. Staff run it from the jobs page or with ``flask --app portal jobs ping``."""
    ctx.set_step("writing")
    record_event(
        "job.ping",
        "background_job",
        ctx.job.id,
        after={"message": str((ctx.job.payload or {}).get("message", "pong"))[:200]},
        actor_kind="job",
    )
