"""Staff pages for courses, runs, programs and API tokens. Routes are added to the staff blueprint.

Every change is a POST (CSRF-checked globally), validated by a form before anything is written,
audited by the service that writes it, and committed by the request's unit of work; a conflict
only the database can see (a key taken meanwhile) writes nothing and comes back as an error
beside the field.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.forms import PortalForm
from portal.core.text import lazy_gettext as _l
from portal.core.unit_of_work import refusals_redirect_to
from portal.extensions import db
from portal.models import ApiToken, Course, CourseRun, Program, ProgramCourse
from portal.services import api_tokens as token_service
from portal.services import courseware
from portal.services.staff_overview import api_tokens_newest_first
from portal.staff.courseware_forms import (
    ApiTokenForm,
    CourseForm,
    ImportRunForm,
    ProgramCourseForm,
    ProgramForm,
    RevokeTokenForm,
    RunForm,
)
from portal.staff.refusals import Refused, Rendered, attempt, conflict_as, invalid_status, page
from portal.staff.views import bp

__all__ = ["bp"]

COURSE_TAKEN = _l("A course with this key already exists.")
PROGRAM_TAKEN = _l("A program with this key already exists.")
ORDER_CHANGED = _l("Someone changed this program's order at the same moment; try again.")


def _form_page(form: PortalForm, *, status: int = 200, **context: Any) -> Rendered:
    return page("staff/courseware/form.html", status, form=form, **context)


# --------------------------------------------------------------------------- overview


@bp.get("/courseware")
@staff_required
def courses() -> str:
    overview = courseware.courseware_overview()
    return render_template(
        "staff/courseware/index.html", courses=overview.courses, programs=overview.programs
    )


# --------------------------------------------------------------------------- courses


def _save_course(form: CourseForm, course: Course, heading: str) -> Rendered | Response:
    if not form.validate_on_submit():
        return _form_page(form, status=invalid_status(form), heading=heading)
    creating = course.id is None
    saved = attempt(
        form,
        lambda: courseware.save(course, form.values()),
        field=form.key,
        conflict=str(COURSE_TAKEN),
    )
    if isinstance(saved, Refused):
        return _form_page(form, status=saved.status, heading=heading)
    if creating:
        flash(_("Course %(key)s created. Add its runs next.", key=saved.key), "success")
    else:
        flash(_("Course %(key)s saved.", key=saved.key), "success")
    return redirect(url_for("staff.courses"))


@bp.route("/courseware/courses/new", methods=["GET", "POST"])
@staff_required
def course_new() -> Rendered | Response:
    return _save_course(CourseForm(), Course(), _("New course"))


@bp.route("/courseware/courses/<int:course_id>", methods=["GET", "POST"])
@staff_required
def course_edit(course_id: int) -> Rendered | Response:
    course = db.session.get(Course, course_id) or abort(404)
    return _save_course(CourseForm(course=course), course, _("Edit course %(key)s", key=course.key))


# --------------------------------------------------------------------------- runs


def _run_conflict(exc: IntegrityError) -> str:
    if "course_key" in str(exc.orig):
        return _("A course run with this key already exists.")
    return _("Another run of this course became its source run at the same moment; try again.")


def _save_run(form: RunForm, run: CourseRun, heading: str) -> Rendered | Response:
    if not form.validate_on_submit():
        return _form_page(form, status=invalid_status(form), heading=heading, course=form.course)
    previous = attempt(
        form,
        lambda: courseware.save_run(run, form.values(), source=bool(form.is_source_run.data)),
        field=form.course_key,
        conflict=lambda exc: (form.course_key, _run_conflict(exc)),
    )
    if isinstance(previous, Refused):
        return _form_page(form, status=previous.status, heading=heading, course=form.course)
    flash(_("Course run %(key)s saved.", key=run.course_key), "success")
    if previous is not None:
        flash(_("%(key)s is no longer the course's source run.", key=previous.course_key), "info")
    return redirect(url_for("staff.courses"))


@bp.route("/courseware/courses/<int:course_id>/runs/new", methods=["GET", "POST"])
@staff_required
def run_new(course_id: int) -> Rendered | Response:
    course = db.session.get(Course, course_id) or abort(404)
    form = RunForm(course=course)
    heading = _("New run of %(title)s", title=course.title)
    if not form.is_submitted():
        form.course_key.data = f"course-v1:{course.key}+"
        form.title.data = course.title
    return _save_run(form, CourseRun(course_id=course.id), heading)


@bp.route("/courseware/runs/<int:run_id>", methods=["GET", "POST"])
@staff_required
def run_edit(run_id: int) -> Rendered | Response:
    run = db.session.get(CourseRun, run_id) or abort(404)
    form = RunForm(course=run.course, run=run)
    return _save_run(form, run, _("Edit run %(key)s", key=run.course_key))


@bp.route("/courseware/import", methods=["GET", "POST"])
@staff_required
def run_import() -> Rendered | Response:
    """Import an existing edX run by its key: Studio's title, dates and pacing (b2b-rules 1.1)."""
    form = ImportRunForm()
    heading = _("Import a run from edX")
    if not form.validate_on_submit():
        return _form_page(form, status=invalid_status(form), heading=heading)
    key = form.course_key.data
    try:
        result = attempt(
            form,
            lambda: courseware.import_run_from_edx(key),
            field=form.course_key,
            conflict=str(courseware.ALREADY_IMPORTED),
            leave=(courseware.EdxUnavailable,),
        )
    except courseware.EdxUnavailable as exc:
        flash(exc.message, "error")  # not the form's fault: said above it, not beside the key
        return _form_page(form, status=exc.status, heading=heading)
    if isinstance(result, Refused):
        return _form_page(form, status=result.status, heading=heading)
    flash(_imported_message(key, result), "success")
    return redirect(url_for("staff.courses"))


