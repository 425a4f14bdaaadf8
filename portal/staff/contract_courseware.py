"""Staff pages for a contract's courseware: add a course (a new contract run cloned in edX), a
program (a run for each of its courses) or an existing run, and remove a run or a program after a
page that states the impact. The rules are in ``services.contract_runs``.

Every addition is answered on the contract page: what was added, or why nothing was (a rule, a
choice that no longer exists, or a change made at the same moment by someone else).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.domain_errors import DomainError, NotFound
from portal.core.params import parse_id
from portal.core.text import plural
from portal.core.unit_of_work import refusals_redirect_to
from portal.extensions import db
from portal.models import Contract
from portal.services import contract_runs
from portal.staff.refusals import conflict_as
from portal.staff.views import bp

__all__ = ["bp"]

CONCURRENT = "Someone changed this contract at the same moment; nothing was saved. Try again."


def _contract(contract_id: int) -> Contract:
    return db.session.get(Contract, contract_id) or abort(404)


def _chosen(name: str, missing: str) -> int:
    chosen = parse_id(request.form.get(name, ""))
    if chosen is None:
        raise DomainError(missing)
    return chosen


def _add(contract_id: int, change: Callable[[Contract], str]) -> Response:
    """Make one addition and say what it did; a refusal is flashed by ``refusals_redirect_to``."""
    contract = _contract(contract_id)
    try:
        with conflict_as(CONCURRENT):
            message = change(contract)
    except NotFound as exc:
        # What was chosen is gone (or never was): a refusal on the contract page, not a 404.
        raise DomainError(exc.message) from exc
    flash(message, "success")
    return redirect(url_for("staff.contract_detail", contract_id=contract_id))


@bp.post("/contracts/<int:contract_id>/courses")
@staff_required
@refusals_redirect_to("staff.contract_detail")
def contract_add_course(contract_id: int) -> Response:
    def add(contract: Contract) -> str:
        run = contract_runs.add_course(
            contract.id, _chosen("course_id", _("Choose a course to add."))
        )
        return _("Added %(key)s; it is being created in edX.", key=run.course_key)

    return _add(contract_id, add)


@bp.post("/contracts/<int:contract_id>/programs")
@staff_required
@refusals_redirect_to("staff.contract_detail")
def contract_add_program(contract_id: int) -> Response:
    def add(contract: Contract) -> str:
        program_id = _chosen("program_id", _("Choose a program to add."))
        added = contract_runs.add_program(contract.id, program_id)
        said = [
            plural(
                len(added.runs),
                "Program added with %(num)s new run.",
                "Program added with %(num)s new runs.",
            )
        ]
        if added.without_source:
            said.append(
                _(
                    "No run was made for these courses, which have no source run: %(courses)s.",
                    courses=", ".join(c.title for c in added.without_source),
                )
            )
        if added.already_there:
            said.append(
                _(
                    "Already on the contract: %(courses)s.",
                    courses=", ".join(c.title for c in added.already_there),
                )
            )
        return " ".join(said)

    return _add(contract_id, add)


@bp.post("/contracts/<int:contract_id>/runs")
@staff_required
@refusals_redirect_to("staff.contract_detail")
def contract_add_run(contract_id: int) -> Response:
    def add(contract: Contract) -> str:
        run_id = _chosen("run_id", _("Choose a run to attach."))
        return _(
            "Attached %(key)s.", key=contract_runs.add_existing_run(contract.id, run_id).course_key
        )

    return _add(contract_id, add)


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
    flash(
        _("%(key)s: enrollment closed (kept: it has enrollments).", key=impact.run.course_key)
        if impact.enrollments
        else _("%(key)s: detached from the contract.", key=impact.run.course_key),
        "success",
    )
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
    flash(
        plural(
            len(impacts),
            "Removed %(program)s; %(num)s run handled.",
            "Removed %(program)s; %(num)s runs handled.",
            program=program.title,
        ),
        "success",
    )
    return redirect(url_for("staff.contract_detail", contract_id=contract.id))
