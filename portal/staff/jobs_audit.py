"""Staff pages for background jobs and the audit log.

The jobs page lists recorded jobs with filters, retry (``staff.retry_job``) and cancel buttons. The audit
log is read-only: it has no POST route at all, and the database refuses UPDATE and DELETE on its table.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import Select, select, update
from werkzeug.wrappers import Response

from portal.core.access import safe_next, staff_required
from portal.core.params import page_number
from portal.extensions import db
from portal.jobs.registry import known_kinds
from portal.models import AuditEvent, BackgroundJob, JobState, User, normalize_email, utcnow
from portal.services.audit import record_event
from portal.staff.views import bp

__all__ = ["bp"]

PAGE_SIZE = 50
CANCELLABLE = (JobState.PENDING, JobState.QUEUED)
ACTOR_KINDS = ("system", "job", "cli")
OBJECT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ACTION_RE = re.compile(r"^[a-z0-9_.]{1,64}$")
JSON_PREVIEW_CHARS = 2000


def _page() -> int:
    return page_number(request.args.get("page"))


def _paginate(query: Select[Any], page: int) -> tuple[list[Any], bool]:
    rows = list(db.session.execute(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


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
    query = select(BackgroundJob).order_by(BackgroundJob.id.desc())
    if state:
        query = query.where(BackgroundJob.state == JobState(state))
    if kind:
        query = query.where(BackgroundJob.kind == kind)
    page = _page()
    rows, has_next = _paginate(query, page)
    return render_template(
        "staff/jobs/list.html",
        jobs=[row[0] for row in rows],
        states=states,
        kinds=kinds,
        state=state,
        kind=kind,
        page=page,
        has_next=has_next,
        retryable=("failed", "cancelled"),
        cancellable=tuple(s.value for s in CANCELLABLE),
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
        db.session.commit()
        flash(f"Job #{job_id} is cancelled; it will not run.", "info")
    else:
        db.session.rollback()
        current = db.session.get(BackgroundJob, job_id)
        state = current.state.value if current else "gone"
        flash(
            f"Job #{job_id} is {state}; only pending or queued jobs can be cancelled.",
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


def _audit_query() -> tuple[Any, AuditFilters]:
    f = AuditFilters(
        actor=request.args.get("actor", "").strip(),
        object_type=request.args.get("object_type", "").strip(),
        object_id=request.args.get("object_id", "").strip(),
        action=request.args.get("action", "").strip(),
        date_from=request.args.get("from", "").strip(),
        date_to=request.args.get("to", "").strip(),
    )
    query = (
        select(AuditEvent, User.email)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .order_by(AuditEvent.id.desc())
    )
    if f.actor:
        if f.actor in ACTOR_KINDS:
            query = query.where(AuditEvent.actor_kind == f.actor)
        elif "@" in f.actor and len(f.actor) <= 320:
            query = query.where(User.email == normalize_email(f.actor))
        else:
            abort(400, "Actor must be an email address, or one of: " + ", ".join(ACTOR_KINDS) + ".")
    if f.object_type:
        if not OBJECT_TYPE_RE.match(f.object_type):
            abort(400, "Object type must be a name like organization, contract or background_job.")
        query = query.where(AuditEvent.object_type == f.object_type)
    if f.object_id:
        if len(f.object_id) > 64:
            abort(400, "Object id must be at most 64 characters.")
        query = query.where(AuditEvent.object_id == f.object_id)
    if f.action:
        if not ACTION_RE.match(f.action):
            abort(400, "Action must be a name like contract.created (letters, digits, _ and .).")
        query = query.where(AuditEvent.action.startswith(f.action, autoescape=True))
    start = _date(f.date_from, "from")
    end = _date(f.date_to, "to")
    if start and end and end < start:
        abort(400, "The to date is before the from date.")
    if start:
        query = query.where(AuditEvent.occurred_at >= start)
    if end:
        query = query.where(AuditEvent.occurred_at < end + dt.timedelta(days=1))
    return query, f


def compact_json(value: dict[str, Any] | None) -> str:
    """Before/after values on one line (the template escapes them); long values are cut."""
    if value is None:
        return ""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= JSON_PREVIEW_CHARS else text[:JSON_PREVIEW_CHARS] + "…"


@bp.get("/audit")
@staff_required
def audit_log() -> str:
    query, filters = _audit_query()
    page = _page()
    rows, has_next = _paginate(query, page)
    events = [
        {
            "event": event,
            "actor": email or event.actor_kind,
            "before": compact_json(event.before),
            "after": compact_json(event.after),
        }
        for event, email in rows
    ]
    return render_template(
        "staff/audit/list.html",
        events=events,
        filters=filters,
        actor_kinds=ACTOR_KINDS,
        page=page,
        has_next=has_next,
        prev_args={**filters.args(), "page": page - 1},
        next_args={**filters.args(), "page": page + 1},
    )
