"""The catalog's JSON API (``/api/v1/...``), read-only, shaped like Course Discovery's.

Who sees restricted runs (ADR 27, ``portal.services.catalog``): a request with
``Authorization: Bearer <token>`` is that API token (an unknown or revoked token, or a malformed
header, is a 401 even on public data); otherwise a signed-in staff session; otherwise the public.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import Select, bindparam, func, select
from werkzeug.wrappers import Response

from portal.core.pagination import Page, page_of
from portal.extensions import db
from portal.models import Course, CourseRun, Pacing
from portal.services import catalog
from portal.services.catalog import (
    BadQuery,
    CourseListing,
    PageNotFound,
    ProgramListing,
    Viewer,
    Visibility,
    iso_z,
)

bp = Blueprint("catalog_api", __name__)


def _error(status: int, title: str, detail: str, **headers: str) -> Response:
    response = jsonify(error=title, detail=detail, status=status)
    response.status_code = status
    response.headers.update(headers)
    return response


@bp.errorhandler(BadQuery)
def bad_query(exc: BadQuery) -> Response:
    return _error(400, "That request could not be understood", str(exc))


@bp.errorhandler(PageNotFound)
def page_not_found(exc: PageNotFound) -> Response:
    return _error(404, "Page not found", str(exc))


def _viewer() -> Viewer:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        token = catalog.authenticate_token(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            abort(
                _error(
                    401,
                    "Invalid API token",
                    "Send a valid, unrevoked API token as 'Authorization: Bearer <token>', "
                    "or no Authorization header for the public catalog.",
                    **{"WWW-Authenticate": 'Bearer realm="portal catalog"'},
                )
            )
        viewer = catalog.viewer_for_token(token)
        # Committed here, not with the request: the token was used even if the request is then
        # refused (a bad page number is a 400 or 404, which rolls back), and staff decide whether
        # a token can be revoked from its last_used_at.
        db.session.commit()
        return viewer
    if current_user.is_authenticated and current_user.is_staff:
        return catalog.STAFF
    return catalog.ANONYMOUS


def _visibility() -> Visibility:
    return catalog.visibility_for(
        _viewer(),
        ",".join(request.args.getlist("include_restricted")),
        request.args.get("include_hidden"),
    )


def _page_request() -> catalog.PageRequest:
    return catalog.parse_page_request(request.args)


def _page_url(page: int) -> str:
    """An absolute link to another page of this listing, keeping every other query parameter;
    built on PUBLIC_BASE_URL, not on the Host header a client sends."""
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    base = current_app.config["PORTAL"].public_base_url.rstrip("/") + request.path
    return f"{base}?{urlencode([*pairs, ('page', str(page))])}"


def _paginated(page: Page[Any], results: list[dict[str, Any]]) -> Response:
    return jsonify(
        count=page.total,
        next=_page_url(page.page + 1) if page.has_next else None,
        previous=_page_url(page.page - 1) if page.has_previous else None,
        results=results,
    )


# --------------------------------------------------------------------------- representations


class RunFields(Protocol):
    """What a run's representation reads: a ``CourseRun``, or a row of those columns."""

    @property
    def course_key(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def start_at(self) -> dt.datetime | None: ...
    @property
    def end_at(self) -> dt.datetime | None: ...
    @property
    def enrollment_start(self) -> dt.datetime | None: ...
    @property
    def enrollment_end(self) -> dt.datetime | None: ...
    @property
    def pacing(self) -> Pacing: ...
    @property
    def restriction_type(self) -> str | None: ...
    @property
    def hidden(self) -> bool: ...


def run_json(run: RunFields, course_key: str) -> dict[str, Any]:
    return {
        "key": run.course_key,
        "title": run.title,
        "start": iso_z(run.start_at),
        "end": iso_z(run.end_at),
        "enrollment_start": iso_z(run.enrollment_start),
        "enrollment_end": iso_z(run.enrollment_end),
        "pacing_type": run.pacing.value,
        "restriction_type": run.restriction_type,
        "hidden": run.hidden,
        "course": course_key,
    }


def course_json(listing: CourseListing) -> dict[str, Any]:
    course = listing.course
    return {
        "key": course.key,
        "number": course.number,
        "title": course.title,
        "description": course.description,
        "course_runs": [run_json(run, course.key) for run in listing.runs],
        "course_run_keys": [run.course_key for run in listing.runs],
    }


def program_json(listing: ProgramListing) -> dict[str, Any]:
    program = listing.program
    return {
        "key": program.key,
        "title": program.title,
        "description": program.description,
        "hidden": program.hidden,
        "courses": [course_json(course) for course in listing.courses],
    }


# --------------------------------------------------------------------------- endpoints


@functools.cache
def _runs_page_query(vis: Visibility) -> Select[*tuple[Any, ...]]:
    """``catalog.list_runs`` in one statement: the page of runs with the columns ``run_json``
    shows, and on every row the number of visible runs (an uncorrelated subquery, run once; the page
    itself can still stop reading after its last row). Built once per visibility (a handful: the
    known restriction types are few), so a request only binds the page's limit and offset."""
    visible = catalog.visible_run_filter(vis.included_types, vis.include_hidden)
    total = select(func.count(CourseRun.id)).where(visible).correlate(None).scalar_subquery()
    return (
        select(
            CourseRun.course_key,
            CourseRun.title,
            CourseRun.start_at,
            CourseRun.end_at,
            CourseRun.enrollment_start,
            CourseRun.enrollment_end,
            CourseRun.pacing,
            CourseRun.restriction_type,
            CourseRun.hidden,
            Course.key.label("course"),
            total.label("total"),
        )
        .join(Course, CourseRun.course_id == Course.id)
        .where(visible)
        .order_by(CourseRun.course_key)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


@bp.get("/course_runs/")
def course_runs() -> Response:
    vis = _visibility()
    wanted = _page_request()
    rows = (
        db.session.connection()
        .execute(
            _runs_page_query(vis),
            {"limit": wanted.size, "offset": (wanted.page - 1) * wanted.size},
        )
        .all()
    )
    if not rows and wanted.page > 1:
        # Past the last page: the catalog counts the runs and names the last page (a 404).
        page = catalog.list_runs(vis, wanted)
        return _paginated(page, [_run_json(run) for run in page.items])
    count = rows[0].total if rows else 0
    return _paginated(
        page_of(list(rows), wanted.page, per_page=wanted.size, total=count),
        [run_json(row, row.course) for row in rows],
    )


def _listing(
    lister: Callable[[Visibility, catalog.PageRequest], Page[Any]],
    to_json: Callable[[Any], dict[str, Any]],
) -> Response:
    page = lister(_visibility(), _page_request())
    return _paginated(page, [to_json(item) for item in page.items])


def _detail(
    lookup: Callable[[str, Visibility], Any],
    key: str,
    what: str,
    to_json: Callable[[Any], dict[str, Any]],
) -> Response:
    """One entry; 404 for an unknown one and for one this request may not see."""
    found = lookup(key, _visibility())
    if found is None:
        abort(404, description=f"No {what} {key} in the catalog.")
    return jsonify(to_json(found))


def _run_json(run: CourseRun) -> dict[str, Any]:
    return run_json(run, run.course.key)


@bp.get("/course_runs/<path:key>/")
def course_run(key: str) -> Response:
    return _detail(catalog.get_run, key, "course run", _run_json)


@bp.get("/courses/")
def courses() -> Response:
    return _listing(catalog.list_courses, course_json)


@bp.get("/courses/<path:key>/")
def course(key: str) -> Response:
    return _detail(catalog.get_course, key, "course", course_json)


@bp.get("/programs/")
def programs() -> Response:
    return _listing(catalog.list_programs, program_json)


@bp.get("/programs/<path:key>/")
def program(key: str) -> Response:
    return _detail(catalog.get_program, key, "program", program_json)
