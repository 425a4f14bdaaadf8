"""Job kinds used only by the test suite, loaded into workers through ``JOB_MODULES``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.jobs import JobContext, PermanentJobError, TransientJobError, job_handler
from portal.models import AuditEvent
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


@job_handler("test.blocking")
def blocking(ctx: JobContext) -> None:
    """Stops at a known step so a fault test can kill its worker or drop its database connections.

    Payload: ``marker_dir`` (a folder), ``block_on`` (attempt numbers that block, default ``[1]``),
    ``effect_first`` (write the effect before blocking instead of after) and ``block_seconds`` (the
    longest wait, default 30). Each attempt writes ``attempt-<n>`` (the worker's pid) into
    ``marker_dir`` and, on a blocking attempt, waits there until the file ``release`` appears.

    The effect is one ``test.blocking_done`` audit event for this job, written only if it is not
    there yet (handlers are idempotent). Without ``effect_first`` the attempt reads first and keeps
    that transaction (and its database connection) open while it waits, so a connection dropped
    meanwhile fails the write.
    """
    payload = ctx.job.payload or {}
    marker_dir = Path(ctx.arg("marker_dir", str))
    effect_first = bool(payload.get("effect_first", False))
    attempt = ctx.job.attempts

    def effect_done() -> bool:
        found = db.session.scalar(
            select(AuditEvent.id).where(
                AuditEvent.action == "test.blocking_done",
                AuditEvent.object_id == str(ctx.job.id),
            )
        )
        return found is not None

    def write_effect() -> None:
        if not effect_done():
            record_event(
                "test.blocking_done",
                "background_job",
                ctx.job.id,
                after={"attempt": attempt},
                actor_kind="job",
            )

    if effect_first:
        write_effect()
        ctx.set_step("effect written")  # commits
    else:
        effect_done()  # the read that opens this attempt's transaction
    (marker_dir / f"attempt-{attempt}").write_text(str(os.getpid()))
    if attempt in payload.get("block_on", [1]):
        deadline = time.monotonic() + float(payload.get("block_seconds", 30))
        while not (marker_dir / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if not effect_first:
        write_effect()
