"""Clone and rerun semantics (§4.1, §4.3, §2.6-2.7)."""

from __future__ import annotations

import requests

from .conftest import SERVICE_USER, SOURCE_RUN, EdxEmulator

TARGET = "course-v1:acme+DS.101x+1T42C2026"
INVALID_KEY = "Invalid key supplied. Ensure there are no special characters in the Course Number."


def _clone(edx_server: EdxEmulator, studio: requests.Session, body: object) -> requests.Response:
    return studio.post(f"{edx_server.url}/api/v1/course_runs/clone/", json=body, timeout=10)


def test_clone_creates_a_readable_copy_without_modes(
    edx_server: EdxEmulator, edx_studio: requests.Session, edx_lms: requests.Session
) -> None:
    response = _clone(
        edx_server, edx_studio, {"source_course_id": SOURCE_RUN, "destination_course_id": TARGET}
    )
    assert response.status_code == 201
    assert response.json() == {"message": "Course cloned successfully."}
    source = edx_studio.get(f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/", timeout=10).json()
    clone = edx_studio.get(f"{edx_server.url}/api/v1/course_runs/{TARGET}/", timeout=10).json()
    assert clone["id"] == TARGET
    assert clone["org"] == "acme"  # the destination's org, not the source's
    for field in ("title", "pacing_type", "schedule"):
        assert clone[field] == source[field]
    assert clone["team"] == [
        {"user": SERVICE_USER, "role": "instructor"},
        {"user": SERVICE_USER, "role": "staff"},
    ]
    modes = edx_lms.get(f"{edx_server.url}/api/course_modes/v1/courses/{TARGET}/", timeout=10)
    assert modes.json() == []


def test_clone_destination_exists_is_400_and_not_idempotent(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    body = {"source_course_id": SOURCE_RUN, "destination_course_id": TARGET}
    assert _clone(edx_server, edx_studio, body).status_code == 201
    again = _clone(edx_server, edx_studio, body)
    assert again.status_code == 400
    assert again.json() == {"non_field_errors": ["Destination course already exists."]}
    other_case = _clone(
        edx_server, edx_studio, {**body, "destination_course_id": TARGET.replace("acme", "ACME")}
    )
    assert other_case.status_code == 400
    assert other_case.json() == {"non_field_errors": ["Destination course already exists."]}


def test_clone_onto_an_existing_seed_run(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    response = _clone(
        edx_server,
        edx_studio,
        {
            "source_course_id": SOURCE_RUN,
            "destination_course_id": "course-v1:OpenU+CS.50x+2026_Fall",
        },
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Destination course already exists."]}


def test_clone_source_missing(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    response = _clone(
        edx_server,
        edx_studio,
        {"source_course_id": "course-v1:NOPE+X+SOURCE", "destination_course_id": TARGET},
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Source course does not exist."]}
    missing = edx_studio.get(f"{edx_server.url}/api/v1/course_runs/{TARGET}/", timeout=10)
    assert missing.status_code == 404


def test_clone_missing_and_invalid_fields(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    empty = _clone(edx_server, edx_studio, {})
    assert empty.status_code == 400
    assert empty.json() == {
        "source_course_id": ["This field is required."],
        "destination_course_id": ["This field is required."],
    }
    one = _clone(edx_server, edx_studio, {"source_course_id": SOURCE_RUN})
    assert one.json() == {"destination_course_id": ["This field is required."]}
    invalid = _clone(
        edx_server, edx_studio, {"source_course_id": SOURCE_RUN, "destination_course_id": "a b"}
    )
    assert invalid.status_code == 400
    assert invalid.json() == {"destination_course_id": ["Invalid course key: 'a b'."]}
    blank = _clone(
        edx_server, edx_studio, {"source_course_id": "", "destination_course_id": TARGET}
    )
    assert blank.json() == {"source_course_id": ["This field may not be blank."]}


def test_rerun_in_source_org(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    url = f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/rerun/"
    response = edx_studio.post(
        url,
        json={
            "run": "2T2026",
            "title": "Foundations (rerun)",
            "schedule": {"start": "2026-05-01T00:00:00Z", "end": "2026-09-01T00:00:00Z"},
        },
        timeout=10,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == "course-v1:B2B_SOURCE+DS.101x+2T2026"
    assert body["title"] == "Foundations (rerun)"
    assert body["pacing_type"] == "self_paced"
    assert body["schedule"]["start"] == "2026-05-01T00:00:00Z"
    assert body["team"] == []
    with_number = edx_studio.post(url, json={"run": "3T2026", "number": "DS.102x"}, timeout=10)
    assert with_number.json()["id"] == "course-v1:B2B_SOURCE+DS.102x+3T2026"
    assert with_number.json()["title"] == "Foundations of Data Science"


def test_rerun_errors(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    url = f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/rerun/"
    missing_run = edx_studio.post(url, json={}, timeout=10)
    assert missing_run.status_code == 400
    assert missing_run.json() == {"run": ["This field is required."]}
    bad = edx_studio.post(url, json={"run": "2T 2026"}, timeout=10)
    assert bad.status_code == 400
    assert bad.json() == {"non_field_errors": [INVALID_KEY]}
    exists = edx_studio.post(url, json={"run": "source"}, timeout=10)
    assert exists.status_code == 400
    assert exists.json() == {
        "run": ["Course run course-v1:B2B_SOURCE+DS.101x+source already exists"]
    }
    unknown = edx_studio.post(
        f"{edx_server.url}/api/v1/course_runs/course-v1:NOPE+X+Y/rerun/",
        json={"run": "Z"},
        timeout=10,
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not found."}
