"""Org admins' learners table (filter by contract, status and name/email; CSV of the same view) and
revoking a learner's seat with a reason."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.core.access import org_admin_required
from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import Organization, User, utcnow
from portal.org_admin.forms import RevokeSeatForm
from portal.org_admin.views import bp, csv_response, org_contract, org_contracts, page_arg
from portal.services import learners as learner_service
from portal.services import seat_revocation
from portal.services.audit import record_event

Rendered = tuple[str, int] | str


@bp.get("/<org_key>/learners")
@org_admin_required
def learners(organization: Organization) -> str:
    contracts = org_contracts(organization)
    flt = learner_service.LearnerFilter.from_args(request.args, [c.id for c in contracts])
    page = page_arg()
    rows, total = learner_service.learners_page(contracts, flt, page)
    per_page = learner_service.PER_PAGE
    return render_template(
        "org_admin/learners.html",
        organization=organization,
        contracts=contracts,
        flt=flt,
        rows=rows,
        total=total,
        page=page,
        first=(page - 1) * per_page + 1,
        last=(page - 1) * per_page + len(rows),
        has_next=page * per_page < total,
    )


@bp.get("/<org_key>/learners.csv")
@org_admin_required
def learners_export(organization: Organization) -> Response:
    contracts = org_contracts(organization)
    flt = learner_service.LearnerFilter.from_args(request.args, [c.id for c in contracts])
    rows = learner_service.iter_learner_rows(contracts, flt)  # reads the contracts before commit
    record_event(
        "learners.exported",
        "organization",
        organization.id,
        organization_id=organization.id,
        after=flt.args(),
    )
    filename = f"learners-{organization.key}-{utcnow():%Y%m%d}.csv"
    db.session.commit()
    return csv_response(rows, filename)


@bp.route(
    "/<org_key>/contracts/<int:contract_id>/seats/<int:seat_id>/revoke", methods=["GET", "POST"]
)
@org_admin_required
def revoke_seat(organization: Organization, contract_id: int, seat_id: int) -> Rendered | Response:
    contract = org_contract(organization, contract_id)
    try:
        seat = seat_revocation.seat_for(contract, seat_id)
    except DomainError:
        abort(404)
    learner = db.session.get(User, seat.user_id)
    back = url_for("org_admin.learners", org_key=organization.key, contract=contract.id)
    form = RevokeSeatForm()
    refusal = None
    try:
        seat_revocation.check_revocable(contract, by_staff=current_user.is_staff)
    except DomainError as exc:
        refusal = exc.message
    if seat.revoked_at is not None:
        refusal = "This seat was already revoked."
    if refusal is None and form.validate_on_submit():
        try:
            result = seat_revocation.revoke_seat(
                contract.id, seat.id, form.reason.data or "", actor=current_user
            )
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(back)
        db.session.commit()
        ended = result.enrollments_ended
        flash(
            f"Revoked {learner.email if learner else 'the learner'}'s seat on {contract.name}"
            + (f" and ended {ended} enrollment(s)" if ended else "")
            + ". The seat is free for someone else.",
            "success",
        )
        return redirect(back)
    page = render_template(
        "org_admin/revoke_seat.html",
        organization=organization,
        contract=contract,
        seat=seat,
        learner=learner,
        enrollments=seat_revocation.active_enrollments(seat),
        form=form,
        refusal=refusal,
        back=back,
    )
    if refusal is not None:
        return page, (409 if seat.revoked_at is not None else 403)
    return (page, 400) if form.is_submitted() else page


__all__ = ["learners", "learners_export", "revoke_seat"]
