"""openedx-completion-aggregator's course API: ``GET /completion-aggregator/v1/course/{course_key}/``
(``CompletionDetailView``): staff read every active learner of a course, a learner only themself.

The plugin is optional in Open edX; ``PATCH /__emulator__/features {"completion_aggregator": false}``
uninstalls it (its paths then get the LMS's HTML 404 page).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, request
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse

from . import outcome_store
from .auth import authenticate
from .errors import NOT_FOUND, PERMISSION_DENIED, ApiError, json_response
from .faults import fault_point
from .grades import known_key
from .pages import _page
from .paging import number_page, page_size
from .state import emulator

bp = Blueprint("completion", __name__)

BASE = "/completion-aggregator/v1/course"
FEATURE = "completion_aggregator"
PAGE_SIZE = 10  # the LMS's REST_FRAMEWORK["PAGE_SIZE"] (NamespacedPageNumberPagination)
BLOCK_AGGREGATIONS = ("course", "chapter", "sequential", "vertical")
OPTIONAL_FIELDS = ("mean", "username")


def _requested_fields() -> list[str]:
    """``get_requested_fields``: block aggregations or ``mean``/``username``, else 400."""
    fields = [f for f in dict.fromkeys(request.args.get("requested_fields", "").split(",")) if f]
    invalid = sorted(f for f in fields if f not in BLOCK_AGGREGATIONS + OPTIONAL_FIELDS)
    if invalid:
        shown = "{" + ", ".join(repr(f) for f in invalid) + "}"
        raise ApiError(400, {"detail": f"Invalid requested_fields value(s): {shown}"})
    return fields


def _not_installed() -> Response:
    body = Markup("<h1>Page not found</h1><p>The page you requested does not exist.</p>")
    return _page("Page not found", body, 404)


@bp.get(f"{BASE}/<path:course_key>/", strict_slashes=False)
@fault_point("completion.course")
def course_completion(course_key: str) -> WerkzeugResponse:
    """Course-level completion of the course's active enrollments, ordered by user id."""
    store = emulator().store
    if not outcome_store.feature_enabled(store, FEATURE):
        return _not_installed()
    if not request.path.endswith("/"):
        query = request.query_string.decode()
        return redirect(f"{BASE}/{course_key}/" + (f"?{query}" if query else ""), code=301)
    principal = authenticate()
    if not known_key(course_key):
        raise ApiError(404, {"detail": f"Invalid course key: '{course_key}'."})
    fields = _requested_fields()
    requested = request.args.get("username")
    if not requested:
        if not principal.is_staff:
            raise ApiError(403, PERMISSION_DENIED)
        user = principal.user
        all_users = True
    elif principal.is_staff:
        found = store.get_user(requested)
        if found is None:
            raise ApiError(404, NOT_FOUND)
        user, all_users = found, False
    elif principal.username.lower() == requested.lower():
        user, all_users = principal.user, False
    else:
        raise ApiError(403, PERMISSION_DENIED)
    only = None if all_users else user.id
    count = outcome_store.completion_count(store, course_key, only)
    if not all_users and not count:
        message = (
            f"User '{user.username}' does not have an active enrollment in course '{course_key}'."
        )
        raise ApiError(404, {"detail": message})
    page = number_page(count, page_size(PAGE_SIZE))
    rows = outcome_store.completion_page(store, course_key, page.offset, page.size, only)
    with_username = all_users or "username" in fields
    mean = None
    if "mean" in fields:
        run = store.get_run(course_key)
        team = [m.user for m in run.team] if run else []
        mean = outcome_store.completion_mean(store, course_key, team)
    results = []
    for row in rows:
        item: dict[str, Any] = {
            "course_key": course_key,
            "completion": {
                "earned": float(row["earned"]) if row["earned"] is not None else 0.0,
                "possible": float(row["possible"]) if row["possible"] is not None else None,
                "percent": float(row["percent"]) if row["percent"] is not None else 0.0,
            },
        }
        if with_username:
            item["username"] = row["username"]
        if mean is not None:
            item["mean"] = mean
        for block_type in (f for f in fields if f in BLOCK_AGGREGATIONS):
            item[block_type] = []  # course content (blocks) is not emulated
        results.append(item)
    return json_response(
        {
            "results": results,
            "pagination": {
                "next": page.next_link(),
                "previous": page.previous_link(),
                "count": page.count,
                "num_pages": page.num_pages,
            },
        }
    )
