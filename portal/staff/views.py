"""Staff pages. Every route is staff-only; every change is a POST (CSRF-checked by CSRFProtect)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.pagination import requested_page
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import BackgroundJob, User
from portal.services.audit import record_event
from portal.services.jobs import start_job
from portal.services.staff_overview import console_overview, users_page

bp = Blueprint("staff", __name__)


@bp.get("/")
@staff_required
def index() -> str:
    overview = console_overview()
    return render_template("staff/index.html", counts=overview.counts, jobs=overview.jobs)


def flash_queued(job: BackgroundJob, message: str) -> None:
    flash(f"{message} (job #{job.id}); its state shows under Recent background jobs.", "info")


@bp.post("/jobs/ping")
@staff_required
def ping_jobs() -> Response:
    """Checks the job path end to end: the job writes an audit event when a worker runs it."""
    flash_queued(start_job(JobKind.SYSTEM_PING), "Queue check recorded")
    return redirect(url_for("staff.index"))


@bp.get("/users")
@staff_required
def users() -> str:
    q = (request.args.get("q") or "").strip()[:200]
    return render_template(
        "staff/users.html", users=users_page(q, requested_page(request.args)), q=q
    )


@bp.post("/users/<int:user_id>/resync")
@staff_required
def resync_user(user_id: int) -> Response:
    user = db.session.get(User, user_id) or abort(404)
    job = start_job(JobKind.KEYCLOAK_RESYNC_MEMBER, {"user_id": user.id}, about=("user", user.id))
    flash_queued(job, f"Re-syncing {user.email}'s memberships from Keycloak")
    return redirect(url_for("staff.users", q=user.email))


@bp.post("/jobs/<int:job_id>/retry")
@staff_required
def retry_job(job_id: int) -> Response:
    from portal.jobs.queue import retry_now
    from portal.models import JobState

    job = db.session.get(BackgroundJob, job_id) or abort(404)
    if job.state not in (JobState.FAILED, JobState.CANCELLED):
        flash(
            f"Job #{job.id} is {job.state.value}; only failed or cancelled jobs can be retried.",
            "error",
        )
    else:
        before = {"state": job.state.value, "attempts": job.attempts, "last_error": job.last_error}
        retry_now(job)
        record_event(
            "job.retried", "background_job", job.id, before=before, after={"state": "pending"}
        )
        flash(f"Job #{job.id} will run again.", "info")
    return redirect(_back(url_for("staff.index")))


@bp.get("/jobs/<int:job_id>.json")
@staff_required
def job_status(job_id: int) -> Response:
    """Polled by static/js/job-status.js so job rows update without a full reload."""
    from flask import jsonify

    job = db.session.get(BackgroundJob, job_id) or abort(404)
    body = {
        "id": job.id,
        "state": job.state.value,
        "step": job.step,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "last_error": job.last_error,
        "run_after": job.run_after.isoformat() if job.run_after else None,
    }
    if job.object_type == "course_run" and job.object_id and job.object_id.isdigit():
        from portal.models import CourseRun

        run = db.session.get(CourseRun, int(job.object_id))
        if run is not None:
            body["edx_state"] = run.edx_state.value
    return jsonify(body)


def _back(default: str) -> str:
    from portal.core.access import safe_next

    return safe_next(request.form.get("next"), default=default)
