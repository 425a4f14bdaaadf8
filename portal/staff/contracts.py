"""Staff pages for contracts: the list and a contract's page, create, edit, membership type and
seat changes (each with a preview and a confirmation), and deactivation. The contract's
courseware has its own module (``staff.contract_courseware``), its codes too (``staff.codes``).

Views are thin: validate the form, call ``services.contracts``, flash the outcome, redirect; the
request's unit of work commits. Destructive changes go through a page that states the impact
first; a refusal by a rule or by the database writes nothing and is shown beside the form, or
flashed on the page the change came from.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.pagination import requested_page
from portal.core.params import parse_id
from portal.core.text import count_text, plural
from portal.core.text import lazy_gettext as _l
from portal.core.unit_of_work import refusals_redirect_to
from portal.extensions import db
from portal.models import Contract, MembershipType, Organization
from portal.services import code_listing as code_service
from portal.services import contract_listing
from portal.services import contracts as contract_service
from portal.services.contract_overview import (
    codes_and_learners,
    contract_courseware,
    contract_with_organization,
)
from portal.services.locks import lock_contract
from portal.services.organization_overview import organizations_by_name
from portal.services.outcomes import run_syncs, summaries_by_contract
from portal.services.seat_code_sync import sync_seat_codes
from portal.services.seats import claimed_count
from portal.staff.contract_forms import (
    BatchForm,
    ConfirmForm,
    ContractForm,
    MembershipTypeForm,
    SeatLimitForm,
)
from portal.staff.refusals import Refused, Rendered, attempt, invalid_status, page
from portal.staff.views import bp

SLUG_TAKEN = _l(
    "Another contract of this organization already uses this short name; choose another."
)
# A membership type in the words of the flash that confirms a change of type.
TYPE_WORDS = {
    MembershipType.AUTO: _l("auto"),
    MembershipType.CODE: _l("code"),
    MembershipType.MANAGED: _l("managed"),
}


def _contract(contract_id: int) -> Contract:
    return db.session.get(Contract, contract_id) or abort(404)


@bp.get("/contracts")
@staff_required
def contracts() -> str:
    flt = contract_listing.ContractFilter.from_args(request.args)
    sort = contract_listing.CONTRACT_SORTING.read(request.args)
    return render_template(
        "staff/contracts/list.html",
        contracts=contract_listing.contracts_page(flt, requested_page(request.args), sort),
        flt=flt,
        organizations=organizations_by_name(),
        states=contract_listing.STATES,
        types=contract_listing.TYPES,
    )


@bp.get("/contracts/<int:contract_id>")
@staff_required
def contract_detail(contract_id: int) -> str:
    contract = contract_with_organization(contract_id) or abort(404)
    sections = codes_and_learners(
        contract,
        (request.args.get("q") or "").strip()[:320],
        codes_page=requested_page(request.args, "codes_page"),
        learners_page=requested_page(request.args, "learners_page"),
    )
    courseware = contract_courseware(contract)
    return render_template(
        "staff/contracts/detail.html",
        contract=contract,
        outcomes=summaries_by_contract([contract.id])[contract.id],
        run_syncs=run_syncs(courseware.runs),
        **vars(courseware),
        **vars(sections),
        batch_form=BatchForm(formdata=None),
    )


# --------------------------------------------------------------------------- create and change


def _back_to(contract_id: int, notes: list[str], message: str) -> Response:
    flash(" ".join([message, *notes]), "success")
    return redirect(url_for("staff.contract_detail", contract_id=contract_id))


@bp.route("/contracts/new", methods=["GET", "POST"])
@staff_required
def contract_new() -> Rendered | Response:
    form = ContractForm(organizations=organizations_by_name())
    if request.method == "GET" and parse_id(request.args.get("organization_id")):
        form.organization_id.data = parse_id(request.args.get("organization_id"))
    context = {"form": form, "heading": _("New contract")}
    if not form.validate_on_submit():
        return page("staff/contracts/form.html", invalid_status(form), **context)
    org = db.session.get(Organization, form.organization_id.data) or abort(404)

    def create() -> tuple[Contract, list[str]]:
        contract = contract_service.create_contract(org, form.values())
        return contract, sync_seat_codes(contract)

    created = attempt(form, create, conflict=lambda exc: (form.slug, SLUG_TAKEN))
    if isinstance(created, Refused):
        return page("staff/contracts/form.html", created.status, **context)
    contract, notes = created
    return _back_to(contract.id, notes, _("Contract %(name)s created.", name=contract.name))


@bp.route("/contracts/<int:contract_id>/edit", methods=["GET", "POST"])
@staff_required
def contract_edit(contract_id: int) -> Rendered | Response:
    contract = _contract(contract_id)
    form = ContractForm(contract=contract)
    heading = _("Edit %(name)s", name=contract.name)
    context = {"form": form, "heading": heading, "contract": contract}
    if not form.validate_on_submit():
        return page("staff/contracts/form.html", invalid_status(form), **context)
    values = form.values()
    preview = contract_service.schedule_change_preview(contract, values)
    dates_moved = contract_service.dates_change(contract, values)
    if dates_moved and preview.needs_confirmation and request.form.get("confirm") != "1":
        # New dates move the contract runs' dates and enrollment windows, here and in edX: say
        # what changes first, and save only when confirmed (the form's values come back as is).
        return page(
            "staff/contracts/confirm_edit.html",
            contract=contract,
            form=form,
            preview=preview,
            start_at=values["start_at"],
            end_at=values["end_at"],
            resubmit=[
                (name, value)
                for name, value in request.form.items(multi=True)
                if name not in ("csrf_token", "confirm")
            ],
        )

    moving = len(preview.runs)

    def update() -> tuple[Contract, list[str]]:
        was_paid = contract.is_paid
        updated = contract_service.update_contract(contract.id, values)
        # A price makes an auto contract need seat codes (b2b-rules 1.5).
        return updated, (sync_seat_codes(updated) if updated.is_paid != was_paid else [])

    saved = attempt(form, update, conflict=lambda exc: (form.slug, SLUG_TAKEN))
    if isinstance(saved, Refused):
        return page("staff/contracts/form.html", saved.status, **context)
    updated, notes = saved
    saved_words = _("Contract %(name)s saved.", name=updated.name)
    return _back_to(contract_id, [*notes, *_run_notes(moving)], saved_words)


def _run_notes(moving: int) -> list[str]:
    """What the change queued for the contract runs (``contract_run_schedule.sync_contract_runs``)."""
    if not moving:
        return []
    return [
        plural(
            moving,
            "%(num)s contract run gets its new dates in edX in a moment.",
            "%(num)s contract runs get their new dates in edX in a moment.",
        )
    ]


@bp.route("/contracts/<int:contract_id>/membership", methods=["GET", "POST"])
@staff_required
@refusals_redirect_to("staff.contract_membership")
def contract_membership(contract_id: int) -> Rendered | Response:
    """Pick a type, see who gains and loses access, then confirm."""
    contract = _contract(contract_id)
    form = MembershipTypeForm(contract=contract)
    if not form.validate_on_submit():
        return page(
            "staff/contracts/membership.html",
            invalid_status(form),
            contract=contract,
            form=form,
            preview=None,
        )
    if not form.confirm.data:
        preview = contract_service.membership_change_preview(contract, form.new_type)
        return page(
            "staff/contracts/membership.html", contract=contract, form=form, preview=preview
        )
    preview = contract_service.change_membership_type(contract.id, form.new_type)
    notes = sync_seat_codes(lock_contract(contract.id))
    message = _(
        "%(contract)s is now a %(type)s contract: %(gained)s gained access, %(lost)s lost it.",
        contract=contract.name,
        type=TYPE_WORDS.get(preview.new, preview.new.value),
        gained=count_text(preview.gain.count),
        lost=count_text(preview.lose.count),
    )
    return _back_to(contract_id, notes, message)


@bp.route("/contracts/<int:contract_id>/seats", methods=["GET", "POST"])
@staff_required
@refusals_redirect_to("staff.contract_seats")
def contract_seats(contract_id: int) -> Rendered | Response:
    """Pick a seat limit, see the codes added or removed (or why it is refused), then confirm."""
    contract = _contract(contract_id)
    form = SeatLimitForm(contract=contract)
    context: dict[str, Any] = {"contract": contract, "form": form, "preview": None}
    if not form.validate_on_submit():
        return page("staff/contracts/seats.html", invalid_status(form), **context)
    preview = contract_service.seat_change_preview(contract, form.new_limit)
    context["preview"] = preview
    if not preview.allowed:
        form.seat_limit.errors = [*form.seat_limit.errors, preview.problem]
        return page("staff/contracts/seats.html", 400, **context)
    if not form.confirm.data:
        return page("staff/contracts/seats.html", **context)
    contract_service.change_seat_limit(contract.id, form.new_limit)
    notes = sync_seat_codes(lock_contract(contract.id))
    limit = _("unlimited") if form.new_limit is None else count_text(form.new_limit)
    return _back_to(contract_id, notes, _("Seats set to %(limit)s.", limit=limit))


def _set_active(contract_id: int, active: bool) -> Rendered | Response:
    contract = _contract(contract_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        moving = len(contract_service.schedule_change_preview(contract, active=active).runs)
        contract_service.set_active(contract.id, active)
        done = (
            _("%(name)s reactivated.", name=contract.name)
            if active
            else _("%(name)s deactivated.", name=contract.name)
        )
        return _back_to(contract_id, _run_notes(moving), done)
    return page(
        "staff/contracts/confirm_active.html",
        invalid_status(form),
        contract=contract,
        form=form,
        active=active,
        claimed=claimed_count(contract.id),
        code_counts=code_service.code_counts(contract),
        preview=contract_service.schedule_change_preview(contract, active=active),
    )


@bp.route("/contracts/<int:contract_id>/deactivate", methods=["GET", "POST"])
@staff_required
@refusals_redirect_to("staff.contract_detail")
def contract_deactivate(contract_id: int) -> Rendered | Response:
    return _set_active(contract_id, False)


@bp.route("/contracts/<int:contract_id>/reactivate", methods=["GET", "POST"])
@staff_required
@refusals_redirect_to("staff.contract_detail")
def contract_reactivate(contract_id: int) -> Rendered | Response:
    return _set_active(contract_id, True)
