"""Org admins' codes pages: the codes of a contract by status, assigning codes to one address or a
CSV of addresses (``org_admin.bulk_assign``: a job, with a result per row), reminding, revoking an
unused assignment, and the CSV of every code with its redeem link."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.core.access import org_admin_required
from portal.core.csv_export import csv_download
from portal.core.domain_errors import DomainError, NotFound
from portal.core.pagination import requested_page
from portal.core.text import group_code
from portal.models import Contract, Organization, utcnow
from portal.org_admin.forms import AssignForm, ConfirmForm
from portal.org_admin.views import bp
from portal.services import code_assignment as assignment
from portal.services import code_export, code_listing
from portal.services.audit import record_event
from portal.services.organization_contracts import contract_code, organization_contract

Rendered = tuple[str, int] | str
PER_PAGE = 50


def _base_url() -> str:
    return str(current_app.config["PORTAL"].public_base_url)


def _codes_url(organization: Organization, contract: Contract, **args: Any) -> str:
    return url_for("org_admin.codes", org_key=organization.key, contract_id=contract.id, **args)


def _refusal(organization: Organization, contract: Contract) -> str | None:
    try:
        assignment.check_assignable(contract, organization)
    except DomainError as exc:
        return exc.message
    return None


def _codes_page(
    organization: Organization,
    contract: Contract,
    form: AssignForm | None = None,
    default_status: str = "unused",
) -> str:
    """The codes of ``status`` (the tab), or with a search ``q`` the matches of every status."""
    status = request.args.get("status", default_status)
    if status not in code_listing.CODE_STATUSES:
        status = "unused"
    q = (request.args.get("q") or "").strip()[:200]
    number = requested_page(request.args)
    sort = code_listing.CODE_SORTING.read(request.args)
    codes = code_listing.list_codes(contract, status, q, page=number, per_page=PER_PAGE, sort=sort)
    return render_template(
        "org_admin/codes.html",
        organization=organization,
        contract=contract,
        counts=code_listing.code_counts(contract),
        assignable=assignment.assignable_count(contract),
        refusal=_refusal(organization, contract),
        status=status,
        statuses=code_listing.CODE_STATUSES,
        q=q,
        page=codes,
        form=form or AssignForm(formdata=None),
        action_form=ConfirmForm(formdata=None),
    )


@bp.get("/<org_key>/contracts/<int:contract_id>/codes")
@org_admin_required
def codes(organization: Organization, contract_id: int) -> str:
    return _codes_page(organization, organization_contract(organization, contract_id))


@bp.post("/<org_key>/contracts/<int:contract_id>/codes/assign")
@org_admin_required
def assign(organization: Organization, contract_id: int) -> Rendered | Response:
    contract = organization_contract(organization, contract_id)
    form = AssignForm()
    if not form.validate_on_submit():
        return _codes_page(organization, contract, form), 400
    try:
        [result] = assignment.assign_codes(
            contract.id, [form.email.data or ""], actor=current_user, base_url=_base_url()
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return _codes_page(organization, contract, form), exc.status
    if result.outcome is not assignment.AssignOutcome.ASSIGNED:
        form.email.errors = [_("%(label)s: %(detail)s", label=result.label, detail=result.detail)]
        status = 400 if result.outcome is assignment.AssignOutcome.INVALID_EMAIL else 409
        return _codes_page(organization, contract, form), status
    flash(
        _(
            "Code %(code)s assigned to %(email)s; the invitation is on its way.",
            code=group_code(result.code),
            email=result.email,
        ),
        "success",
    )
    return redirect(_codes_url(organization, contract, status="assigned"))


@bp.post("/<org_key>/contracts/<int:contract_id>/codes/<int:code_id>/remind")
@org_admin_required
def remind(organization: Organization, contract_id: int, code_id: int) -> Rendered | Response:
    contract = organization_contract(organization, contract_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        code = assignment.remind(contract.id, code_id, base_url=_base_url())
    except NotFound:
        raise
    except DomainError as exc:
        flash(exc.message, "error")
        return _codes_page(organization, contract, default_status="assigned"), exc.status
    flash(_("Reminder sent to %(email)s.", email=code.assigned_email), "success")
    return redirect(_codes_url(organization, contract, status="assigned"))


@bp.route(
    "/<org_key>/contracts/<int:contract_id>/codes/<int:code_id>/revoke-assignment",
    methods=["GET", "POST"],
)
@org_admin_required
def revoke_assignment(
    organization: Organization, contract_id: int, code_id: int
) -> Rendered | Response:
    contract = organization_contract(organization, contract_id)
    code = contract_code(contract, code_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            old, new = assignment.revoke_assignment(contract.id, code.id)
        except DomainError as exc:
            flash(exc.message, "error")
            return _codes_page(organization, contract, default_status="assigned"), exc.status
        flash(
            _(
                "Code %(code)s no longer works and %(email)s can't use it. A fresh code "
                "(%(new_code)s) took its place.",
                code=group_code(old.code),
                email=old.assigned_email,
                new_code=group_code(new.code),
            ),
            "success",
        )
        return redirect(_codes_url(organization, contract, status="assigned"))
    page = render_template(
        "org_admin/revoke_assignment.html",
        organization=organization,
        contract=contract,
        code=code,
        form=form,
        back=_codes_url(organization, contract, status="assigned"),
    )
    return (page, 400) if form.is_submitted() else page


@bp.get("/<org_key>/contracts/<int:contract_id>/codes.csv")
@org_admin_required
def codes_export(organization: Organization, contract_id: int) -> Response:
    contract = organization_contract(organization, contract_id)
    rows = code_export.iter_export_rows(contract, _base_url())
    filename = f"codes-{organization.key}-{contract.slug}-{utcnow():%Y%m%d}.csv"
    record_event("codes.exported", "contract", contract.id, organization_id=organization.id)
    return csv_download(rows, filename)  # streams after the commit


from portal.org_admin import bulk_assign  # noqa: E402,F401 - the CSV assignment's routes
