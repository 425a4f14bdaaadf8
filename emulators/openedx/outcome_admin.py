"""Test controls for learning outcomes (not edX paths): grades, certificates, progress (completion),
bulk learners for benchmarks, and optional features.

Every ``POST`` takes one JSON object or a list of them; the whole body is validated before anything
is written (a bad item → 400 and nothing stored). Records are upserted per (username, course_id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request

from . import outcome_store
from .completion import FEATURE
from .dates import format_datetime, now
from .errors import ApiError, json_response
from .keys import USERNAME_RE
from .outcome_checks import (
    Invalid,
    Resolved,
    certificate_row,
    completion_row,
    grade_row,
    resolve_items,
)
from .passwords import hash_password
from .state import emulator

bp = Blueprint("outcome_admin", __name__, url_prefix="/__emulator__")

MAX_BULK = 200_000
USERNAME_MAX = 30  # edX's USERNAME_MAX_LENGTH
FEATURES = (FEATURE,)


def _stamp() -> str:
    return format_datetime(now()) or ""


def _json() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        raise ApiError(400, {"error": "send a JSON object or a list of objects"})
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, {"error": f"invalid JSON: {exc}"}) from exc


def _bad(problems: list[Invalid], listed: bool) -> ApiError:
    first = problems[0]
    message = f"item {first.index}: {first.error}" if listed else first.error
    return ApiError(
        400,
        {
            "error": message,
            "invalid": len(problems),
            "errors": [{"index": p.index, "error": p.error} for p in problems[:50]],
            "written": 0,
        },
    )


def _collect(
    allowed: set[str], build: Callable[[Resolved], tuple[Any, ...]]
) -> tuple[list[Resolved], list[tuple[Any, ...]]]:
    """Validate the whole body (who, which course, each field), then the rows to write."""
    data = _json()
    listed = isinstance(data, list)
    items = data if listed else [data]
    if not items:
        raise ApiError(400, {"error": "the list is empty"})
    resolved, problems = resolve_items(emulator().store, items, allowed)
    rows = []
    for item in resolved:
        try:
            rows.append(build(item))
        except Invalid as exc:
            problems.append(exc)
    if problems:
        raise _bad(sorted(problems, key=lambda p: p.index), listed)
    return resolved, rows


@bp.post("/grades")
def post_grades() -> Response:
    """``{"username", "course_id", "percent" 0..1, "passed"?, "letter_grade"?}`` or a list."""
    when = _stamp()
    store = emulator().store
    with store.atomic():
        _, rows = _collect({"percent", "passed", "letter_grade"}, lambda i: grade_row(i, when))
        outcome_store.upsert_grades(store, rows)
    return json_response({"count": len(rows)}, 201)


@bp.post("/certificates")
def post_certificates() -> Response:
    """``{"username", "course_id", "status"?, "grade"?, "certificate_type"?, "created_date"?}``."""
    store = emulator().store
    when = _stamp()
    existing: dict[str, dict[int, tuple[str, str]]] = {}
    grades: dict[str, dict[int, float]] = {}

    def build(item: Resolved) -> tuple[Any, ...]:
        key = item.course_id
        if key not in existing:
            existing[key] = outcome_store.existing_certificates(store, key)
            grades[key] = outcome_store.stored_grades(store, key)
        previous = existing[key].get(item.user_id)
        return certificate_row(
            item,
            when,
            verify_uuid=previous[0] if previous else uuid.uuid4().hex,
            created=previous[1] if previous else None,
            stored_grade=grades[key].get(item.user_id),
        )

    with store.atomic():
        resolved, rows = _collect({"status", "grade", "certificate_type", "created_date"}, build)
        outcome_store.upsert_certificates(store, rows)
    return json_response(
        {
            "count": len(rows),
            "certificates": [
                {
                    "username": item.username,
                    "course_id": row[1],
                    "status": row[2],
                    "verify_uuid": row[5],
                    "download_url": f"/certificates/{row[5]}" if row[2] == "downloadable" else None,
                }
                for item, row in zip(resolved, rows, strict=True)
            ],
        },
        201,
    )


@bp.post("/progress")
def post_progress() -> Response:
    """``{"username", "course_id", "percent"}`` or ``{..., "earned", "possible"}``, or a list."""
    when = _stamp()
    store = emulator().store
    with store.atomic():
        _, rows = _collect({"percent", "earned", "possible"}, lambda i: completion_row(i, when))
        outcome_store.upsert_completions(store, rows)
    return json_response({"count": len(rows)}, 201)


def _int_field(data: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(400, {"error": f"{name} must be an integer between {low} and {high}"})
    return value


@bp.post("/bulk_learners")
def bulk_learners() -> Response:
    """``{"prefix", "count", "course_id", "mode"?, "start"? 0, "password"?, "email_domain"?}``:
    register ``prefix{start}`` … ``prefix{start+count-1}`` and enroll them (active) in one go."""
    data = _json()
    if not isinstance(data, dict):
        raise ApiError(400, {"error": "send a JSON object"})
    unknown = set(data) - {
        "prefix",
        "count",
        "course_id",
        "mode",
        "start",
        "password",
        "email_domain",
    }
    if unknown:
        raise ApiError(400, {"error": f"unknown field(s): {', '.join(sorted(unknown))}"})
    prefix = data.get("prefix")
    if not isinstance(prefix, str) or not prefix or not USERNAME_RE.fullmatch(prefix):
        raise ApiError(400, {"error": "prefix must be a non-empty string of username characters"})
    count = _int_field(data, "count", None, 1, MAX_BULK)
    start = _int_field(data, "start", 0, 0, 10**9)
    last = f"{prefix}{start + count - 1}"
    if len(last) > USERNAME_MAX:
        raise ApiError(400, {"error": f"usernames would exceed {USERNAME_MAX} characters ({last})"})
    domain = data.get("email_domain", "example.com")
    if not isinstance(domain, str) or not domain or "@" in domain:
        raise ApiError(400, {"error": "email_domain must be a domain such as example.com"})
    password = data.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        raise ApiError(400, {"error": "password must be a non-empty string (or absent)"})
    store = emulator().store
    course_id = data.get("course_id")
    run = store.get_run(course_id) if isinstance(course_id, str) else None
    if run is None:
        raise ApiError(400, {"error": f"no course run {course_id!r}"})
    slugs = [m.mode_slug for m in store.list_modes(run.key)]
    mode = data.get("mode", "audit" if not slugs or "audit" in slugs else slugs[0])
    if not isinstance(mode, str) or (slugs and mode not in slugs):
        raise ApiError(400, {"error": f"mode must be one of the run's modes {slugs}"})
    names = [f"{prefix}{n}" for n in range(start, start + count)]
    users = [(name, f"{name}@{domain}", f"Learner {name}") for name in names]
    with store.atomic():
        taken = list(outcome_store.users_by_name(store, names).values())
        if taken:
            shown = ", ".join(name for _, name in taken[:5])
            raise ApiError(400, {"error": f"{len(taken)} username(s) already exist: {shown}"})
        emails = outcome_store.emails_taken(store, [email for _, email, _ in users])
        if emails:
            raise ApiError(400, {"error": f"{len(emails)} email(s) already exist: {emails[0]}"})
        password_hash = hash_password(password) if password else ""
        outcome_store.add_learners(store, users, password_hash, run.key, mode, _stamp())
    body = {"count": count, "first": names[0], "last": last, "course_id": run.key, "mode": mode}
    return json_response(body, 201)


def _features() -> dict[str, bool]:
    store = emulator().store
    return {name: outcome_store.feature_enabled(store, name) for name in FEATURES}


@bp.get("/features")
def get_features() -> Response:
    """Optional edX features (plugins) and whether this emulator offers them."""
    return json_response(_features())


@bp.patch("/features")
def patch_features() -> Response:
    """``{"completion_aggregator": false}`` uninstalls the plugin until set back or reset."""
    data = _json()
    if not isinstance(data, dict) or not data:
        raise ApiError(400, {"error": f"send an object with any of {list(FEATURES)}"})
    unknown = set(data) - set(FEATURES)
    if unknown:
        raise ApiError(400, {"error": f"unknown feature(s): {', '.join(sorted(unknown))}"})
    if not all(isinstance(v, bool) for v in data.values()):
        raise ApiError(400, {"error": "feature values must be booleans"})
    for name, enabled in data.items():
        outcome_store.set_feature(emulator().store, name, enabled)
    return json_response(_features())
