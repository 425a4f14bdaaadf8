"""LMS enrollment API, read side: a user's array, one enrollment, and the staff-only cursor list."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, urlencode

from flask import Blueprint, Response, request

from .auth import authenticate, require_staff
from .dates import format_datetime
from .enrollments import BASE, enrollment_representation
from .errors import ApiError, json_response, not_found
from .faults import fault_point
from .keys import USERNAME_RE, parse_course_key
from .models import Enrollment
from .state import emulator

bp = Blueprint("enrollment_read", __name__)

PAGE_SIZE = 100
MAX_USERNAMES = 100


def _staffed_courses(username: str) -> set[str]:
    """Courses where ``username`` is on the course team."""
    return {
        run.key for run in emulator().store.list_runs() if any(m.user == username for m in run.team)
    }


def _represent(enrollments: list[Enrollment]) -> list[dict[str, Any]]:
    store = emulator().store
    result = []
    for enrollment in enrollments:
        run = store.get_run(enrollment.course_key)
        if run is not None:
            result.append(enrollment_representation(enrollment, run))
    return result


@bp.get(f"{BASE}/enrollment")
@fault_point("enrollment.get")
def list_user_enrollments() -> Response:
    """A plain JSON array of the user's active enrollments (never paginated)."""
    principal = authenticate()
    emulator().throttle.check(principal.username, principal.is_staff)
    username = request.args.get("user") or principal.username
    enrollments = emulator().store.user_enrollments(username, active_only=True)
    if username != principal.username and not principal.is_staff:
        allowed = _staffed_courses(principal.username)
        enrollments = [e for e in enrollments if e.course_key in allowed]
    return json_response(_represent(enrollments))


@bp.get(f"{BASE}/enrollment/<path:target>")
@fault_point("enrollment.get")
def get_enrollment(target: str) -> Response:
    """``/enrollment/{username},{course_id}`` or ``/enrollment/{course_id}``: an object or ``null``."""
    principal = authenticate()
    emulator().throttle.check(principal.username, principal.is_staff)
    username, _, course_id = target.rstrip("/").rpartition(",")
    username = username or principal.username
    if parse_course_key(course_id) is None or not USERNAME_RE.fullmatch(username):
        raise not_found()
    if username != principal.username and not principal.is_staff:
        raise ApiError(404)
    store = emulator().store
    user = store.get_user(username)
    enrollment = store.get_enrollment(user.id, course_id) if user else None
    run = store.get_run(course_id)
    if enrollment is None or run is None:
        return json_response(None)
    return json_response(enrollment_representation(enrollment, run))


def _decode_cursor(raw: str) -> tuple[bool, int]:
    """(reverse, position) from DRF-style ``base64("r=1&p=<id>")``; 404 when unreadable."""
    try:
        padded = raw + "=" * (-len(raw) % 4)
        fields = parse_qs(base64.urlsafe_b64decode(padded.encode()).decode(), strict_parsing=True)
        position = int(fields["p"][0])
        reverse = fields.get("r", ["0"])[0] == "1"
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
        raise ApiError(404, {"detail": "Invalid cursor"}) from exc
    return reverse, position


def _cursor_url(reverse: bool, position: int) -> str:
    raw = ("r=1&" if reverse else "") + f"p={position}"
    params = {k: v for k, v in request.args.items() if k != "cursor"}
    params["cursor"] = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return f"{request.base_url}?{urlencode(params)}"


def _filters() -> tuple[str | None, list[str] | None]:
    """Validated ``course_id`` and ``username``/``email`` filters (400 in the form's shape)."""
    errors: dict[str, list[str]] = {}
    course_id = request.args.get("course_id") or None
    if course_id is not None and parse_course_key(course_id) is None:
        errors["course_id"] = [f"'{course_id}' is not a valid course id."]
    usernames: list[str] | None = None
    raw = request.args.get("username")
    if raw:
        usernames = [u.strip() for u in raw.split(",") if u.strip()]
        if len(usernames) > MAX_USERNAMES:
            errors["username"] = [
                f"Too many usernames in a single request - {len(usernames)}. "
                f"A maximum of {MAX_USERNAMES} is allowed"
            ]
        bad = [u for u in usernames if not USERNAME_RE.fullmatch(u)]
        if bad and "username" not in errors:
            errors["username"] = [f"'{bad[0]}' is not a valid username."]
    email = request.args.get("email")
    if email:
        found = emulator().store.get_user_by_email(email)
        emails = [found.username] if found else []
        usernames = emails if usernames is None else [u for u in usernames if u in emails]
    if errors:
        raise ApiError(400, errors)
    return course_id, usernames


@bp.get(f"{BASE}/enrollments")
@bp.get(f"{BASE}/enrollments/")
@fault_point("enrollments.list")
def list_enrollments() -> Response:
    """Staff only; cursor pagination (100 a page) over active and inactive enrollments."""
    require_staff()
    course_id, usernames = _filters()
    try:
        size = min(max(int(request.args.get("page_size", PAGE_SIZE)), 1), PAGE_SIZE)
    except ValueError:
        size = PAGE_SIZE
    reverse, position = (
        _decode_cursor(request.args["cursor"])
        if "cursor" in request.args
        else (
            False,
            0,
        )
    )
    store = emulator().store
    if reverse:
        rows = store.page_enrollments(course_id, usernames, before_id=position, limit=size + 1)
        has_more_before = len(rows) > size
        page = rows[-size:] if has_more_before else rows
        has_more_after = bool(page)
    else:
        rows = store.page_enrollments(course_id, usernames, after_id=position, limit=size + 1)
        has_more_after = len(rows) > size
        page = rows[:size]
        has_more_before = bool(page) and bool(
            store.page_enrollments(course_id, usernames, before_id=page[0].id, limit=1)
        )
    return json_response(
        {
            "next": _cursor_url(False, page[-1].id) if page and has_more_after else None,
            "previous": _cursor_url(True, page[0].id) if page and has_more_before else None,
            "results": [
                {
                    "created": format_datetime(e.created),
                    "mode": e.mode,
                    "is_active": e.is_active,
                    "user": e.username,
                    "course_id": e.course_key,
                }
                for e in page
            ],
        }
    )