def _imported_message(key: str, result: courseware.ImportResult) -> str:
    course = result.run.course.key
    if result.course_created and result.flagged_source:
        return _(
            "Imported %(key)s, created the course %(course)s, flagged it as the course's source "
            "run.",
            key=key,
            course=course,
        )
    if result.course_created:
        return _("Imported %(key)s, created the course %(course)s.", key=key, course=course)
    if result.flagged_source:
        return _("Imported %(key)s, flagged it as the course's source run.", key=key)
    return _("Imported %(key)s.", key=key)


# --------------------------------------------------------------------------- programs


def _program_page(
    program: Program, form: ProgramForm, add_form: ProgramCourseForm, status: int = 200
) -> Rendered:
    return page(
        "staff/courseware/program.html", status, program=program, form=form, add_form=add_form
    )


def _add_course_form(program: Program) -> ProgramCourseForm:
    return ProgramCourseForm(courses=courseware.courses_outside(program))


def _program(program_id: int, *, lock: bool = False) -> Program:
    return courseware.program_with_courses(program_id, lock=lock) or abort(404)


def _to_program(program: Program) -> Response:
    return redirect(url_for("staff.program_edit", program_id=program.id))


@bp.route("/courseware/programs/new", methods=["GET", "POST"])
@staff_required
def program_new() -> Rendered | Response:
    form = ProgramForm()
    heading = _("New program")
    if not form.validate_on_submit():
        return _form_page(form, status=invalid_status(form), heading=heading)
    program = attempt(
        form,
        lambda: courseware.save(Program(), form.values()),
        field=form.key,
        conflict=str(PROGRAM_TAKEN),
    )
    if isinstance(program, Refused):
        return _form_page(form, status=program.status, heading=heading)
    flash(_("Program %(key)s created. Add its courses below.", key=program.key), "success")
    return _to_program(program)


@bp.route("/courseware/programs/<int:program_id>", methods=["GET", "POST"])
@staff_required
def program_edit(program_id: int) -> Rendered | Response:
    program = _program(program_id)
    form = ProgramForm(obj=program)
    if not form.validate_on_submit():
        return _program_page(program, form, _add_course_form(program), invalid_status(form))
    saved = attempt(
        form,
        lambda: courseware.save(program, form.values()),
        field=form.key,
        conflict=str(PROGRAM_TAKEN),
    )
    if isinstance(saved, Refused):
        return _program_page(program, form, _add_course_form(program), saved.status)
    flash(_("Program %(key)s saved.", key=program.key), "success")
    return _to_program(program)


