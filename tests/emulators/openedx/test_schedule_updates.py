"""The course-run update the portal sends when a contract's dates change (b2b-rules 10; openedx.md
4.1, 4.2): a PUT with ``title``, ``pacing_type``, the ``team`` read first and a full ``schedule``,
validated as Studio's serializer does (``start``/``end`` required, enrollment dates nullable)."""

from __future__ import annotations

from collections.abc import Callable

import requests

from .conftest import SERVICE_USER, SOURCE_RUN, EdxEmulator

KEY = "course-v1:UAI_acme+DS.101x+1T42C2026"
SCHEDULE = {
    "start": "2026-01-05T00:00:00Z",
    "end": "2026-12-31T00:00:00Z",
    "enrollment_start": "2026-01-05T00:00:00Z",
    "enrollment_end": "2026-12-31T00:00:00Z",
}


def _clone(edx_server: EdxEmulator, studio: requests.Session) -> str:
    response = studio.post(
        f"{edx_server.url}/api/v1/course_runs/clone/",
        json={"source_course_id": SOURCE_RUN, "destination_course_id": KEY},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return f"{edx_server.url}/api/v1/course_runs/{KEY}/"


def _put(studio: requests.Session, url: str, **schedule: object) -> requests.Response:
    team = studio.get(url, timeout=10).json()["team"]
    body = {"title": "Data Science", "pacing_type": "self_paced", "team": team}
    body["schedule"] = {**SCHEDULE, **schedule}
    return studio.put(url, json=body, timeout=10)


def test_the_portals_put_moves_dates_and_keeps_the_team(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    url = _clone(edx_server, edx_studio)
    team = edx_studio.get(url, timeout=10).json()["team"]
    assert {"user": SERVICE_USER, "role": "instructor"} in team
    response = _put(edx_studio, url, end="2027-06-30T00:00:00Z", enrollment_end=None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schedule"] == {**SCHEDULE, "end": "2027-06-30T00:00:00Z", "enrollment_end": None}
    assert body["team"] == team  # sent back as read: no role lost
    again = _put(edx_studio, url, end="2027-06-30T00:00:00Z", enrollment_end=None)
    assert again.json() == body  # the same PUT twice changes nothing


def test_schedule_validation_is_studios(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    url = _clone(edx_server, edx_studio)
    before = edx_studio.get(url, timeout=10).json()
    no_end = edx_studio.put(
        url,
        json={"title": "X", "schedule": {"start": "2026-01-05T00:00:00Z"}},
        timeout=10,
    )
    assert no_end.status_code == 400
    assert no_end.json() == {"schedule": {"end": ["This field is required."]}}
    null_end = _put(edx_studio, url, end=None)
    assert null_end.status_code == 400
    assert null_end.json() == {"schedule": {"end": ["This field may not be null."]}}
    bad = _put(edx_studio, url, enrollment_end="next tuesday")
    assert bad.status_code == 400
    assert "Datetime has wrong format" in bad.json()["schedule"]["enrollment_end"][0]
    assert edx_studio.get(url, timeout=10).json() == before  # a refused PUT changes nothing


def test_closing_enrollment_is_seen_by_the_lms(
    edx_server: EdxEmulator,
    edx_studio: requests.Session,
    edx_lms: requests.Session,
    edx_register: Callable[..., str],
) -> None:
    url = _clone(edx_server, edx_studio)
    closed = _put(
        edx_studio, url, start="2025-01-01T00:00:00Z", enrollment_end="2025-02-01T00:00:00Z"
    )
    assert closed.status_code == 200
    username = edx_register()
    refused = edx_lms.post(
        f"{edx_server.url}/api/enrollment/v1/enrollment",
        json={"user": username, "mode": "audit", "course_details": {"course_id": KEY}},
        timeout=10,
    )
    assert refused.status_code == 400  # enrollment closed (no force)
    reopened = _put(edx_studio, url, start="2025-01-01T00:00:00Z", enrollment_end=None)
    assert reopened.status_code == 200
    enrolled = edx_lms.post(
        f"{edx_server.url}/api/enrollment/v1/enrollment",
        json={"user": username, "mode": "audit", "course_details": {"course_id": KEY}},
        timeout=10,
    )
    assert enrolled.status_code == 200, enrolled.text
