"""LMS course-modes API (``/api/course_modes/v1/courses/{course_id}/``) and mode lookups."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from .auth import require_staff
from .course_run_fields import char_field
from .dates import format_datetime, now, parse_datetime
from .errors import (
    FIELD_REQUIRED,
    MERGE_PATCH,
    NOT_FOUND,
    ApiError,
    empty_response,
    json_response,
    not_found,
    read_body,
    read_object,
)
from .faults import fault_point
from .keys import parse_course_key
from .models import CourseMode
from .state import emulator

bp = Blueprint("course_modes", __name__)

BASE = "/api/course_modes/v1/courses"
MAX_INT = 2_147_483_647  # the database column is a 32-bit integer upstream
# edX's COURSE_ENROLLMENT_MODES minimum prices (display names for the error message).
MIN_PRICES = {
    "verified": ("Verified", 1),
    "professional": ("Professional", 1),
    "no-id-professional": ("No-Id-Professional", 1),
    "executive-education": ("Executive Education", 1),
    "paid-executive-education": ("Paid Executive Education", 1),
    "paid-bootcamp": ("Paid Bootcamp", 1),
}
PROFESSIONAL = {"professional", "no-id-professional"}
DEFAULT_MODE = CourseMode(
    id=0,
    course_key="",
    mode_slug="audit",
    mode_display_name="Audit",
    min_price=0,
    currency="usd",
    expiration_datetime=None,
    expiration_datetime_is_explicit=False,
    description=None,
    sku=None,
    bulk_sku=None,
)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _boolean(raw: Any) -> bool | None:
    """DRF ``BooleanField`` input: booleans, 0/1 and the usual strings; ``None`` when invalid."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    return None


def available_modes(course_key: str, include_expired: bool = False) -> list[CourseMode]:
    """``CourseMode.modes_for_course``: selectable modes, unexpired unless asked; default audit."""
    modes = [m for m in emulator().store.list_modes(course_key) if m.mode_slug != "credit"]
    if not modes:
        return [DEFAULT_MODE]
    if include_expired:
        return modes
    current = now()
    return [m for m in modes if m.expiration_datetime is None or m.expiration_datetime >= current]


def mode_representation(mode: CourseMode) -> dict[str, Any]:
    """The course-modes API body of one mode."""
    return {
        "course_id": mode.course_key,
        "mode_slug": mode.mode_slug,
        "mode_display_name": mode.mode_display_name,
        "min_price": mode.min_price,
        "currency": mode.currency,
        "expiration_datetime": format_datetime(mode.expiration_datetime),
        "expiration_datetime_is_explicit": mode.expiration_datetime_is_explicit,
        "description": mode.description,
        "sku": mode.sku,
        "bulk_sku": mode.bulk_sku,
    }


def enrollment_mode_representation(mode: CourseMode) -> dict[str, Any]:
    """A mode inside an enrollment's ``course_details.course_modes``."""
    return {
        "slug": mode.mode_slug,
        "name": mode.mode_display_name,
        "min_price": mode.min_price,
        "suggested_prices": mode.suggested_prices,
        "currency": mode.currency,
        "expiration_datetime": format_datetime(mode.expiration_datetime),
        "description": mode.description,
        "sku": mode.sku,
        "bulk_sku": mode.bulk_sku,
    }


