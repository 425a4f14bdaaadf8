"""Org admins assign codes from a CSV of addresses: the upload is read and checked in the request
(a bad file is refused with its reason and records nothing), then a background job assigns the
rows (``services.bulk_assignment``). The admin lands on the job's page: a progress bar that
moves while the job runs (``static/js/job-status.js`` polls ``assign_bulk_status``), then each
row's result. Only the organization's admins (and staff) see the job."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.core.access import org_admin_required
from portal.core.domain_errors import DomainError
from portal.models import Organization
from portal.org_admin import forms as upload_forms
from portal.org_admin.forms import BulkAssignForm, CsvInvalid, read_addresses
from portal.org_admin.views import bp
from portal.services import bulk_assignment
from portal.services import code_assignment as assignment
from portal.services.job_listing import FINAL, present_job
from portal.services.organization_contracts import organization_contract

Rendered = tuple[str, int] | str


@bp.route("/<org_key>/contracts/<int:contract_id>/codes/assign-bulk", methods=["GET", "POST"])
@org_admin_required
def assign_bulk(organization: Organization, contract_id: int) -> Rendered | Response:
    contract = organization_contract(organization, contract_id)
    form = BulkAssignForm()
    try:
        assignment.check_assignable(contract, organization)
        refusal = None
    except DomainError as exc:
        refusal = exc.message
    values: dict[str, Any] = {
        "organization": organization,
        "contract": contract,
        "form": form,
        "refusal": refusal,
        "assignable": assignment.assignable_count(contract),
    }
    if not form.validate_on_submit():
        page = render_template("org_admin/assign_bulk.html", **values)
        return (page, 400) if form.is_submitted() else page
    try:
        addresses = read_addresses(form.file.data.read(upload_forms.MAX_UPLOAD + 1))
        job = bulk_assignment.start(
            contract,
            organization,
            addresses,
            actor=current_user,
            base_url=str(current_app.config["PORTAL"].public_base_url),
        )
    except CsvInvalid as exc:
        form.file.errors = [str(exc)]
        return render_template("org_admin/assign_bulk.html", **values), 400
    except DomainError as exc:
        form.file.errors = [exc.message]
        return render_template("org_admin/assign_bulk.html", **values), exc.status
    return redirect(
        url_for(
            "org_admin.assign_bulk_job",
            org_key=organization.key,
            contract_id=contract.id,
            job_id=job.id,
        ),
        303,
    )


@bp.get("/<org_key>/contracts/<int:contract_id>/codes/assign-bulk/<int:job_id>")
@org_admin_required
def assign_bulk_job(organization: Organization, contract_id: int, job_id: int) -> str:
    """The job's progress while it runs; each row's result once it is done."""
    contract = organization_contract(organization, contract_id)
    job = bulk_assignment.contract_bulk_job(contract, job_id)
    done = job.state in FINAL
    return render_template(
        "org_admin/assign_bulk_job.html",
        organization=organization,
        contract=contract,
        job=job,
        done=done,
        results=bulk_assignment.results(job.id) if done else None,
        status_url=url_for(
            "org_admin.assign_bulk_status",
            org_key=organization.key,
            contract_id=contract.id,
            job_id=job.id,
        ),
    )


@bp.get("/<org_key>/contracts/<int:contract_id>/codes/assign-bulk/<int:job_id>.json")
@org_admin_required
def assign_bulk_status(organization: Organization, contract_id: int, job_id: int) -> Response:
    """Polled by static/js/job-status.js on the job's page."""
    contract = organization_contract(organization, contract_id)
    job = bulk_assignment.contract_bulk_job(contract, job_id)
    return jsonify(present_job(job).as_json())
