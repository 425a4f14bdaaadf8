"""The public catalog pages. What they show follows ``portal.services.catalog`` (ADR 27): restricted
and hidden runs only for signed-in staff who ask (``include_restricted``, ``include_hidden=1``), and
source runs never."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from portal.core.pagination import Page
from portal.models.courseware import RESTRICTION_B2B, RESTRICTION_B2C
from portal.services import catalog
from portal.services.catalog import BadQuery, PageNotFound, Visibility

bp = Blueprint("catalog", __name__)
PAGE_SIZE = 24

RESTRICTION_LABELS = {RESTRICTION_B2B: "B2B enterprise", RESTRICTION_B2C: "B2C"}
# The staff filter's choices: label and include_restricted value.
FILTER_CHOICES = [
    ("Public only", ""),
    ("+ B2B enterprise", RESTRICTION_B2B),
    ("+ B2C", RESTRICTION_B2C),
    ("+ both", f"{RESTRICTION_B2B},{RESTRICTION_B2C}"),
]


@bp.errorhandler(BadQuery)
def bad_query(exc: BadQuery) -> tuple[str, int]:
    return render_template(
        "errors/error.html", status=400, title="That address isn't valid", message=str(exc)
    ), 400


@bp.errorhandler(PageNotFound)
def page_not_found(exc: PageNotFound) -> tuple[str, int]:
    return render_template(
        "errors/error.html", status=404, title="Page not found", message=str(exc)
    ), 404


def _is_staff() -> bool:
    return bool(current_user.is_authenticated and current_user.is_staff)


def _visibility() -> Visibility:
    viewer = catalog.STAFF if _is_staff() else catalog.ANONYMOUS
    return catalog.visibility_for(
        viewer,
        ",".join(request.args.getlist("include_restricted")),
        request.args.get("include_hidden"),
    )


def _context(vis: Visibility) -> dict[str, Any]:
    """What every catalog template needs: the filter to keep in links (staff only)."""
    keep: dict[str, str] = {}
    if vis.included_types:
        keep["include_restricted"] = ",".join(sorted(vis.included_types))
    if vis.include_hidden:
        keep["include_hidden"] = "1"
    return {
        "vis": vis,
        "keep": keep,
        "is_staff": _is_staff(),
        "restriction_labels": RESTRICTION_LABELS,
        "filter_choices": FILTER_CHOICES,
    }


def _page_request() -> catalog.PageRequest:
    return catalog.parse_page_request(request.args, default_size=PAGE_SIZE, max_size=PAGE_SIZE)


def _listing(template: str, lister: Callable[[Visibility, catalog.PageRequest], Page[Any]]) -> str:
    vis = _visibility()
    return render_template(template, page=lister(vis, _page_request()), **_context(vis))


def _detail(template: str, name: str, lookup: Callable[[str, Visibility], Any], key: str) -> str:
    """The page of one catalog entry; 404 for an unknown one and for one this request may not see."""
    vis = _visibility()
    found = lookup(key, vis)
    if found is None:
        abort(404)
    return render_template(template, **{name: found}, **_context(vis))


@bp.get("/")
def index() -> str:
    return _listing("catalog/index.html", catalog.list_offered_courses)


@bp.get("/courses/<path:course_key>")
def course(course_key: str) -> str:
    return _detail("catalog/course.html", "listing", catalog.get_course, course_key)


@bp.get("/runs/<path:run_key>")
def run(run_key: str) -> str:
    return _detail("catalog/run.html", "run", catalog.get_run, run_key)


@bp.get("/programs/")
def programs() -> str:
    return _listing("catalog/programs.html", catalog.list_programs)


@bp.get("/programs/<path:program_key>")
def program(program_key: str) -> str:
    return _detail("catalog/program.html", "listing", catalog.get_program, program_key)