def _validate(data: dict[str, Any], partial: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """DRF ``CourseModeSerializer`` field checks: (validated values, errors)."""
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name in ("course_id", "mode_slug", "mode_display_name", "currency"):
        if name in data:
            text = char_field(data[name], errors, name)
            if text is not None:
                values[name] = text
        elif not partial:
            errors[name] = [FIELD_REQUIRED]
    for name in ("description", "sku", "bulk_sku"):
        if name in data:
            text = char_field(data[name], errors, name)
            if text is not None:
                values[name] = text
    if "min_price" in data:
        raw = data["min_price"]
        try:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            price = int(str(raw).strip()) if isinstance(raw, str) else int(raw)
        except (TypeError, ValueError):
            errors["min_price"] = ["A valid integer is required."]
        else:
            if abs(price) > MAX_INT:
                errors["min_price"] = [f"Ensure this value is less than or equal to {MAX_INT}."]
            else:
                values["min_price"] = price
    if "expiration_datetime" in data:
        if data["expiration_datetime"] is None:
            errors["expiration_datetime"] = ["This field may not be null."]
        else:
            try:
                values["expiration_datetime"] = parse_datetime(data["expiration_datetime"])
            except ValueError as exc:
                errors["expiration_datetime"] = [str(exc)]
    if "expiration_datetime_is_explicit" in data:
        flag = _boolean(data["expiration_datetime_is_explicit"])
        if flag is not None:
            values["expiration_datetime_is_explicit"] = flag
        else:
            errors["expiration_datetime_is_explicit"] = ["Must be a valid boolean."]
    return values, errors


def _model_checks(mode: CourseMode) -> None:
    """``CourseMode.clean()``: professional modes never expire; paid modes have a minimum price."""
    if mode.mode_slug in PROFESSIONAL and mode.expiration_datetime is not None:
        message = "Professional education modes are not allowed to have expiration_datetime set."
        raise ApiError(400, {"non_field_errors": [message]})
    name, minimum = MIN_PRICES.get(mode.mode_slug, (mode.mode_slug, 0))
    if mode.min_price < minimum:
        message = (
            f"The {name} course mode has a minimum price of {minimum}. "
            f"You must set a price greater than or equal to {minimum}."
        )
        raise ApiError(400, {"non_field_errors": [message]})


@bp.route(f"{BASE}/<course_key>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
@fault_point("course_modes.list")
def modes_without_slash(course_key: str) -> WerkzeugResponse:
    """Django's APPEND_SLASH: GET answers 301 to the slash URL (``requests`` follows it)."""
    if request.method in ("GET", "HEAD"):
        query = request.query_string.decode()
        target = f"{BASE}/{course_key}/" + (f"?{query}" if query else "")
        return redirect(target, code=301)
    detail = "Not found. (Use the trailing slash: a redirect cannot carry a request body.)"
    raise ApiError(404, {"detail": detail})


@bp.get(f"{BASE}/<course_key>/")
@fault_point("course_modes.list")
def list_modes(course_key: str) -> Response:
    """All modes of the course (expired included); ``[]`` for an unknown course."""
    require_staff()
    if parse_course_key(course_key) is None:
        raise not_found()
    modes = emulator().store.list_modes(course_key)
    return json_response([mode_representation(m) for m in modes])


@bp.post(f"{BASE}/<course_key>/")
@fault_point("course_modes.create")
def create_mode(course_key: str) -> Response:
    """201 the new mode; 400 on a duplicate (course, slug, currency) or a price below the minimum."""
    require_staff()
    if parse_course_key(course_key) is None:
        raise not_found()
    values, errors = _validate(read_object(), partial=False)
    if errors:
        raise ApiError(400, errors)
    body_key = values["course_id"]
    if parse_course_key(body_key) is None:
        raise ApiError(400, {"course_id": [f"Invalid course key: '{body_key}'."]})
    if body_key != course_key:
        message = f"course_id '{body_key}' does not match the course in the URL '{course_key}'."
        raise ApiError(400, {"course_id": [message]})
    store = emulator().store
    with store.atomic():
        if store.get_run(course_key) is None:
            raise ApiError(400, {"course_id": [f"Course '{course_key}' does not exist."]})
        expiration = values.get("expiration_datetime")
        mode = CourseMode(
            id=0,
            course_key=course_key,
            mode_slug=values["mode_slug"],
            mode_display_name=values["mode_display_name"],
            min_price=values.get("min_price", 0),
            currency=values["currency"].lower(),
            expiration_datetime=expiration,
            expiration_datetime_is_explicit=values.get(
                "expiration_datetime_is_explicit", expiration is not None
            ),
            description=values.get("description"),
            sku=values.get("sku"),
            bulk_sku=values.get("bulk_sku"),
        )
        _model_checks(mode)
        if store.mode_exists(course_key, mode.mode_slug, mode.currency):
            message = "The fields course_id, mode_slug, currency must make a unique set."
            raise ApiError(400, {"non_field_errors": [message]})
        store.save_mode(mode)
    return json_response(mode_representation(mode), 201)


def _mode_or_404(course_key: str, slug: str) -> CourseMode:
    mode = emulator().store.get_mode(course_key, slug) if parse_course_key(course_key) else None
    if mode is None:
        raise ApiError(404, NOT_FOUND)
    return mode


@bp.get(f"{BASE}/<course_key>/<slug>")
@fault_point("course_modes.get")
def get_mode(course_key: str, slug: str) -> Response:
    require_staff()
    return json_response(mode_representation(_mode_or_404(course_key, slug)))


@bp.patch(f"{BASE}/<course_key>/<slug>")
@fault_point("course_modes.update")
def update_mode(course_key: str, slug: str) -> Response:
    """Merge-patch only (415 otherwise); ``course_id``/``mode_slug`` cannot change; 204."""
    require_staff()
    store = emulator().store
    with store.atomic():
        mode = _mode_or_404(course_key, slug)
        data = read_body((MERGE_PATCH,))
        if not isinstance(data, dict):
            raise ApiError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
        values, errors = _validate(data, partial=True)
        if errors:
            raise ApiError(400, errors)
        locked = {
            f: ["This field cannot be modified."] for f in ("course_id", "mode_slug") if f in values
        }
        if locked:
            raise ApiError(400, locked)
        for name, value in values.items():
            setattr(mode, name, value.lower() if name == "currency" else value)
        if "expiration_datetime" in values:
            mode.expiration_datetime_is_explicit = True
        _model_checks(mode)
        store.save_mode(mode)
    return empty_response(204)


@bp.delete(f"{BASE}/<course_key>/<slug>")
@fault_point("course_modes.delete")
def delete_mode(course_key: str, slug: str) -> Response:
    require_staff()
    store = emulator().store
    with store.atomic():
        store.delete_mode(_mode_or_404(course_key, slug).id)
    return empty_response(204)
