"""Test and demo controls under ``/__emulator__/`` (not an edX path): faults, reset, state, tokens."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, request

from .dates import format_datetime, now
from .errors import ApiError, json_response
from .faults import FaultSpecError
from .state import emulator

bp = Blueprint("emulator_admin", __name__, url_prefix="/__emulator__")


def _json() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, {"error": f"invalid JSON: {exc}"}) from exc


@bp.get("/faults")
def list_faults() -> Response:
    """Queued faults, the un-enrollable window and the endpoint names."""
    return json_response(emulator().faults.snapshot())


@bp.post("/faults")
def add_faults() -> Response:
    """Queue one fault object or a list of them (nothing is queued if one is invalid)."""
    data = _json()
    registry = emulator().faults
    try:
        added = registry.add_all(data if isinstance(data, list) else [data])
    except FaultSpecError as exc:
        error = {"error": str(exc), "endpoints": registry.snapshot()["endpoints"]}
        raise ApiError(400, error) from exc
    return json_response({"added": [f.id for f in added], **registry.snapshot()}, 201)


@bp.delete("/faults")
def clear_faults() -> Response:
    """Drop every fault and the un-enrollable window."""
    emulator().faults.clear()
    return json_response(emulator().faults.snapshot())


@bp.post("/reset")
def reset() -> Response:
    """State back to the seed; faults and throttle cleared."""
    emulator().reset()
    return json_response({"reset": True, **_summary()})


def _summary() -> dict[str, Any]:
    store = emulator().store
    return {
        "counts": store.counts(),
        "course_runs": [
            {
                "id": run.key,
                "title": run.title,
                "pacing_type": run.pacing_type,
                "enrollable": run.overview_at is None or run.overview_at <= now(),
                "modes": [m.mode_slug for m in store.list_modes(run.key)],
            }
            for run in store.list_runs()
        ],
        "users": [
            {"username": u.username, "email": u.email, "is_staff": u.is_staff}
            for u in store.list_users()
        ],
    }


@bp.get("/state")
def state() -> Response:
    """A read-only summary, with every user's enrollments."""
    store = emulator().store
    summary = _summary()
    summary["enrollments"] = [
        {
            "user": e.username,
            "course_id": e.course_key,
            "mode": e.mode,
            "is_active": e.is_active,
            "created": format_datetime(e.created),
        }
        for user in store.list_users()
        for e in store.user_enrollments(user.username, active_only=False)
    ]
    summary["faults"] = emulator().faults.snapshot()
    return json_response(summary)


@bp.post("/tokens")
def mint_token() -> Response:
    """``{"username", "token_type": "bearer"|"jwt"}``: a token for any user (stands in for the
    authorization-code flow of a learner)."""
    data = _json()
    if not isinstance(data, dict) or not isinstance(data.get("username"), str):
        raise ApiError(400, {"error": "username is required"})
    emu = emulator()
    user = emu.store.get_user(data["username"])
    if user is None:
        raise ApiError(404, {"error": f"no user {data['username']!r}"})
    as_jwt = str(data.get("token_type", "bearer")).lower() == "jwt"
    issued = emu.tokens.issue(
        user, "emulator-admin", "authorization_code", as_jwt, with_refresh=True
    )
    return json_response(issued.as_dict(), 201)


@bp.patch("/course_runs/<course_key>")
def patch_run(course_key: str) -> Response:
    """LMS-side settings Studio's API cannot change: ``unenrollable_for_s``, ``invite_only``,
    ``max_enrollments`` (null for no limit)."""
    data = _json()
    if not isinstance(data, dict):
        raise ApiError(400, {"error": "send a JSON object"})
    unknown = set(data) - {"unenrollable_for_s", "invite_only", "max_enrollments"}
    if unknown:
        raise ApiError(400, {"error": f"unknown field(s): {', '.join(sorted(unknown))}"})
    store = emulator().store
    with store.atomic():
        run = store.get_run(course_key)
        if run is None:
            raise ApiError(404, {"error": f"no course run {course_key!r}"})
        if "unenrollable_for_s" in data:
            seconds = data["unenrollable_for_s"]
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ApiError(400, {"error": "unenrollable_for_s must be a number >= 0"})
            run.overview_at = now() + timedelta(seconds=seconds)
        if "invite_only" in data:
            if not isinstance(data["invite_only"], bool):
                raise ApiError(400, {"error": "invite_only must be a boolean"})
            run.invite_only = data["invite_only"]
        if "max_enrollments" in data:
            limit = data["max_enrollments"]
            if limit is not None and (
                isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
            ):
                raise ApiError(400, {"error": "max_enrollments must be an integer >= 0 or null"})
            run.max_enrollments = limit
        store.save_run(run)
    return json_response({"id": run.key, "updated": sorted(data)})
