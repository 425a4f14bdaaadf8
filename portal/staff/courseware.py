"""Staff pages for courses, runs, programs and API tokens. Routes are added to the staff blueprint.

Every change is a POST (CSRF-checked globally), validated by a form before anything is written,
audited by the service that writes it, and committed once; a conflict only the database can see
(a key taken meanwhile) rolls everything back and comes back as an error beside the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response
from wtforms import Field

from portal.core.access import staff_required
from portal.core.forms import PortalForm
from portal.extensions import db
from portal.integrations.openedx import OpenEdxError, edx_client
from portal.models import ApiToken, Course, CourseRun, Program, ProgramCourse
from portal.services import api_tokens as token_service
from portal.services import courseware
from portal.staff.courseware_forms import (
    ApiTokenForm,
    CourseForm,
    ImportRunForm,
    ProgramCourseForm,
    ProgramForm,
    RevokeTokenForm,
    RunForm,
)
from portal.staff.views import bp

__all__ = ["bp"]

T = TypeVar("T")
Rendered = tuple[str, int] | str


def _add_error(field: Field, message: str) -> None:
    field.errors = [*field.errors, message]


def _write(
    field: Field, conflict: Callable[[IntegrityError], str], work: Callable[[], T]
) -> tuple[bool, T | None]:
    """Run the writes and commit; on a constraint violation roll back and explain it on ``field``."""
    try:
        result = work()
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        _add_error(field, conflict(exc))
        return False, None
    return True, result


def _form_page(form: PortalForm, *, status: int = 200, **context: Any) -> Rendered:
    page = render_template("staff/courseware/form.html", form=form, **context)
    return (page, status) if status != 200 else page


def _invalid_status(form: PortalForm) -> int:
    return 400 if form.is_submitted() else 200


# --------------------------------------------------------------------------- overview


@bp.get("/courseware")
@staff_required
def courses() -> str:
    course_rows = db.session.scalars(
        select(Course).options(selectinload(Course.runs)).order_by(Course.key)
    ).all()
    programs = db.session.scalars(
        select(Program)
        .options(selectinload(Program.course_links).joinedload(ProgramCourse.course))
        .order_by(Program.key)
    ).all()
    return render_template("staff/courseware/index.html", courses=course_rows, programs=programs)


# --------------------------------------------------------------------------- courses


def _course_conflict(exc: IntegrityError) -> str:
    return "A course with this key already exists."


@bp.route("/courseware/courses/new", methods=["GET", "POST"])
@staff_required
def course_new() -> Rendered | Response:
    form = CourseForm()
    if form.validate_on_submit():
        course = Course()
        if _write(form.key, _course_conflict, lambda: courseware.save(course, form.values()))[0]:
            flash(f"Course {course.key} created. Add its runs next.", "success")
            return redirect(url_for("staff.courses"))
        return _form_page(form, status=409, heading="New course")
    return _form_page(form, status=_invalid_status(form), heading="New course")


@bp.route("/courseware/courses/<int:course_id>", methods=["GET", "POST"])
@staff_required
def course_edit(course_id: int) -> Rendered | Response:
    course = db.session.get(Course, course_id) or abort(404)
    form = CourseForm(course=course)
    heading = f"Edit course {course.key}"
    if form.validate_on_submit():
        if _write(form.key, _course_conflict, lambda: courseware.save(course, form.values()))[0]:
            flash(f"Course {course.key} saved.", "success")
            return redirect(url_for("staff.courses"))
        return _form_page(form, status=409, heading=heading)
    return _form_page(form, status=_invalid_status(form), heading=heading)


# --------------------------------------------------------------------------- runs


def _run_conflict(exc: IntegrityError) -> str:
    if "course_key" in str(exc.orig):
        return "A course run with this key already exists."
    return "Another run of this course became its source run at the same moment; try again."


def _save_run(form: RunForm, run: CourseRun, heading: str) -> Rendered | Response:
    ok, previous = _write(
        form.course_key,
        _run_conflict,
        lambda: courseware.save_run(run, form.values(), source=bool(form.is_source_run.data)),
    )
    if not ok:
        return _form_page(form, status=409, heading=heading, course=form.course)
    flash(f"Course run {run.course_key} saved.", "success")
    if previous is not None:
        flash(f"{previous.course_key} is no longer the course's source run.", "info")
    return redirect(url_for("staff.courses"))


@bp.route("/courseware/courses/<int:course_id>/runs/new", methods=["GET", "POST"])
@staff_required
def run_new(course_id: int) -> Rendered | Response:
    course = db.session.get(Course, course_id) or abort(404)
    form = RunForm(course=course)
    heading = f"New run of {course.title}"
    if not form.is_submitted():
        form.course_key.data = f"course-v1:{course.key}+"
        form.title.data = course.title
    if form.validate_on_submit():
        return _save_run(form, CourseRun(course_id=course.id), heading)
    return _form_page(form, status=_invalid_status(form), heading=heading, course=course)


@bp.route("/courseware/runs/<int:run_id>", methods=["GET", "POST"])
@staff_required
def run_edit(run_id: int) -> Rendered | Response:
    run = db.session.get(CourseRun, run_id) or abort(404)
    form = RunForm(course=run.course, run=run)
    heading = f"Edit run {run.course_key}"
    if form.validate_on_submit():
        return _save_run(form, run, heading)
    return _form_page(form, status=_invalid_status(form), heading=heading, course=run.course)


@bp.route("/courseware/import", methods=["GET", "POST"])
@staff_required
def run_import() -> Rendered | Response:
    """Import an existing edX run by its key: Studio's title, dates and pacing (b2b-rules 1.1)."""
    form = ImportRunForm()
    heading = "Import a run from edX"
    if not form.validate_on_submit():
        return _form_page(form, status=_invalid_status(form), heading=heading)
    key = form.course_key.data
    already = "That run is already in the portal; edit it from the courseware list instead."
    if db.session.scalar(select(CourseRun.id).where(CourseRun.course_key == key)) is not None:
        _add_error(form.course_key, already)
        return _form_page(form, status=409, heading=heading)
    try:
        data = edx_client().get_course_run(key)
    except OpenEdxError as exc:
        if exc.transient:
            flash(
                "edX is unavailable right now, so nothing was imported. Try again in a moment.",
                "error",
            )
            return _form_page(form, status=503, heading=heading)
        _add_error(form.course_key, f"edX refused to show this run (HTTP {exc.status}).")
        return _form_page(form, status=502, heading=heading)
    if data is None:
        _add_error(form.course_key, "edX has no course run with that key.")
        return _form_page(form, status=404, heading=heading)
    try:
        ok, result = _write(
            form.course_key, lambda exc: already, lambda: courseware.import_edx_run(key, data)
        )
    except ValueError as exc:
        db.session.rollback()
        _add_error(form.course_key, f"edX's answer can't be used: {exc}.")
        return _form_page(form, status=502, heading=heading)
    if not ok or result is None:
        return _form_page(form, status=409, heading=heading)
    notes = [f"Imported {key}"]
    if result.course_created:
        notes.append(f"created the course {result.run.course.key}")
    if result.flagged_source:
        notes.append("flagged it as the course's source run")
    flash(", ".join(notes) + ".", "success")
    return redirect(url_for("staff.courses"))


