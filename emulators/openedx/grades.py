"""LMS grades API: ``GET /api/grades/v1/courses/{course_id}/`` (``CourseGradesView``).

Errors come from edx-platform's ``DeveloperErrorViewMixin``: ``{"developer_message", "error_code"}``,
and even DRF's own errors (401, 403, "Invalid cursor") are wrapped as ``{"developer_message": ...}``.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from flask import Blueprint, Response, redirect, request
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from . import outcome_store
from .auth import Principal, authenticate
from .enrollments import enrollable_run
from .errors import PERMISSION_DENIED, ApiError, json_response
from .faults import fault_point
from .keys import PART_RE, parse_course_key
from .paging import CursorError, cursor_page, decode_cursor, page_size
from .state import emulator

bp = Blueprint("grades", __name__)

BASE = "/api/grades/v1/courses"
PAGE_SIZE = 50  # CourseEnrollmentPagination.page_size
# settings.COURSE_ID_PATTERN: what edX's URL pattern accepts as a course id in the path.
COURSE_ID_PATTERN = re.compile(r"[^/+]+(/|\+)[^/+]+(/|\+)[^/?]+")
_INCORRECT_CREDENTIALS = "Incorrect authentication credentials."


def _developer_error(status: int, message: Any, error_code: str | None = None) -> ApiError:
    body: dict[str, Any] = {"developer_message": message}
    if error_code is not None:
        body["error_code"] = error_code
    return ApiError(status, body)


def _principal() -> Principal:
    """``GradeViewMixin.perform_authentication``: anonymous or bad credentials → 401, wrapped."""
    if not request.headers.get("Authorization"):
        raise _developer_error(401, _INCORRECT_CREDENTIALS)
    try:
        return authenticate()
    except ApiError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body["detail"] if set(body) == {"detail"} else body or _INCORRECT_CREDENTIALS
        if detail == "Authentication credentials were not provided.":  # no Bearer/JWT scheme
            detail = _INCORRECT_CREDENTIALS
        raise _developer_error(401, detail) from exc


def known_key(course_id: str | None) -> bool:
    """Whether opaque-keys would parse the key (``course-v1:`` or the old ``org/number/run``)."""
    if course_id is None:
        return False
    if parse_course_key(course_id) is not None:
        return True
    parts = course_id.split("/")
    return len(parts) == 3 and all(PART_RE.fullmatch(p) for p in parts)


def _grade(row: sqlite3.Row, course_id: str, with_email: bool) -> dict[str, Any]:
    """``GradeViewMixin._serialize_user_grade``; no stored grade is edX's zero grade."""
    email = row["email"] if with_email and row["mode"] == "masters" else ""
    return {
        "username": row["username"],
        "email": email,
        "course_id": course_id,
        "passed": bool(row["passed"]) if row["passed"] is not None else False,
        "percent": float(row["percent"]) if row["percent"] is not None else 0.0,
        "letter_grade": row["letter_grade"],
    }


def _course_grades(principal: Principal, course_id: str | None) -> Response:
    """Permission, ``verify_course_exists``, then one user's grade or the cursor-paginated course."""
    username = request.args.get("username")
    if not principal.is_staff and (username or "").lower() != principal.username.lower():
        raise _developer_error(403, PERMISSION_DENIED["detail"])
    if course_id is None or not known_key(course_id):
        raise _developer_error(
            404, "The provided course key cannot be parsed.", "invalid_course_key"
        )
    if parse_course_key(course_id) is None or enrollable_run(course_id) is None:
        raise _developer_error(
            404, f"Requested grade for unknown course {course_id}", "course_does_not_exist"
        )
    store = emulator().store
    if username:
        user = store.get_user(username)
        if user is None:
            raise _developer_error(
                404,
                "The user matching the requested username does not exist.",
                "user_does_not_exist",
            )
        row = outcome_store.user_grade(store, user.id, course_id)
        if row is None:
            raise _developer_error(
                404,
                "The user matching the requested username is not enrolled in this course",
                "user_not_enrolled",
            )
        # _get_single_user does not annotate the enrollment mode: the email is always "".
        return json_response([_grade(row, course_id, with_email=False)])
    try:
        cursor = decode_cursor(request.args.get("cursor"))
    except CursorError as exc:
        raise _developer_error(404, "Invalid cursor") from exc
    size = page_size(PAGE_SIZE)
    rows = outcome_store.grade_page(store, course_id, cursor, size)
    by_id = {int(r["enrollment_id"]): r for r in rows}
    page = cursor_page(cursor, size, [int(r["enrollment_id"]) for r in rows])
    return json_response(
        {
            "next": page.next_link,
            "previous": page.previous_link,
            "results": [_grade(by_id[i], course_id, with_email=True) for i in page.ids],
        }
    )


def _append_slash(target: str) -> WerkzeugResponse:
    """Django's ``APPEND_SLASH``: a slash-less GET is a 301 to the slash URL (query kept)."""
    query = request.query_string.decode()
    return redirect(target + (f"?{query}" if query else ""), code=301)


@bp.get(f"{BASE}/", strict_slashes=False)
@fault_point("grades.course")
def grades_by_query() -> WerkzeugResponse:
    """``/api/grades/v1/courses/?course_id=…[&username=…]``."""
    if not request.path.endswith("/"):
        return _append_slash(f"{BASE}/")
    principal = _principal()
    return _course_grades(principal, request.args.get("course_id"))


@bp.get(f"{BASE}/<path:course_id>/", strict_slashes=False)
@fault_point("grades.course")
def grades_by_path(course_id: str) -> WerkzeugResponse:
    """``/api/grades/v1/courses/{course_id}/[?username=…]``."""
    if not COURSE_ID_PATTERN.fullmatch(course_id):
        raise NotFound()  # no URL pattern matches: edX's (HTML) 404 page
    if not request.path.endswith("/"):
        return _append_slash(f"{BASE}/{course_id}/")
    principal = _principal()
    return _course_grades(principal, course_id)
