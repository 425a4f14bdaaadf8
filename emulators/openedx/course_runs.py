"""Studio course-run API (``/api/v1/course_runs/``): list, create, get, PUT/PATCH, clone, rerun."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from .auth import Principal, require_staff
from .course_run_fields import (
    INVALID_KEY,
    apply_fields,
    char_field,
    merge_team,
    run_representation,
    validate_run_fields,
)
from .dates import now
from .errors import FIELD_REQUIRED, ApiError, json_response, not_found, read_object
from .faults import fault_point
from .keys import CourseKey, make_course_key, parse_course_key
from .models import CourseRun, TeamMember
from .state import emulator

bp = Blueprint("course_runs", __name__)

PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
BASE = "/api/v1/course_runs/"


def _get_run_or_404(key: str) -> CourseRun:
    run = emulator().store.get_run(key) if parse_course_key(key) else None
    if run is None:
        raise not_found()
    return run


def _new_run(key: CourseKey, template: CourseRun | None, team: list[TeamMember]) -> CourseRun:
    """A run created now; its LMS overview appears after the configured un-enrollable window."""
    created = now()
    window = emulator().faults.unenrollable_after_clone_s
    return CourseRun(
        key=str(key),
        title=template.title if template else "",
        start=template.start if template else None,
        end=template.end if template else None,
        enrollment_start=template.enrollment_start if template else None,
        enrollment_end=template.enrollment_end if template else None,
        self_paced=template.self_paced if template else False,
        team=team,
        created=created,
        overview_at=created + timedelta(seconds=window),
        invite_only=template.invite_only if template else False,
    )


def _requester_roles(principal: Principal) -> list[TeamMember]:
    """What Studio's ``add_instructor`` grants the requesting user on a new run."""
    return [TeamMember(principal.username, "instructor"), TeamMember(principal.username, "staff")]


def _int_arg(name: str, default: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return None


def _page_url(page: int, page_size: int | None) -> str:
    params: dict[str, Any] = {"page": page}
    if page_size is not None:
        params["page_size"] = page_size
    return f"{request.host_url.rstrip('/')}{BASE}?{urlencode(params)}"


@bp.get(BASE)
@fault_point("course_runs.list")
def list_course_runs() -> Response:
    """Page-number pagination in edx-drf-extensions' ``DefaultPagination`` shape."""
    require_staff()
    runs = emulator().store.list_runs()
    size_arg = _int_arg("page_size", PAGE_SIZE)
    page_size = PAGE_SIZE if size_arg is None or size_arg < 1 else min(size_arg, MAX_PAGE_SIZE)
    explicit_size = page_size if "page_size" in request.args else None
    num_pages = max(1, -(-len(runs) // page_size))
    page = _int_arg("page", 1)
    if page is None or not 1 <= page <= num_pages:
        raise ApiError(404, {"detail": "Invalid page."})
    start = (page - 1) * page_size
    return json_response(
        {
            "next": _page_url(page + 1, explicit_size) if page < num_pages else None,
            "previous": _page_url(page - 1, explicit_size) if page > 1 else None,
            "count": len(runs),
            "num_pages": num_pages,
            "current_page": page,
            "start": start,
            "results": [run_representation(r) for r in runs[start : start + page_size]],
        }
    )


@bp.post(BASE)
@fault_point("course_runs.create")
def create_course_run() -> Response:
    """201 CourseRun. The requester's roles are replaced by ``team`` (none when absent)."""
    require_staff()
    data = read_object()
    store = emulator().store
    with store.atomic():
        fields = validate_run_fields(
            data, store, require_title=True, strings=("org", "number", "run")
        )
        key = make_course_key(
            fields.strings["org"], fields.strings["number"], fields.strings["run"]
        )
        if key is None:
            raise ApiError(400, {"non_field_errors": [INVALID_KEY]})
        if store.run_exists_ignoring_case(str(key)):
            raise ApiError(400, {"run": [f"Course run {key} already exists"]})
        run = _new_run(key, None, fields.team or [])
        apply_fields(run, fields)
        store.save_run(run)
    return json_response(run_representation(run), 201)


@bp.get(f"{BASE}<course_key>/")
@fault_point("course_runs.get")
def get_course_run(course_key: str) -> Response:
    require_staff()
    return json_response(run_representation(_get_run_or_404(course_key)))


@bp.route(f"{BASE}<course_key>/", methods=["PUT", "PATCH"])
@fault_point("course_runs.update")
def update_course_run(course_key: str) -> Response:
    """PUT needs ``title`` and replaces the team (absent ``team`` deletes it); PATCH merges."""
    require_staff()
    store = emulator().store
    with store.atomic():
        run = _get_run_or_404(course_key)
        partial = request.method == "PATCH"
        fields = validate_run_fields(read_object(), store, require_title=not partial)
        apply_fields(run, fields)
        if partial:
            run.team = merge_team(run.team, fields.team or [])
        else:
            run.team = merge_team([], fields.team or [])
        store.save_run(run)
    return json_response(run_representation(run))


@bp.post(f"{BASE}clone/")
@fault_point("course_runs.clone")
def clone_course_run() -> Response:
    """201 ``{"message": "Course cloned successfully."}``; the copy is readable at once, no modes."""
    principal = require_staff()
    data = read_object()
    errors: dict[str, Any] = {}
    ids: dict[str, str] = {}
    for name in ("source_course_id", "destination_course_id"):
        if name not in data:
            errors[name] = [FIELD_REQUIRED]
            continue
        text = char_field(data[name], errors, name)
        if text is not None:
            ids[name] = text
    if errors:
        raise ApiError(400, errors)
    source_key = parse_course_key(ids["source_course_id"])
    dest_key = parse_course_key(ids["destination_course_id"])
    for name, parsed in (("source_course_id", source_key), ("destination_course_id", dest_key)):
        if parsed is None:
            errors[name] = [f"Invalid course key: '{ids[name]}'."]
    if errors or source_key is None or dest_key is None:
        raise ApiError(400, errors)
    store = emulator().store
    with store.atomic():
        source = store.get_run(str(source_key))
        if source is None:
            raise ApiError(400, {"non_field_errors": ["Source course does not exist."]})
        if store.run_exists_ignoring_case(str(dest_key)):
            raise ApiError(400, {"non_field_errors": ["Destination course already exists."]})
        store.save_run(_new_run(dest_key, source, _requester_roles(principal)))
    return json_response({"message": "Course cloned successfully."}, 201)


@bp.post(f"{BASE}<course_key>/rerun/")
@fault_point("course_runs.rerun")
def rerun_course_run(course_key: str) -> Response:
    """201 CourseRun of a new run in the source's org; ``number`` may change, ``run`` is required."""
    require_staff()
    store = emulator().store
    with store.atomic():
        source = _get_run_or_404(course_key)
        fields = validate_run_fields(
            read_object(),
            store,
            require_title=False,
            strings=("run",),
            optional_strings=("number",),
        )
        source_key = source.course_key
        number = fields.strings.get("number", source_key.number)
        key = make_course_key(source_key.org, number, fields.strings["run"])
        if key is None:
            raise ApiError(400, {"non_field_errors": [INVALID_KEY]})
        if store.run_exists_ignoring_case(str(key)):
            raise ApiError(400, {"run": [f"Course run {key} already exists"]})
        run = _new_run(key, source, merge_team([], fields.team or []))
        apply_fields(run, fields)
        store.save_run(run)
    return json_response(run_representation(run), 201)
