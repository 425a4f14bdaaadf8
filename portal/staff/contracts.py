"""Staff pages for contracts: create, edit, membership type and seat changes (each with a preview
and a confirmation), deactivation, and the contract's courseware (contract runs and programs).

Views are thin: validate the form, call ``services.contracts`` / ``services.contract_runs``, commit
once, flash the outcome, redirect. Destructive changes go through a page that states the impact
first; a refusal by a rule or by the database rolls everything back and is shown beside the form.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.domain_errors import DomainError
from portal.core.forms import PortalForm
from portal.core.params import parse_id
from portal.extensions import db
from portal.models import (
    BackgroundJob,
    Contract,
    ContractProgram,
    ContractSeatDay,
    Course,
    CourseRun,
    Organization,
    Program,
)
from portal.services import codes as code_service
from portal.services import contract_runs
from portal.services import contracts as contract_service
from portal.services.contract_runs import lock_contract
from portal.services.seats import claimed_count, held_seats
from portal.staff.codes import codes_and_learners, sync_seat_codes
from portal.staff.contract_forms import (
    ConfirmForm,
    ContractForm,
    MembershipTypeForm,
    SeatLimitForm,
)
from portal.staff.views import bp


def _contract(contract_id: int) -> Contract:
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        abort(404)
    return contract


def _form_id(name: str) -> int | None:
    return parse_id(request.form.get(name, ""))


@bp.get("/contracts")
@staff_required
def contracts() -> str:
    seats = (
        select(ContractSeatDay.contract_id, held_seats().label("claimed"))
        .group_by(ContractSeatDay.contract_id)
        .subquery()
    )
    runs = (
        select(CourseRun.contract_id, func.count(CourseRun.id).label("runs"))
        .group_by(CourseRun.contract_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            Contract, Organization, func.coalesce(seats.c.claimed, 0), func.coalesce(runs.c.runs, 0)
        )
        .join(Organization, Contract.organization_id == Organization.id)
        .outerjoin(seats, seats.c.contract_id == Contract.id)
        .outerjoin(runs, runs.c.contract_id == Contract.id)
        .order_by(Organization.name, Contract.name)
    ).all()
    return render_template("staff/contracts/list.html", rows=rows)


@bp.get("/contracts/<int:contract_id>")
@staff_required
def contract_detail(contract_id: int) -> str:
    contract = _contract(contract_id)
    runs = db.session.scalars(
        select(CourseRun)
        .options(joinedload(CourseRun.course))
        .where(CourseRun.contract_id == contract.id)
        .order_by(CourseRun.course_key)
    ).all()
    latest_jobs = {
        job.object_id: job
        for job in db.session.scalars(
            select(BackgroundJob)
            .where(
                BackgroundJob.object_type == "course_run",
                BackgroundJob.object_id.in_([str(r.id) for r in runs]),
            )
            .order_by(BackgroundJob.id)
        )
    }
    programs = db.session.scalars(
        select(ContractProgram)
        .options(joinedload(ContractProgram.program))
        .where(ContractProgram.contract_id == contract.id)
        .order_by(ContractProgram.position)
    ).all()
    claimed = claimed_count(contract.id)
    courses = db.session.scalars(
        select(Course)
        .join(CourseRun, CourseRun.course_id == Course.id)
        .where(CourseRun.is_source_run.is_(True))
        .order_by(Course.title)
    ).all()
    all_programs = db.session.scalars(select(Program).order_by(Program.title)).all()
    free_runs = db.session.scalars(
        select(CourseRun)
        .where(CourseRun.contract_id.is_(None), CourseRun.is_source_run.is_(False))
        .order_by(CourseRun.course_key)
        .limit(500)
    ).all()
    return render_template(
        "staff/contracts/detail.html",
        contract=contract,
        runs=runs,
        jobs={r.id: latest_jobs.get(str(r.id)) for r in runs},
        programs=programs,
        claimed=claimed,
        courses=courses,
        all_programs=all_programs,
        free_runs=free_runs,
        **codes_and_learners(contract),
    )


def _do(contract_id: int, action: str, success: str) -> Response:
    """Run one courseware change in its own transaction and report it."""
    contract = _contract(contract_id)
    try:
        if action == "course":
            course_id = _form_id("course_id")
            if course_id is None:
                raise DomainError("Choose a course to add.")
            run = contract_runs.add_course(contract.id, course_id)
            message = f"{success} {run.course_key}; it is being created in edX."
        elif action == "program":
            program_id = _form_id("program_id")
            if program_id is None:
                raise DomainError("Choose a program to add.")
            added = contract_runs.add_program(contract.id, program_id)
            message = f"{success} with {len(added.runs)} new run(s)."
            if added.without_source:
                message += " No run was made for these courses, which have no source run: " + (
                    ", ".join(c.title for c in added.without_source) + "."
                )
            if added.already_there:
                message += " Already on the contract: " + (
                    ", ".join(c.title for c in added.already_there) + "."
                )
        else:
            run_id = _form_id("run_id")
            if run_id is None:
                raise DomainError("Choose a run to attach.")
            run = contract_runs.add_existing_run(contract.id, run_id)
            message = f"{success} {run.course_key}."
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    except IntegrityError:
        db.session.rollback()
        flash(
            "Someone changed this contract at the same moment; nothing was saved. Try again.",
            "error",
        )
    else:
        flash(message, "success")
    return redirect(url_for("staff.contract_detail", contract_id=contract_id))


@bp.post("/contracts/<int:contract_id>/courses")
@staff_required
def contract_add_course(contract_id: int) -> Response:
    return _do(contract_id, "course", "Added")


@bp.post("/contracts/<int:contract_id>/programs")
@staff_required
def contract_add_program(contract_id: int) -> Response:
    return _do(contract_id, "program", "Program added")


@bp.post("/contracts/<int:contract_id>/runs")
@staff_required
def contract_add_run(contract_id: int) -> Response:
    return _do(contract_id, "run", "Attached")


@bp.route("/contracts/<int:contract_id>/runs/<int:run_id>/remove", methods=["GET", "POST"])
@staff_required
def contract_remove_run(contract_id: int, run_id: int) -> Response | str:
    contract = _contract(contract_id)
    try:
        impact = contract_runs.run_removal_impact(contract, run_id)
    except DomainError:
        abort(404)
    if request.method == "GET":
        return render_template(
            "staff/contracts/confirm_remove.html",
            contract=contract,
            what=impact.run.course_key,
            impacts=[impact],
        )
    contract_runs.remove_run(contract.id, run_id)
    db.session.commit()
    flash(f"{impact.run.course_key}: {impact.action}.", "success")
    return redirect(url_for("staff.contract_detail", contract_id=contract.id))


@bp.route("/contracts/<int:contract_id>/programs/<int:program_id>/remove", methods=["GET", "POST"])
@staff_required
def contract_remove_program(contract_id: int, program_id: int) -> Response | str:
    contract = _contract(contract_id)
    try:
        program, impacts = contract_runs.program_removal_impact(contract, program_id)
    except DomainError:
        abort(404)
    if request.method == "GET":
        return render_template(
            "staff/contracts/confirm_remove.html",
            contract=contract,
            what=program.title,
            impacts=impacts,
        )
    contract_runs.remove_program(contract.id, program_id)
    db.session.commit()
    flash(f"Removed {program.title}; {len(impacts)} run(s) handled.", "success")
    return redirect(url_for("staff.contract_detail", contract_id=contract.id))


# --------------------------------------------------------------------------- create and change


Rendered = tuple[str, int] | str


def _page(template: str, status: int = 200, **context: Any) -> Rendered:
    page = render_template(template, **context)
    return (page, status) if status != 200 else page


def _invalid_status(form: PortalForm) -> int:
    return 400 if form.is_submitted() else 200


def _slug_conflict(form: ContractForm) -> None:
    form.slug.errors = [
        *form.slug.errors,
        "Another contract of this organization already uses this short name; choose another.",
    ]


def _back_to(contract_id: int, notes: list[str], message: str) -> Response:
    flash(" ".join([message, *notes]), "success")
    return redirect(url_for("staff.contract_detail", contract_id=contract_id))


@bp.route("/contracts/new", methods=["GET", "POST"])
@staff_required
def contract_new() -> Rendered | Response:
    orgs = db.session.scalars(select(Organization).order_by(Organization.name)).all()
    form = ContractForm(organizations=list(orgs))
    if request.method == "GET" and parse_id(request.args.get("organization_id")):
        form.organization_id.data = parse_id(request.args.get("organization_id"))
    heading = "New contract"
    if not form.validate_on_submit():
        return _page("staff/contracts/form.html", _invalid_status(form), form=form, heading=heading)
    org = db.session.get(Organization, form.organization_id.data) or abort(404)
    try:
        contract = contract_service.create_contract(org, form.values())
        notes = sync_seat_codes(contract)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        form.form_errors.append(exc.message)
        return _page("staff/contracts/form.html", 400, form=form, heading=heading)
    except IntegrityError:
        db.session.rollback()
        _slug_conflict(form)
        return _page("staff/contracts/form.html", 409, form=form, heading=heading)
    return _back_to(contract.id, notes, f"Contract {contract.name} created.")


@bp.route("/contracts/<int:contract_id>/edit", methods=["GET", "POST"])
@staff_required
def contract_edit(contract_id: int) -> Rendered | Response:
    contract = _contract(contract_id)
    form = ContractForm(contract=contract)
    heading = f"Edit {contract.name}"
    context = {"form": form, "heading": heading, "contract": contract}
    if not form.validate_on_submit():
        return _page("staff/contracts/form.html", _invalid_status(form), **context)
    try:
        was_paid = contract.is_paid
        updated = contract_service.update_contract(contract.id, form.values())
        # A price makes an auto contract need seat codes (b2b-rules 1.5).
        notes = sync_seat_codes(updated) if updated.is_paid != was_paid else []
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        form.form_errors.append(exc.message)
        return _page("staff/contracts/form.html", 400, **context)
    except IntegrityError:
        db.session.rollback()
        _slug_conflict(form)
        return _page("staff/contracts/form.html", 409, **context)
    return _back_to(contract_id, notes, f"Contract {updated.name} saved.")


@bp.route("/contracts/<int:contract_id>/membership", methods=["GET", "POST"])
@staff_required
def contract_membership(contract_id: int) -> Rendered | Response:
    """Pick a type, see who gains and loses access, then confirm."""
    contract = _contract(contract_id)
    form = MembershipTypeForm(contract=contract)
    if not form.validate_on_submit():
        return _page(
            "staff/contracts/membership.html",
            _invalid_status(form),
            contract=contract,
            form=form,
            preview=None,
        )
    if not form.confirm.data:
        preview = contract_service.membership_change_preview(contract, form.new_type)
        return _page(
            "staff/contracts/membership.html", contract=contract, form=form, preview=preview
        )
    try:
        preview = contract_service.change_membership_type(contract.id, form.new_type)
        notes = sync_seat_codes(lock_contract(contract.id))
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("staff.contract_membership", contract_id=contract_id))
    message = (
        f"{contract.name} is now a {preview.new.value} contract: {preview.gain.count} gained "
        f"access, {preview.lose.count} lost it."
    )
    return _back_to(contract_id, notes, message)


@bp.route("/contracts/<int:contract_id>/seats", methods=["GET", "POST"])
@staff_required
def contract_seats(contract_id: int) -> Rendered | Response:
    """Pick a seat limit, see the codes added or removed (or why it is refused), then confirm."""
    contract = _contract(contract_id)
    form = SeatLimitForm(contract=contract)
    context: dict[str, Any] = {"contract": contract, "form": form, "preview": None}
    if not form.validate_on_submit():
        return _page("staff/contracts/seats.html", _invalid_status(form), **context)
    preview = contract_service.seat_change_preview(contract, form.new_limit)
    context["preview"] = preview
    if not preview.allowed:
        form.seat_limit.errors = [*form.seat_limit.errors, preview.problem]
        return _page("staff/contracts/seats.html", 400, **context)
    if not form.confirm.data:
        return _page("staff/contracts/seats.html", **context)
    try:
        contract_service.change_seat_limit(contract.id, form.new_limit)
        notes = sync_seat_codes(lock_contract(contract.id))
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("staff.contract_seats", contract_id=contract_id))
    limit = "unlimited" if form.new_limit is None else str(form.new_limit)
    return _back_to(contract_id, notes, f"Seats set to {limit}.")


def _set_active(contract_id: int, active: bool) -> Rendered | Response:
    contract = _contract(contract_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            contract_service.set_active(contract.id, active)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(url_for("staff.contract_detail", contract_id=contract_id))
        word = "reactivated" if active else "deactivated"
        return _back_to(contract_id, [], f"{contract.name} {word}.")
    claimed = claimed_count(contract.id)
    return _page(
        "staff/contracts/confirm_active.html",
        _invalid_status(form),
        contract=contract,
        form=form,
        active=active,
        claimed=claimed,
        code_counts=code_service.code_counts(contract),
    )


@bp.route("/contracts/<int:contract_id>/deactivate", methods=["GET", "POST"])
@staff_required
def contract_deactivate(contract_id: int) -> Rendered | Response:
    return _set_active(contract_id, False)


@bp.route("/contracts/<int:contract_id>/reactivate", methods=["GET", "POST"])
@staff_required
def contract_reactivate(contract_id: int) -> Rendered | Response:
    return _set_active(contract_id, True)
