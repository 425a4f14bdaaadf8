"""Job kinds used only by the test suite, loaded into workers through ``JOB_MODULES``."""

from __future__ import annotations

from portal.extensions import db
from portal.jobs import JobContext, PermanentJobError, TransientJobError, job_handler
from portal.services.audit import record_event


@job_handler("test.flaky")
def flaky(ctx: JobContext) -> None:
    """Fails transiently on its first ``fail_times`` attempts, then writes an audit event."""
    fail_times = ctx.arg("fail_times")
    if ctx.job.attempts <= fail_times:
        raise TransientJobError(f"simulated outage on attempt {ctx.job.attempts}", retry_after=0)
    record_event("test.flaky_done", "background_job", ctx.job.id, actor_kind="job")


@job_handler("test.broken")
def broken(ctx: JobContext) -> None:
    """Half-writes, then fails for good: the half-written audit event must be rolled back."""
    record_event("test.half_written", "background_job", ctx.job.id, actor_kind="job")
    db.session.flush()
    raise PermanentJobError("the service said no (HTTP 400)")
