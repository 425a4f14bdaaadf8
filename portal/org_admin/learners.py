"""Org admins' learners table (filter by contract, status and name/email; CSV of the same view) and
revoking a learner's seat with a reason."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.core.access import org_admin_required
from portal.core.csv_export import csv_download
from portal.core.domain_errors import Conflict, DomainError
from portal.core.pagination import requested_page
from portal.core.text import plural
from portal.models import Contract, Organization, Seat, utcnow
from portal.org_admin.forms import RevokeSeatForm
from portal.org_admin.views import bp
from portal.services import learners as learner_service
from portal.services import seat_revocation
from portal.services.organization_contracts import organization_contract, organization_contracts

Rendered = tuple[str, int] | str


def _filter(contracts: list[Contract]) -> learner_service.LearnerFilter:
    return learner_service.LearnerFilter.from_args(request.args, [c.id for c in contracts])


@bp.get("/<org_key>/learners")
@org_admin_required
def learners(organization: Organization) -> str:
    contracts = organization_contracts(organization)
    flt = _filter(contracts)
    page = learner_service.learners_page(contracts, flt, requested_page(request.args))
    return render_template(
        "org_admin/learners.html",
        organization=organization,
        contracts=contracts,
        flt=flt,
        page=page,
    )


@bp.get("/<org_key>/learners.csv")
@org_admin_required
def learners_export(organization: Organization) -> Response:
    contracts = organization_contracts(organization)
    rows = learner_service.export_learners(organization, contracts, _filter(contracts))
    return csv_download(rows, f"learners-{organization.key}-{utcnow():%Y%m%d}.csv")


def _revoke_refusal(contract: Contract, seat: Seat) -> DomainError | None:
    """Why this seat cannot be revoked here, if it cannot (the page says so instead of a form)."""
    if seat.revoked_at is not None:
        return Conflict(_("This seat was already revoked."))
    try:
        seat_revocation.check_revocable(contract, by_staff=current_user.is_staff)
    except DomainError as exc:
        return exc
    return None


@bp.route(
    "/<org_key>/contracts/<int:contract_id>/seats/<int:seat_id>/revoke", methods=["GET", "POST"]
)
@org_admin_required
def revoke_seat(organization: Organization, contract_id: int, seat_id: int) -> Rendered | Response:
    contract = organization_contract(organization, contract_id)
    seat = seat_revocation.seat_for(contract, seat_id)
    back = url_for("org_admin.learners", org_key=organization.key, contract=contract.id)
    form = RevokeSeatForm()
    refusal = _revoke_refusal(contract, seat)
    if refusal is None and form.validate_on_submit():
        try:
            result = seat_revocation.revoke_seat(
                contract.id, seat.id, form.reason.data or "", actor=current_user
            )
        except DomainError as exc:  # changed meanwhile: the page says why, as it would now
            refusal = exc
        else:
            ended = result.enrollments_ended
            whose = {"email": seat.user.email, "contract": contract.name}
            if ended:
                done = plural(
                    ended,
                    "Revoked %(email)s's seat on %(contract)s and ended %(num)s enrollment. "
                    "The seat is free for someone else.",
                    "Revoked %(email)s's seat on %(contract)s and ended %(num)s enrollments. "
                    "The seat is free for someone else.",
                    **whose,
                )
            else:
                done = _(
                    "Revoked %(email)s's seat on %(contract)s. The seat is free for someone else.",
                    **whose,
                )
            flash(done, "success")
            return redirect(back)
    page = render_template(
        "org_admin/revoke_seat.html",
        organization=organization,
        contract=contract,
        seat=seat,
        learner=seat.user,
        enrollments=seat_revocation.active_enrollments(seat),
        form=form,
        refusal=refusal.message if refusal is not None else None,
        back=back,
    )
    if refusal is not None:
        return page, refusal.status
    return (page, 400) if form.is_submitted() else page


__all__ = ["learners", "learners_export", "revoke_seat"]
