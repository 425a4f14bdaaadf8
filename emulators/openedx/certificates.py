"""LMS certificates API v0 (``CertificatesDetailView``, ``CertificatesListView``) and the web
certificate page ``/certificates/{uuid}`` that ``download_url`` points to."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from flask import Blueprint, Response, redirect, request
from markupsafe import Markup
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from . import outcome_store
from .auth import authenticate
from .dates import format_datetime, from_storage, now
from .enrollments import enrollable_run
from .errors import PERMISSION_DENIED, ApiError, json_response
from .faults import fault_point
from .grades import COURSE_ID_PATTERN, known_key
from .keys import USERNAME_RE, parse_course_key
from .pages import _page
from .state import emulator

bp = Blueprint("certificates", __name__)

BASE = "/api/certificates/v0/certificates"
# CertificateStatuses (lms/djangoapps/certificates/data.py).
STATUSES = (
    "deleted",
    "deleting",
    "downloadable",
    "error",
    "generating",
    "notpassing",
    "restricted",
    "unavailable",
    "auditing",
    "audit_passing",
    "audit_notpassing",
    "honor_passing",
    "unverified",
    "invalidated",
    "requesting",
)
PASSED_STATUSES = ("downloadable", "generating")
# GeneratedCertificate.MODES
MODES = (
    "verified",
    "honor",
    "audit",
    "professional",
    "no-id-professional",
    "masters",
    "executive-education",
    "paid-executive-education",
    "paid-bootcamp",
)
UUID_RE = re.compile(r"[0-9a-f]{32}")


def download_url(row: sqlite3.Row) -> str | None:
    """``get_certificate_url`` of an HTML certificate: the relative ``/certificates/{uuid}``, only
    while the certificate is downloadable."""
    return f"/certificates/{row['verify_uuid']}" if row["status"] == "downloadable" else None


def certificate_detail(row: sqlite3.Row, username: str) -> dict[str, Any]:
    """The detail view's body (``username`` is echoed as the URL gave it, as edX does)."""
    return {
        "username": username,
        "course_id": row["course_key"],
        "certificate_type": row["mode"],
        "created_date": format_datetime(from_storage(row["created"])),
        "status": row["status"],
        "is_passing": row["status"] in PASSED_STATUSES,
        "download_url": download_url(row),
        "grade": row["grade"],
    }


def _viewable(row: sqlite3.Row) -> bool:
    """``certificates_viewable_for_course`` with the default display behaviour (``end``):
    self-paced courses at once, instructor-paced ones once the course has ended."""
    if row["title"] is None:
        return False
    if row["self_paced"]:
        return True
    end = from_storage(row["run_end"])
    return end is not None and end <= now()


def _owner_or_staff(username: str) -> None:
    principal = authenticate()
    if not principal.is_staff and principal.username.lower() != username.lower():
        raise ApiError(403, PERMISSION_DENIED)


def _append_slash(target: str) -> WerkzeugResponse:
    query = request.query_string.decode()
    return redirect(target + (f"?{query}" if query else ""), code=301)


@bp.get(f"{BASE}/<username>/courses/<path:course_id>/", strict_slashes=False)
@fault_point("certificates.get")
def get_certificate(username: str, course_id: str) -> WerkzeugResponse:
    """One certificate of a user in a course run (any eligible status)."""
    if not USERNAME_RE.fullmatch(username) or not COURSE_ID_PATTERN.fullmatch(course_id):
        raise NotFound()
    if not request.path.endswith("/"):
        return _append_slash(f"{BASE}/{username}/courses/{course_id}/")
    _owner_or_staff(username)
    if not known_key(course_id):
        raise ApiError(404, {"error_code": "course_id_not_valid"})
    store = emulator().store
    row = outcome_store.certificate(store, username, course_id)
    if row is None:
        raise ApiError(404, {"error_code": "no_certificate_for_user"})
    if enrollable_run(course_id) is None:  # no course overview, so no active web certificate
        raise ApiError(404, {"error_code": "no_certificate_configuration_for_course"})
    return json_response(certificate_detail(row, username))


@bp.get(f"{BASE}/<username>/", strict_slashes=False)
@fault_point("certificates.list")
def list_certificates(username: str) -> WerkzeugResponse:
    """A user's passing, viewable certificates, oldest first (a plain array, never paginated)."""
    if not USERNAME_RE.fullmatch(username):
        raise NotFound()
    if not request.path.endswith("/"):
        return _append_slash(f"{BASE}/{username}/")
    _owner_or_staff(username)
    store = emulator().store
    rows = [
        r
        for r in outcome_store.user_certificates(store, username)
        if r["status"] in PASSED_STATUSES and _viewable(r)
    ]
    rows.sort(key=lambda r: str(r["created"]))
    body = []
    for row in rows:
        key = parse_course_key(row["course_key"])
        body.append(
            {
                "username": username,
                "course_id": row["course_key"],
                "course_display_name": row["title"],
                "course_organization": key.org if key else None,
                "certificate_type": row["mode"],
                "created_date": format_datetime(from_storage(row["created"])),
                "modified_date": format_datetime(from_storage(row["modified"])),
                "status": row["status"],
                "is_passing": True,
                "download_url": download_url(row),
                "grade": row["grade"],
            }
        )
    return json_response(body)


@bp.get("/certificates/<certificate_uuid>")
def certificate_page(certificate_uuid: str) -> Response:
    """``render_cert_by_uuid``: a downloadable certificate as plain HTML, else 404."""
    row = None
    if UUID_RE.fullmatch(certificate_uuid):
        row = outcome_store.certificate_by_uuid(emulator().store, certificate_uuid)
    if row is None or row["status"] != "downloadable":
        body = Markup("<h1>Page not found</h1><p>There is no certificate here.</p>")
        return _page("Page not found", body, 404)
    user = emulator().store.get_user(row["username"])
    name = (user.name if user else "") or row["username"]
    created = from_storage(row["created"])
    rows = Markup("").join(
        Markup("<dt>{}</dt><dd>{}</dd>").format(label, value)
        for label, value in (
            ("Awarded to", name),
            ("Course", row["title"] or row["course_key"]),
            ("Course key", row["course_key"]),
            ("Certificate type", row["mode"]),
            ("Grade", row["grade"] or "not recorded"),
            ("Issued", created.date().isoformat() if created else ""),
            ("Certificate id", row["verify_uuid"]),
        )
    )
    body = Markup(
        "<h1>Certificate of achievement</h1><p>{name} successfully completed <strong>{title}"
        '</strong>.</p><dl>{rows}</dl><p class="note">A stand-in for the LMS web certificate.</p>'
    ).format(name=name, title=row["title"] or row["course_key"], rows=rows)
    return _page(f"Certificate: {row['title'] or row['course_key']}", body)
