"""LMS enrollment API, write side: ``POST /api/enrollment/v1/enrollment`` with edX's ordered checks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from .auth import Principal, authenticate
from .dates import format_datetime, now
from .errors import ApiError, json_response, read_body
from .faults import fault_point
from .keys import parse_course_key
from .models import CourseRun, Enrollment, User
from .modes import available_modes, enrollment_mode_representation
from .state import emulator

bp = Blueprint("enrollment_write", __name__)

BASE = "/api/enrollment/v1"
FREE_MODES = ("audit", "honor")


def _message(status: int, message: str, **extra: Any) -> ApiError:
    return ApiError(status, {"message": message, **extra})


def course_details(run: CourseRun, include_expired: bool = False) -> dict[str, Any]:
    """The ``course_details`` object of enrollment responses."""
    return {
        "course_id": run.key,
        "course_name": run.title,
        "enrollment_start": format_datetime(run.enrollment_start),
        "enrollment_end": format_datetime(run.enrollment_end),
        "course_start": format_datetime(run.start),
        "course_end": format_datetime(run.end),
        "invite_only": run.invite_only,
        "course_modes": [
            enrollment_mode_representation(m) for m in available_modes(run.key, include_expired)
        ],
        "pacing_type": "Self Paced" if run.self_paced else "Instructor Paced",
    }


def enrollment_representation(enrollment: Enrollment, run: CourseRun) -> dict[str, Any]:
    """One enrollment as the enrollment API returns it."""
    return {
        "created": format_datetime(enrollment.created),
        "mode": enrollment.mode,
        "is_active": enrollment.is_active,
        "course_details": course_details(run),
        "user": enrollment.username,
    }


def enrollable_run(course_id: str) -> CourseRun | None:
    """The run if the LMS knows it (its ``CourseOverview`` exists), else ``None``."""
    run = emulator().store.get_run(course_id)
    if run is None or (run.overview_at is not None and run.overview_at > now()):
        return None
    return run


def _default_mode(course_id: str) -> str:
    slugs = [m.mode_slug for m in available_modes(course_id)]
    if "audit" in slugs:
        return "audit"
    return "honor" if "honor" in slugs else "audit"


def _validate_mode(
    course_id: str, mode: str, is_active: bool | None, include_expired: bool
) -> CourseRun:
    """edX's ``_validate_course_mode``: the course must exist and offer the mode."""
    if is_active is not None:
        include_expired = not is_active  # deactivations may use expired modes
    run = enrollable_run(course_id)
    if run is None:
        raise _message(400, f"No course '{course_id}' found for enrollment")
    slugs = [m.mode_slug for m in available_modes(course_id, include_expired)]
    if mode not in slugs:
        raise _message(
            400,
            f"The [{mode}] course mode is expired or otherwise unavailable for course run "
            f"[{course_id}].",
            course_details=course_details(run, include_expired),
        )
    return run


def _enrollment_closed(run: CourseRun) -> bool:
    current = now()
    if run.enrollment_start is not None and current < run.enrollment_start:
        return True
    if run.enrollment_end is not None and current > run.enrollment_end:
        return True
    return run.invite_only


def _add(
    user: User, course_id: str, mode: str | None, is_active: bool | None, force: bool
) -> tuple[Enrollment, CourseRun]:
    """``api.add_enrollment``: default mode, mode check, access check, then (re)activate."""
    store = emulator().store
    chosen = mode if mode is not None else _default_mode(course_id)
    run = _validate_mode(course_id, chosen, is_active, include_expired=False)
    if not force:
        full = run.max_enrollments is not None and (
            store.count_active_enrollments(course_id) >= run.max_enrollments
        )
        if _enrollment_closed(run) or full:
            raise _message(
                400,
                "An error occurred while creating the new course enrollment for user "
                f"'{user.username}' in course '{course_id}'",
            )
    store.save_enrollment(user, course_id, chosen, True)
    enrollment = store.save_enrollment(user, course_id, chosen, is_active is not False)
    return enrollment, run


def _update(
    user: User, course_id: str, existing: Enrollment, mode: str | None, is_active: bool | None
) -> tuple[Enrollment, CourseRun]:
    """``api.update_enrollment``: only the mode is validated."""
    store = emulator().store
    if mode is not None:
        run = _validate_mode(course_id, mode, is_active, include_expired=False)
    else:
        found = store.get_run(course_id)
        if found is None:
            raise _message(400, f"No course '{course_id}' found for enrollment")
        run = found
    enrollment = store.save_enrollment(
        user,
        course_id,
        mode if mode is not None else existing.mode,
        existing.is_active if is_active is None else is_active,
    )
    return enrollment, run


def _resolve_username(principal: Principal, data: dict[str, Any]) -> str:
    """Checks 3 and 4: whose enrollment this is."""
    user_field = data.get("user")
    email = data.get("email")
    if user_field in (None, "") and email not in (None, "") and principal.is_staff:
        found = emulator().store.get_user_by_email(str(email))
        if found is None:
            raise _message(406, f"The user with the email address {email} does not exist.")
        return found.username
    username = principal.username if user_field in (None, "") else str(user_field)
    if username != principal.username and not principal.is_staff:
        raise ApiError(404)  # edX hides other users' enrollments behind an empty 404
    return username


def _boolean(data: dict[str, Any], name: str, message: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise _message(400, f"'{value}' is {message}")
    return value


@bp.post(f"{BASE}/enrollment")
@fault_point("enrollment.post")
def post_enrollment() -> Response:
    """Enroll, re-enroll (idempotent), change mode, or deactivate: always 200 on success."""
    principal = authenticate()
    emu = emulator()
    emu.throttle.check(principal.username, principal.is_staff)
    data = read_body()
    if not isinstance(data, dict):
        data = {}
    details = data.get("course_details")
    course_id = details.get("course_id") if isinstance(details, dict) else None
    if course_id in (None, ""):
        raise _message(400, "Course ID must be specified to create a new enrollment.")
    course_id = str(course_id)
    if parse_course_key(course_id) is None:
        raise _message(400, f"No course '{course_id}' found for enrollment")
    username = _resolve_username(principal, data)
    raw_mode = data.get("mode")
    mode = None if raw_mode is None else str(raw_mode)
    if mode not in (*FREE_MODES, None) and not principal.is_staff:
        raise _message(
            403, f"User does not have permission to create enrollment with mode [{mode}]."
        )
    store = emu.store
    with store.atomic():
        user = store.get_user(username)
        if user is None:
            raise _message(406, f"The user {username} does not exist.")
        is_active = _boolean(data, "is_active", "an invalid enrollment activation status.")
        force = _boolean(data, "force_enrollment", "an invalid force enrollment status.")
        force = bool(force) and principal.is_staff
        existing = store.get_enrollment(user.id, course_id)
        mode_changed = existing is not None and mode is not None and existing.mode != mode
        active_changed = (
            existing is not None and is_active is not None and existing.is_active != is_active
        )
        if existing is not None and principal.is_staff and (mode_changed or active_changed):
            if mode_changed and active_changed and not is_active:
                raise _message(
                    400,
                    f"Enrollment mode mismatch: active mode={existing.mode}, requested mode={mode}."
                    " Won't deactivate.",
                )
            enrollment, run = _update(user, course_id, existing, mode, is_active)
        else:
            enrollment, run = _add(user, course_id, mode, is_active, force)
    return json_response(enrollment_representation(enrollment, run))
