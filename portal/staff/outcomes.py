"""Staff's "Sync outcomes now" for a contract run (the scheduled sync runs hourly on its own)."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.unit_of_work import refusals_redirect_to
from portal.extensions import db
from portal.models import CourseRun
from portal.services.outcome_sync import request_outcome_sync
from portal.staff.views import bp


@bp.post("/contracts/<int:contract_id>/runs/<int:run_id>/outcomes/sync")
@staff_required
@refusals_redirect_to("staff.contract_detail")
def run_outcomes_sync(contract_id: int, run_id: int) -> Response:
    run = db.session.get(CourseRun, run_id)
    if run is None or run.contract_id != contract_id:
        abort(404)
    job = request_outcome_sync(run)
    flash(
        _(
            "Syncing grades, progress and certificates of %(key)s from edX (job %(job)s).",
            key=run.course_key,
            job=job.id,
        ),
        "success",
    )
    return redirect(url_for("staff.contract_detail", contract_id=contract_id, _anchor="outcomes"))