@bp.post("/courseware/programs/<int:program_id>/courses")
@staff_required
def program_add_course(program_id: int) -> Rendered | Response:
    program = _program(program_id, lock=True)
    add_form = _add_course_form(program)
    if not add_form.validate_on_submit():
        return _program_page(program, ProgramForm(obj=program, formdata=None), add_form, 400)
    course = db.session.get(Course, add_form.course_id.data) or abort(404)
    added = attempt(
        add_form,
        lambda: courseware.append_program_course(program, course),
        field=add_form.course_id,
        conflict=_("That course is already in this program."),
    )
    if isinstance(added, Refused):
        form = ProgramForm(obj=program, formdata=None)
        return _program_page(program, form, add_form, added.status)
    flash(
        _(
            "%(course)s added at the end of %(program)s.",
            course=course.title,
            program=program.title,
        ),
        "success",
    )
    return _to_program(program)


def _program_link(program: Program, link_id: int) -> ProgramCourse:
    for link in program.course_links:
        if link.id == link_id:
            return link
    abort(404)


@bp.post("/courseware/programs/<int:program_id>/courses/<int:link_id>/<any(up,down):direction>")
@staff_required
@refusals_redirect_to("staff.program_edit")
def program_move_course(program_id: int, link_id: int, direction: str) -> Response:
    program = _program(program_id, lock=True)
    link = _program_link(program, link_id)
    offset = -1 if direction == "up" else 1
    with conflict_as(str(ORDER_CHANGED)):
        moved = courseware.move_program_course(program, link, offset)
    if not moved and offset < 0:
        flash(_("%(course)s is already first.", course=link.course.title), "info")
    elif not moved:
        flash(_("%(course)s is already last.", course=link.course.title), "info")
    return _to_program(program)


@bp.post("/courseware/programs/<int:program_id>/courses/<int:link_id>/remove")
@staff_required
@refusals_redirect_to("staff.program_edit")
def program_remove_course(program_id: int, link_id: int) -> Response:
    program = _program(program_id, lock=True)
    link = _program_link(program, link_id)
    title = link.course.title
    with conflict_as(str(ORDER_CHANGED)):
        courseware.remove_program_course(program, link)
    flash(_("%(course)s removed from %(program)s.", course=title, program=program.title), "success")
    return _to_program(program)


# --------------------------------------------------------------------------- API tokens


@bp.get("/api-tokens")
@staff_required
def api_tokens() -> str:
    return render_template("staff/courseware/tokens.html", tokens=api_tokens_newest_first())


@bp.route("/api-tokens/new", methods=["GET", "POST"])
@staff_required
def api_token_new() -> Rendered | Response:
    form = ApiTokenForm()
    heading = _("Issue an API token")
    if not form.validate_on_submit():
        return _form_page(form, status=invalid_status(form), heading=heading)
    token, value = token_service.issue_api_token(
        form.name.data, form.allowed_restrictions.data, created_by_id=int(current_user.id)
    )
    # The only time the token is shown: never stored, never cached.
    response = Response(
        render_template("staff/courseware/token_created.html", token=token, value=value),
        mimetype="text/html",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@staff_required
def api_token_revoke(token_id: int) -> Rendered | Response:
    token = db.session.get(ApiToken, token_id) or abort(404)
    form = RevokeTokenForm()
    if form.validate_on_submit():
        if token_service.revoke_api_token(token):
            flash(_("Token '%(name)s' revoked; it no longer works.", name=token.name), "success")
        else:
            flash(_("Token '%(name)s' was already revoked.", name=token.name), "info")
        return redirect(url_for("staff.api_tokens"))
    return page("staff/courseware/token_revoke.html", invalid_status(form), token=token, form=form)
