"""LMS Courses API (``/api/courses/v1/courses/``, doubles as a health probe) and email settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, request

from .auth import authenticate, optional_principal
from .dates import format_datetime, now
from .enrollments import enrollable_run
from .errors import PERMISSION_DENIED, ApiError, json_response, not_found, read_body
from .faults import fault_point
from .keys import parse_course_key
from .models import CourseRun
from .state import emulator

bp = Blueprint("courses", __name__)

BASE = "/api/courses/v1/courses"
PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


def course_representation(run: CourseRun, detail: bool = False) -> dict[str, Any]:
    """The course-API view of a run (``pacing`` is ``self``/``instructor``)."""
    key = run.course_key
    host = request.host_url
    image = f"/asset-v1:{key.org}+{key.number}+{key.run}+type@asset+block@images_course_image.jpg"
    body: dict[str, Any] = {
        "blocks_url": f"{host}api/courses/v2/blocks/?course_id={quote(run.key, safe='')}",
        "effort": None,
        "end": format_datetime(run.end),
        "enrollment_start": format_datetime(run.enrollment_start),
        "enrollment_end": format_datetime(run.enrollment_end),
        "id": run.key,
        "media": {
            "banner_image": {"uri": image, "uri_absolute": f"{host.rstrip('/')}{image}"},
            "course_image": {"uri": image},
            "course_video": {"uri": None},
            "image": {
                "raw": f"{host.rstrip('/')}{image}",
                "small": f"{host.rstrip('/')}{image}",
                "large": f"{host.rstrip('/')}{image}",
            },
        },
        "name": run.title,
        "number": key.number,
        "org": key.org,
        "short_description": "",
        "start": format_datetime(run.start),
        "start_display": run.start.strftime("%b. %d, %Y") if run.start else None,
        "start_type": "timestamp" if run.start else "empty",
        "pacing": "self" if run.self_paced else "instructor",
        "mobile_available": False,
        "hidden": False,
        "invitation_only": run.invite_only,
        "course_id": run.key,
        "certificate_available_date": None,
    }
    if detail:
        body["overview"] = f"<p>{run.title}</p>"
    return body


def _check_username_param() -> None:
    """``?username=`` other than the caller's needs staff."""
    username = request.args.get("username")
    if not username:
        return
    principal = optional_principal()
    if principal is None or (principal.username != username and not principal.is_staff):
        raise ApiError(403, PERMISSION_DENIED)


@bp.get(f"{BASE}/")
@bp.get(BASE)
@fault_point("courses.list")
def list_courses() -> Response:
    """Runs the LMS knows, filtered by ``course_keys``, ``org``, ``search_term``, ``active_only``."""
    _check_username_param()
    runs = [r for r in emulator().store.list_runs() if enrollable_run(r.key) is not None]
    keys = [k for value in request.args.getlist("course_keys") for k in value.split(",") if k]
    if keys:
        runs = [r for r in runs if r.key in keys]
    org = request.args.get("org")
    if org:
        runs = [r for r in runs if r.course_key.org.lower() == org.lower()]
    term = (request.args.get("search_term") or "").lower()
    if term:
        runs = [r for r in runs if term in r.title.lower() or term in r.key.lower()]
    if (request.args.get("active_only") or "").lower() in ("true", "1"):
        current = now()
        runs = [r for r in runs if r.end is None or r.end > current]
    try:
        page_size = min(max(int(request.args.get("page_size", PAGE_SIZE)), 1), MAX_PAGE_SIZE)
        page = int(request.args.get("page", 1))
    except ValueError as exc:
        raise ApiError(404, {"detail": "Invalid page."}) from exc
    num_pages = max(1, -(-len(runs) // page_size))
    if not 1 <= page <= num_pages:
        raise ApiError(404, {"detail": "Invalid page."})

    def page_url(number: int) -> str:
        params = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
        return f"{request.base_url}?{urlencode([*params, ('page', str(number))])}"

    start = (page - 1) * page_size
    return json_response(
        {
            "results": [course_representation(r) for r in runs[start : start + page_size]],
            "pagination": {
                "next": page_url(page + 1) if page < num_pages else None,
                "previous": page_url(page - 1) if page > 1 else None,
                "count": len(runs),
                "num_pages": num_pages,
            },
        }
    )


@bp.get(f"{BASE}/<course_key>/")
@bp.get(f"{BASE}/<course_key>")
@fault_point("courses.get")
def get_course(course_key: str) -> Response:
    """One course; 404 for unknown keys and for runs whose LMS overview does not exist yet."""
    _check_username_param()
    run = enrollable_run(course_key) if parse_course_key(course_key) else None
    if run is None:
        raise not_found()
    return json_response(course_representation(run, detail=True))


@bp.post("/api/change_email_settings")
@fault_point("email_settings")
def change_email_settings() -> Response:
    """``{"course_id", "receive_emails": "on"}`` subscribes, without it unsubscribes: ``success``."""
    authenticate()
    data = read_body()
    course_id = data.get("course_id") if isinstance(data, dict) else None
    if not isinstance(course_id, str) or emulator().store.get_run(course_id) is None:
        raise ApiError(400, {"success": False, "error": f"No course '{course_id}' found."})
    return json_response({"success": True})