# --------------------------------------------------------------------------- programs


def _program_conflict(exc: IntegrityError) -> str:
    return "A program with this key already exists."


def _program_page(
    program: Program, form: ProgramForm, add_form: ProgramCourseForm, status: int = 200
) -> Rendered:
    page = render_template(
        "staff/courseware/program.html", program=program, form=form, add_form=add_form
    )
    return (page, status) if status != 200 else page


def _add_course_form(program: Program) -> ProgramCourseForm:
    taken = {link.course_id for link in program.course_links}
    courses = db.session.scalars(select(Course).order_by(Course.title)).all()
    return ProgramCourseForm(courses=[c for c in courses if c.id not in taken])


def _program_for_update(program_id: int) -> Program:
    program = db.session.get(
        Program,
        program_id,
        options=[selectinload(Program.course_links).joinedload(ProgramCourse.course)],
        with_for_update=True,
    )
    return program or abort(404)


@bp.route("/courseware/programs/new", methods=["GET", "POST"])
@staff_required
def program_new() -> Rendered | Response:
    form = ProgramForm()
    if form.validate_on_submit():
        program = Program()
        if _write(form.key, _program_conflict, lambda: courseware.save(program, form.values()))[0]:
            flash(f"Program {program.key} created. Add its courses below.", "success")
            return redirect(url_for("staff.program_edit", program_id=program.id))
        return _form_page(form, status=409, heading="New program")
    return _form_page(form, status=_invalid_status(form), heading="New program")


