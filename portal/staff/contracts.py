"""Staff pages for contracts and their courseware (contract course runs and programs).

Views are thin: parse the form, call ``services.contract_runs``, flash the outcome, redirect.
Removing courseware goes through a confirmation page that states the impact first.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.extensions import db
from portal.models import (
    BackgroundJob,
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    Organization,
    Program,
    Seat,
)
from portal.services import contract_runs
from portal.services.errors import DomainError
from portal.staff.views import bp


def _contract(contract_id: int) -> Contract:
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        abort(404)
    return contract


def _form_id(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() else None


@bp.get("/contracts")
@staff_required
def contracts() -> str:
    seats = (
        select(Seat.contract_id, func.count(Seat.id).label("claimed"))
        .where(Seat.revoked_at.is_(None))
        .group_by(Seat.contract_id)
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
    claimed = db.session.scalar(
        select(func.count(Seat.id)).where(
            Seat.contract_id == contract.id, Seat.revoked_at.is_(None)
        )
    )
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
