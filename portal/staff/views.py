"""Staff pages. Every route is staff-only; every change is a POST (CSRF-checked by CSRFProtect)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.pagination import requested_page
from portal.core.text import lazy_gettext as _l
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import BackgroundJob, User
from portal.services.audit import record_event
from portal.services.jobs import start_job
from portal.services.staff_listing import USER_SORTING, users_page
from portal.services.staff_overview import console_overview

bp = Blueprint("staff", __name__)

# A job's state as a word in a sentence ("Job #4 is running; ..."); ``gone``: it was deleted.
JOB_STATE_WORDS = {
    "pending": _l("pending"),
    "queued": _l("queued"),
    "running": _l("running"),
    "succeeded": _l("succeeded"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
    "gone": _l("gone"),
}


def job_state_word(state: str) -> str:
    return str(JOB_STATE_WORDS.get(state, state))


@bp.get("/")
@staff_required
def index() -> str:
    overview = console_overview()
    return render_template("staff/index.html", counts=overview.counts, jobs=overview.jobs)


def flash_queued(job: BackgroundJob, doing: str) -> None:
    """Say that ``job`` is on its way; ``doing`` is its translated work ("Pulling organizations
    from Keycloak")."""
    flash(
        _(
            "%(doing)s (job #%(job)s); its state shows under Recent background jobs.",
            doing=doing,
            job=job.id,
        ),
        "info",
    )


@bp.post("/jobs/ping")
@staff_required
def ping_jobs() -> Response:
    """Checks the job path end to end: the job writes an audit event when a worker runs it."""
    flash_queued(start_job(JobKind.SYSTEM_PING), _("Queue check recorded"))
    return redirect(url_for("staff.index"))


@bp.get("/users")
@staff_required
def users() -> str:
    q = (request.args.get("q") or "").strip()[:200]
    return render_template(
        "staff/users.html",
        users=users_page(q, requested_page(request.args), USER_SORTING.read(request.args)),
        q=q,
    )


@bp.post("/users/<int:user_id>/resync")
@staff_required
def resync_user(user_id: int) -> Response:
    user = db.session.get(User, user_id) or abort(404)
    job = start_job(JobKind.KEYCLOAK_RESYNC_MEMBER, {"user_id": user.id}, about=("user", user.id))
    flash_queued(job, _("Re-syncing %(email)s's memberships from Keycloak", email=user.email))
    return redirect(url_for("staff.users", q=user.email))


@bp.post("/jobs/<int:job_id>/retry")
@staff_required
def retry_job(job_id: int) -> Response:
    from portal.jobs.queue import retry_now
    from portal.models import JobState

    job = db.session.get(BackgroundJob, job_id) or abort(404)
    if job.state not in (JobState.FAILED, JobState.CANCELLED):
        flash(
            _(
                "Job #%(job)s is %(state)s; only failed or cancelled jobs can be retried.",
                job=job.id,
                state=job_state_word(job.state.value),
            ),
            "error",
        )
    else:
        before = {"state": job.state.value, "attempts": job.attempts, "last_error": job.last_error}
        retry_now(job)
        record_event(
            "job.retried", "background_job", job.id, before=before, after={"state": "pending"}
        )
        flash(_("Job #%(job)s will run again.", job=job.id), "info")
    return redirect(_back(url_for("staff.index")))


def _job_view(job: BackgroundJob) -> object:
    from portal.services.job_listing import present_job

    return present_job(job)


# templates/_job_progress.html renders any job through this (staff and org admin pages alike).
bp.add_app_template_global(_job_view, "job_view")


# A run's state in edX in words, as ``templates/staff/contracts/_words.html`` (run_state) says it.
RUN_STATE_WORDS = {
    "pending": _l("pending"),
    "cloning": _l("cloning"),
    "configuring": _l("configuring"),
    "ready": _l("ready"),
    "failed": _l("failed"),
}


@bp.get("/jobs/<int:job_id>.json")
@staff_required
def job_status(job_id: int) -> Response:
    """Polled by static/js/job-status.js so job rows (state words, progress bar, what happens
    next: ``services.job_listing.present_job``) update without a full reload."""
    from flask import jsonify

    from portal.services.job_listing import present_job

    job = db.session.get(BackgroundJob, job_id) or abort(404)
    body = present_job(job).as_json()
    if job.object_type == "course_run" and job.object_id and job.object_id.isdigit():
        from portal.models import CourseRun

        run = db.session.get(CourseRun, int(job.object_id))
        if run is not None:
            body["edx_state"] = run.edx_state.value
            body["edx_state_words"] = str(
                RUN_STATE_WORDS.get(run.edx_state.value, run.edx_state.value)
            )
    return jsonify(body)


def _back(default: str) -> str:
    from portal.core.access import safe_next

    return safe_next(request.form.get("next"), default=default)