@bp.route("/courseware/programs/<int:program_id>", methods=["GET", "POST"])
@staff_required
def program_edit(program_id: int) -> Rendered | Response:
    program = db.session.get(
        Program,
        program_id,
        options=[selectinload(Program.course_links).joinedload(ProgramCourse.course)],
    ) or abort(404)
    form = ProgramForm(obj=program)
    if form.validate_on_submit():
        if _write(form.key, _program_conflict, lambda: courseware.save(program, form.values()))[0]:
            flash(f"Program {program.key} saved.", "success")
            return redirect(url_for("staff.program_edit", program_id=program.id))
        return _program_page(program, form, _add_course_form(program), 409)
    return _program_page(program, form, _add_course_form(program), _invalid_status(form))


@bp.post("/courseware/programs/<int:program_id>/courses")
@staff_required
def program_add_course(program_id: int) -> Rendered | Response:
    program = _program_for_update(program_id)
    add_form = _add_course_form(program)
    if add_form.validate_on_submit():
        course = db.session.get(Course, add_form.course_id.data) or abort(404)
        conflict = "That course is already in this program."
        if _write(
            add_form.course_id,
            lambda exc: conflict,
            lambda: courseware.append_program_course(program, course),
        )[0]:
            flash(f"{course.title} added at the end of {program.title}.", "success")
            return redirect(url_for("staff.program_edit", program_id=program.id))
        return _program_page(program, ProgramForm(obj=program, formdata=None), add_form, 409)
    return _program_page(program, ProgramForm(obj=program, formdata=None), add_form, 400)


def _program_link(program: Program, link_id: int) -> ProgramCourse:
    for link in program.course_links:
        if link.id == link_id:
            return link
    abort(404)


@bp.post("/courseware/programs/<int:program_id>/courses/<int:link_id>/<any(up,down):direction>")
@staff_required
def program_move_course(program_id: int, link_id: int, direction: str) -> Response:
    program = _program_for_update(program_id)
    link = _program_link(program, link_id)
    offset = -1 if direction == "up" else 1
    try:
        moved = courseware.move_program_course(program, link, offset)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash("Someone changed this program's order at the same moment; try again.", "error")
        return redirect(url_for("staff.program_edit", program_id=program_id))
    if not moved:
        flash(f"{link.course.title} is already {'first' if offset < 0 else 'last'}.", "info")
    return redirect(url_for("staff.program_edit", program_id=program.id))


@bp.post("/courseware/programs/<int:program_id>/courses/<int:link_id>/remove")
@staff_required
def program_remove_course(program_id: int, link_id: int) -> Response:
    program = _program_for_update(program_id)
    link = _program_link(program, link_id)
    title = link.course.title
    try:
        courseware.remove_program_course(program, link)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash("Someone changed this program's order at the same moment; try again.", "error")
        return redirect(url_for("staff.program_edit", program_id=program_id))
    flash(f"{title} removed from {program.title}.", "success")
    return redirect(url_for("staff.program_edit", program_id=program.id))


# --------------------------------------------------------------------------- API tokens


@bp.get("/api-tokens")
@staff_required
def api_tokens() -> str:
    tokens = db.session.scalars(
        select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ).all()
    return render_template("staff/courseware/tokens.html", tokens=tokens)


@bp.route("/api-tokens/new", methods=["GET", "POST"])
@staff_required
def api_token_new() -> Rendered | Response:
    form = ApiTokenForm()
    heading = "Issue an API token"
    if not form.validate_on_submit():
        return _form_page(form, status=_invalid_status(form), heading=heading)
    token, value = token_service.issue_api_token(
        form.name.data, form.allowed_restrictions.data, created_by_id=int(current_user.id)
    )
    db.session.commit()
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
            db.session.commit()
            flash(f"Token '{token.name}' revoked; it no longer works.", "success")
        else:
            flash(f"Token '{token.name}' was already revoked.", "info")
        return redirect(url_for("staff.api_tokens"))
    page = render_template("staff/courseware/token_revoke.html", token=token, form=form)
    return (page, 400) if form.is_submitted() else page
