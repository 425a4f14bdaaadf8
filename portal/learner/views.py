"""The learner's pages: dashboard, code entry, enroll and unenroll. Views are thin: they call
``services.redemption`` and ``services.enrollment`` and report the outcome in plain words."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.core.access import request_cache
from portal.core.domain_errors import DomainError
from portal.core.text import group_code
from portal.core.unit_of_work import refusals_redirect_to
from portal.extensions import limiter
from portal.services.audit import record_enrollment_refusal, record_refusal
from portal.services.codes import normalize_code
from portal.services.dashboard import dashboard_data
from portal.services.enrollment import EnrollResult, enroll, enroll_program, unenroll
from portal.services.redemption import redeem

bp = Blueprint("learner", __name__)


def _redeem_limit() -> str:
    return str(current_app.config["PORTAL"].redeem_rate_limit)


def _user_key() -> str:
    return f"user:{current_user.get_id()}"


@bp.get("/")
def dashboard() -> str:
    data = dashboard_data(current_user)
    # The nav's "My organizations" link (portal.core.context) asks which organizations the
    # learner manages: the memberships on this page already say, so it needs no query of its own.
    managed = [m.organization_id for m in data["memberships"] if m.is_manager]
    request_cache().setdefault("managed_organization_ids", {})[current_user.id] = managed
    return render_template("learner/dashboard.html", **data)


def _demo_codes() -> list[tuple[str, str, str]]:
    if current_app.config["PORTAL"].mode != "demo":
        return []
    from portal.demo import sample_codes

    return sample_codes()


@bp.get("/redeem")
def redeem_form() -> str:
    code = group_code(normalize_code(request.args.get("code", ""))[:64])
    return render_template("learner/redeem.html", code=code, demo_codes=_demo_codes())


def _refusal(exc: DomainError, code: str) -> tuple[str, int]:
    record_refusal("code.refused", "user", current_user.id, code=exc.code, message=exc.message)
    page = render_template(
        "learner/redeem.html", code=code, error=exc.message, demo_codes=_demo_codes()
    )
    return page, exc.status


@bp.post("/redeem")
@limiter.limit(
    _redeem_limit,
    key_func=_user_key,
    error_message=lambda: _(
        "Too many codes tried from this account. Wait a minute, then try again."
    ),
)
@limiter.limit(
    _redeem_limit,
    error_message=lambda: _(
        "Too many codes tried from this network. Wait a minute, then try again."
    ),
)
def redeem_submit() -> Response | tuple[str, int]:
    code = (request.form.get("code") or "")[:200].strip()
    try:
        result = redeem(current_user, code)
    except DomainError as exc:
        return _refusal(exc, code[:64])
    contract, organization = result.contract.name, result.organization.name
    if result.already_had:
        flash(
            _(
                "You already have access to %(contract)s from %(organization)s; "
                "the code was not used again.",
                contract=contract,
                organization=organization,
            ),
            "info",
        )
    else:
        flash(
            _(
                "Code accepted: you now have access to %(contract)s from "
                "%(organization)s. Its courses are below.",
                contract=contract,
                organization=organization,
            ),
            "success",
        )
    # No #fragment: the confirmation sits at the top of the page and must stay in view.
    return redirect(url_for("learner.dashboard"))


def _report(result: EnrollResult) -> Response:
    if result.needs_payment and result.order is not None:
        return redirect(url_for("checkout.show", reference=result.order.reference))
    if result.enrollments:
        names = ", ".join(e.course_run.title for e in result.enrollments)
        flash(
            _(
                "Enrolled in %(courses)s. We are setting it up in edX; it shows as enrolled in a "
                "moment.",
                courses=names,
            ),
            "success",
        )
    elif result.already:
        flash(_("You are already enrolled."), "info")
    if result.skipped:
        flash(
            _(
                "Not open for enrollment now: %(courses)s.",
                courses=", ".join(r.title for r in result.skipped),
            ),
            "info",
        )
    return redirect(url_for("learner.dashboard"))


# An enrollment refused by a rule is recorded, flashed, and the learner is back on the
# dashboard; an enrollment or run that is not theirs is a 404.
refusals_recorded = refusals_redirect_to("learner.dashboard", on_refusal=record_enrollment_refusal)


@bp.post("/runs/<int:run_id>/enroll")
@refusals_recorded
def enroll_run(run_id: int) -> Response:
    return _report(enroll(current_user, run_id))


@bp.post("/contracts/<int:contract_id>/programs/<int:program_id>/enroll")
@refusals_recorded
def enroll_in_program(contract_id: int, program_id: int) -> Response:
    return _report(enroll_program(current_user, contract_id, program_id))


@bp.post("/enrollments/<int:enrollment_id>/unenroll")
@refusals_recorded
def unenroll_run(enrollment_id: int) -> Response:
    enrollment = unenroll(current_user, enrollment_id)
    flash(_("You are unenrolled from %(course)s.", course=enrollment.course_run.title), "info")
    return redirect(url_for("learner.dashboard"))


from portal.learner import orders  # noqa: E402,F401 - add their routes to bp
