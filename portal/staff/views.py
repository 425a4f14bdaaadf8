"""Staff pages."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.extensions import db
from portal.jobs import record_job
from portal.models import BackgroundJob, Contract, Organization, User
from portal.services.audit import record_event

bp = Blueprint("staff", __name__)


@bp.get("/")
@staff_required
def index() -> str:
    counts = {
        "Organizations": db.session.scalar(select(func.count(Organization.id))),
        "Contracts": db.session.scalar(select(func.count(Contract.id))),
        "Users": db.session.scalar(select(func.count(User.id))),
    }
    jobs = db.session.scalars(
        select(BackgroundJob).order_by(BackgroundJob.id.desc()).limit(10)
    ).all()
    return render_template("staff/index.html", counts=counts, jobs=jobs, form=FlaskForm())


@bp.post("/jobs/ping")
@staff_required
def ping_jobs() -> Response:
    """Checks the job path end to end: the job writes an audit event when a worker runs it."""
    if not FlaskForm().validate_on_submit():
        flash("The form expired; nothing was queued.", "error")
        return redirect(url_for("staff.index"))
    job = record_job("system.ping", {"message": "queue check from the staff page"})
    record_event("job.queued", "background_job", job.id, after={"kind": job.kind})
    db.session.commit()
    flash(
        f"Queue check #{job.id} recorded; it shows as succeeded once a worker has run it.", "info"
    )
    return redirect(url_for("staff.index"))
