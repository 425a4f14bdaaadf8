"""Staff pages for background jobs and the audit log.

The jobs page lists recorded jobs with filters, retry (``staff.retry_job``) and cancel buttons. The audit
log is read-only: it has no POST route at all, and the database refuses UPDATE and DELETE on its table.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import update
from werkzeug.wrappers import Response

from portal.core.access import safe_next, staff_required
from portal.core.pagination import requested_page
from portal.extensions import db
from portal.jobs.registry import known_kinds
from portal.models import BackgroundJob, JobState, normalize_email, utcnow
from portal.services.audit import record_event
from portal.services.audit_listing import AUDIT_SORTING, AuditQuery, list_audit
from portal.services.audit_presenter import present_events
from portal.services.job_listing import JOB_SORTING, list_jobs, present_jobs
from portal.services.scheduling import task_overview
from portal.staff.views import bp

__all__ = ["bp"]

CANCELLABLE = (JobState.PENDING, JobState.QUEUED)
ACTOR_KINDS = ("system", "job", "cli")
OBJECT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ACTION_RE = re.compile(r"^[a-z0-9_.]{1,64}$")


# ----------------------------------------------------------------------------- jobs


@bp.get("/jobs")
@staff_required
def jobs() -> str:
    states = [s.value for s in JobState]
    kinds = known_kinds()
    state = request.args.get("state", "").strip()
    kind = request.args.get("kind", "").strip()
    if state and state not in states:
        abort(400, f"Unknown job state {state[:40]!r}; choose one of: {', '.join(states)}.")
    if kind and kind not in kinds:
        abort(400, f"Unknown job kind {kind[:64]!r}; choose one from the list.")
    page = list_jobs(
        JobState(state) if state else None,
        kind,
        requested_page(request.args),
        JOB_SORTING.read(request.args),
    )
    return render_template(
        "staff/jobs/list.html",
        jobs=page,
        rows=present_jobs(page.items),
        states=states,
        kinds=kinds,
        state=state,
        kind=kind,
        retryable=("failed", "cancelled"),
        cancellable=tuple(s.value for s in CANCELLABLE),
        tasks=task_overview(),
    )


@bp.post("/jobs/<int:job_id>/cancel")
@staff_required
def cancel_job(job_id: int) -> Response:
    """Cancel a job that has not started. The UPDATE is conditional on the state, so a job a worker
    has already claimed (running) is never cancelled under it."""
    job = db.session.get(BackgroundJob, job_id) or abort(404)
    before = {"state": job.state.value}
    now = utcnow()
    result = db.session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.id == job_id, BackgroundJob.state.in_(CANCELLABLE))
        .values(state=JobState.CANCELLED, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) == 1:
        record_event(
            "job.cancelled",
            "background_job",
            job_id,
            organization_id=job.organization_id,
            before=before,
            after={"state": JobState.CANCELLED.value},
        )
        flash(_("Job #%(id)s is cancelled; it will not run.", id=job_id), "info")
    else:
        current = db.session.get(BackgroundJob, job_id, populate_existing=True)
        if current is None:
            flash(
                _("Job #%(id)s is gone; only pending or queued jobs can be cancelled.", id=job_id),
                "error",
            )
        else:
            flash(
                _(
                    "Job #%(id)s is %(state)s; only pending or queued jobs can be cancelled.",
                    id=job_id,
                    state=current.state.value,
                ),
                "error",
            )
    return redirect(safe_next(request.form.get("next"), default=url_for("staff.jobs")))


# ----------------------------------------------------------------------------- audit log


@dataclass
class AuditFilters:
    actor: str = ""
    object_type: str = ""
    object_id: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""

    def args(self) -> dict[str, str]:
        """The filters as query-string arguments (for the pager links)."""
        names = {"date_from": "from", "date_to": "to"}
        return {names.get(k, k): v for k, v in vars(self).items() if v}


def _date(raw: str, label: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return dt.datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        abort(400, f"The {label} date must be a date like 2026-01-31.")


def _audit_query() -> tuple[AuditQuery, AuditFilters]:
    """The filters as typed (kept in the form) and checked (a 400 naming what is wrong)."""
    f = AuditFilters(
        actor=request.args.get("actor", "").strip(),
        object_type=request.args.get("object_type", "").strip(),
        object_id=request.args.get("object_id", "").strip(),
        action=request.args.get("action", "").strip(),
        date_from=request.args.get("from", "").strip(),
        date_to=request.args.get("to", "").strip(),
    )
    actor_kind = actor_email = ""
    if f.actor in ACTOR_KINDS:
        actor_kind = f.actor
    elif "@" in f.actor and len(f.actor) <= 320:
        actor_email = normalize_email(f.actor)
    elif f.actor:
        abort(400, "Actor must be an email address, or one of: " + ", ".join(ACTOR_KINDS) + ".")
    if f.object_type and not OBJECT_TYPE_RE.match(f.object_type):
        abort(400, "Object type must be a name like organization, contract or background_job.")
    if len(f.object_id) > 64:
        abort(400, "Object id must be at most 64 characters.")
    if f.action and not ACTION_RE.match(f.action):
        abort(400, "Action must be a name like contract.created (letters, digits, _ and .).")
    start = _date(f.date_from, "from")
    end = _date(f.date_to, "to")
    if start and end and end < start:
        abort(400, "The to date is before the from date.")
    query = AuditQuery(
        actor_kind=actor_kind,
        actor_email=actor_email,
        object_type=f.object_type,
        object_id=f.object_id,
        action_prefix=f.action,
        start=start,
        end=end,
    )
    return query, f


@bp.get("/audit")
@staff_required
def audit_log() -> str:
    query, filters = _audit_query()
    events = list_audit(
        query, requested_page(request.args), filters.args(), AUDIT_SORTING.read(request.args)
    )
    return render_template(
        "staff/audit/list.html",
        events=events,
        rows=present_events(events.items),
        filters=filters,
        actor_kinds=ACTOR_KINDS,
    )
