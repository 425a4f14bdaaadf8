"""The outcome sync of one contract run: grades, then progress, then certificates, read from edX
page by page and written as they come (one page in memory; each page committed and counted on the
job's progress: edX gives no total up front, so the bar counts what was read so far), then the run's
totals. Safe to rerun: unchanged rows are not written, so a second run reports 0 updated."""

from __future__ import annotations

from typing import Any

from portal.extensions import db
from portal.integrations.openedx import OpenEdxError, edx_client
from portal.integrations.openedx_outcomes import (
    certificates,
    course_grade_pages,
    course_progress_pages,
)
from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.kinds import JobKind
from portal.jobs.registry import JobContext, job_handler
from portal.models import BackgroundJob, CourseRun
from portal.services import outcome_store, outcome_sync


def _failed(job: BackgroundJob, message: str) -> None:
    run_id = (job.payload or {}).get("course_run_id")
    if isinstance(run_id, int) and db.session.get(CourseRun, run_id) is not None:
        outcome_sync.mark_failed(run_id, message)


@job_handler(JobKind.OPENEDX_SYNC_OUTCOMES, on_failure=_failed)
def sync_outcomes(ctx: JobContext) -> None:
    run = db.session.get(CourseRun, ctx.arg("course_run_id"))
    if run is None:
        raise PermanentJobError(f"course run {ctx.arg('course_run_id')} no longer exists")
    recheck = (ctx.job.payload or {}).get("full") is True
    outcome_sync.mark_running(run.id, ctx.job.id)
    ctx.set_step("reading grades")
    try:
        counts = _sync(ctx, run.id, run.course_key, recheck=recheck)
    except OpenEdxError as exc:
        db.session.rollback()
        if not exc.transient:
            raise PermanentJobError(str(exc)) from exc
        outcome_sync.mark_retrying(run.id, str(exc))
        db.session.commit()
        raise TransientJobError(str(exc), retry_after=exc.retry_after) from exc
    outcome_sync.mark_succeeded(run.id, counts, outcome_store.run_totals(run.id))


def _sync(ctx: JobContext, run_id: int, key: str, *, recheck: bool) -> dict[str, Any]:
    client = edx_client()
    counts: dict[str, Any] = {"grades": 0, "updated": 0, "unknown": 0}
    for number, page in enumerate(course_grade_pages(client, key), start=1):
        known = outcome_store.portal_learners(run_id, (g.username for g in page))
        counts["grades"] += len(page)
        counts["unknown"] += sum(1 for g in page if g.username not in known)
        counts["updated"] += outcome_store.record_grades(run_id, page, known)
        ctx.set_step(f"grades: page {number}, {counts['grades']:,} read")
        ctx.progress(counts["grades"], None, "grades read")

    pages = course_progress_pages(client, key)
    counts["progress"] = None if pages is None else 0
    for number, rows in enumerate(pages or (), start=1):
        known = outcome_store.portal_learners(run_id, (name for name, _ in rows))
        progress = {known[name]: value for name, value in rows if name in known}
        counts["progress"] += len(rows)
        counts["updated"] += outcome_store.record_progress(run_id, progress)
        ctx.set_step(f"progress: page {number}, {counts['progress']:,} read")
        ctx.progress(counts["progress"], None, "progress rows read")

    counts["certificates_checked"] = 0
    after = 0
    while batch := outcome_store.certificate_candidates(run_id, after, recheck=recheck):
        found = certificates(client, key, [username for _, username in batch])
        for (outcome_id, _), (_, cert) in zip(batch, found, strict=True):
            if outcome_store.record_certificate(outcome_id, cert):
                counts["updated"] += 1
        counts["certificates_checked"] += len(batch)
        after = batch[-1][0]
        ctx.set_step(f"certificates: {counts['certificates_checked']:,} checked")
        ctx.progress(counts["certificates_checked"], None, "certificates checked")
    return counts
