"""Fault injection (§2.14): 5xx for N calls, 429 with Retry-After, latency, late LMS overviews."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import requests
from edx_api.client import EdxApi
from edx_api.course_runs.exceptions import CourseRunAPIError

from emulators.openedx import create_app
from emulators.openedx.faults import ENDPOINTS
from tests.support.live_server import live_server

from .conftest import SOURCE_RUN, EdxEmulator

TARGET = "course-v1:acme+DS.101x+1T7C2026"
CLONE = {"source_course_id": SOURCE_RUN, "destination_course_id": TARGET}


def _clone(edx_server: EdxEmulator, studio: requests.Session) -> requests.Response:
    return studio.post(f"{edx_server.url}/api/v1/course_runs/clone/", json=CLONE, timeout=10)


def _get_target(edx_server: EdxEmulator, studio: requests.Session) -> requests.Response:
    return studio.get(f"{edx_server.url}/api/v1/course_runs/{TARGET}/", timeout=10)


def test_5xx_for_n_calls_then_success(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    edx_server.fault(endpoint="course_runs.clone", status=503, count=2)
    for _ in range(2):
        failed = _clone(edx_server, edx_studio)
        assert failed.status_code == 503
        assert failed.headers["X-Emulator-Fault"] == "course_runs.clone"
        assert "503 Service Unavailable" in failed.text
        assert _get_target(edx_server, edx_studio).status_code == 404  # nothing happened
    assert _clone(edx_server, edx_studio).status_code == 201


def test_500_is_djangos_page(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    edx_server.fault(endpoint="course_runs.get", status=500)
    response = _get_target(edx_server, edx_studio)
    assert response.status_code == 500
    assert response.text == "<h1>Server Error (500)</h1>"


def test_429_with_retry_after(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    edx_server.fault(endpoint="enrollment.post", status=429, retry_after=7)
    body = {"user": username, "mode": "audit", "course_details": {"course_id": SOURCE_RUN}}
    url = f"{edx_server.url}/api/enrollment/v1/enrollment"
    throttled = edx_lms.post(url, json=body, timeout=10)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json() == {"detail": "Request was throttled. Expected available in 7 seconds."}
    assert edx_lms.post(url, json=body, timeout=10).status_code == 200


def test_429_defaults_to_retry_after_one(edx_server: EdxEmulator) -> None:
    edx_server.fault(endpoint="token", status=429)
    response = edx_server.session().post(
        f"{edx_server.url}/oauth2/access_token",
        data={"grant_type": "client_credentials"},
        timeout=10,
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {"detail": "Request was throttled. Expected available in 1 second."}


def test_latency(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    edx_server.fault(endpoint="course_runs.get", latency_ms=300, count=1)
    started = time.monotonic()
    assert edx_studio.get(f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/", timeout=10).ok
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert edx_studio.get(f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/", timeout=10).ok
    assert time.monotonic() - started < 0.3


def test_latency_beyond_client_timeout(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    edx_server.fault(endpoint="course_runs.get", latency_ms=400)
    with pytest.raises(requests.exceptions.ReadTimeout):
        edx_studio.get(f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/", timeout=0.1)


def test_unenrollable_after_clone(
    edx_server: EdxEmulator,
    edx_studio: requests.Session,
    edx_lms: requests.Session,
    edx_register: Callable[..., str],
) -> None:
    edx_server.fault(endpoint="enrollment.post", unenrollable_after_clone_s=0.5)
    assert _clone(edx_server, edx_studio).status_code == 201
    assert _get_target(edx_server, edx_studio).status_code == 200  # Studio has it at once
    username = edx_register()
    body = {"user": username, "mode": "audit", "course_details": {"course_id": TARGET}}
    url = f"{edx_server.url}/api/enrollment/v1/enrollment"
    early = edx_lms.post(url, json=body, timeout=10)
    assert early.status_code == 400
    assert early.json() == {"message": f"No course '{TARGET}' found for enrollment"}
    course_api = f"{edx_server.url}/api/courses/v1/courses/{TARGET}/"
    assert edx_lms.get(course_api, timeout=10).status_code == 404
    time.sleep(0.6)
    assert edx_lms.post(url, json=body, timeout=10).status_code == 200
    assert edx_lms.get(course_api, timeout=10).status_code == 200


def test_clone_succeeds_but_follow_up_get_fails(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    edx_server.fault(endpoint="course_runs.get", status=502, count=1, after="course_runs.clone")
    assert _get_target(edx_server, edx_studio).status_code == 404  # not armed yet
    assert _clone(edx_server, edx_studio).status_code == 201
    assert _get_target(edx_server, edx_studio).status_code == 502
    assert _get_target(edx_server, edx_studio).status_code == 200


def test_commit_then_fail_is_a_lost_response(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    edx_server.fault(endpoint="course_runs.clone", status=504, commit=True)
    assert _clone(edx_server, edx_studio).status_code == 504
    assert _get_target(edx_server, edx_studio).status_code == 200  # the clone happened
    again = _clone(edx_server, edx_studio)
    assert again.json() == {"non_field_errors": ["Destination course already exists."]}


def test_skip_wildcard_and_queue_order(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    edx_server.fault(endpoint="*", status=500, skip=1)
    edx_server.fault(endpoint="course_runs.get", status=503)
    url = f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/"
    assert edx_studio.get(url, timeout=10).status_code == 503  # the wildcard skips this call
    assert edx_studio.get(url, timeout=10).status_code == 500
    assert edx_studio.get(url, timeout=10).status_code == 200


def test_admin_routes(edx_server: EdxEmulator) -> None:
    session = edx_server.session()
    admin = f"{edx_server.url}/__emulator__/faults"
    bad = session.post(admin, json={"endpoint": "nope", "status": 503}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["endpoints"] == list(ENDPOINTS)
    for spec in (
        {"endpoint": "token", "status": 404},
        {"endpoint": "token", "status": 503, "count": 0},
        {"endpoint": "token"},
        {"endpoint": "token", "status": 503, "typo": 1},
        [{"endpoint": "token", "status": 503}, {"endpoint": "x", "status": 503}],
    ):
        assert session.post(admin, json=spec, timeout=10).status_code == 400, spec
    assert session.get(admin, timeout=10).json()["faults"] == []  # nothing half-queued
    added = session.post(
        admin,
        json=[{"endpoint": "token", "status": 503}, {"endpoint": "registration", "latency_ms": 5}],
        timeout=10,
    )
    assert added.status_code == 201
    assert len(added.json()["faults"]) == 2
    assert session.delete(admin, timeout=10).json()["faults"] == []


def test_edx_api_client_sees_injected_failures(edx_server: EdxEmulator, edx_jwt: str) -> None:
    api = EdxApi({"access_token": edx_jwt}, base_url=f"{edx_server.url}/", timeout=10)
    edx_server.fault(endpoint="course_runs.clone", status=503)
    with pytest.raises(CourseRunAPIError, match="Failed to clone course run: 503"):
        api.course_runs.clone_course_run(SOURCE_RUN, TARGET)
    api.course_runs.clone_course_run(SOURCE_RUN, TARGET)
    with pytest.raises(CourseRunAPIError, match="Destination course already exists"):
        api.course_runs.clone_course_run(SOURCE_RUN, TARGET)


def test_faults_from_configuration() -> None:
    faults = {
        "faults": [{"endpoint": "courses.list", "status": 503, "count": 1}],
        "unenrollable_after_clone_s": 30,
    }
    app = create_app({"OPENEDX_EMULATOR_FAULTS": json.dumps(faults), "OPENEDX_EMULATOR_DB": ""})
    with live_server(app) as url:
        session = requests.Session()
        session.trust_env = False
        assert session.get(f"{url}/api/courses/v1/courses/", timeout=10).status_code == 503
        assert session.get(f"{url}/api/courses/v1/courses/", timeout=10).status_code == 200
        listed = session.get(f"{url}/__emulator__/faults", timeout=10).json()
        assert listed["unenrollable_after_clone_s"] == 30
    with pytest.raises(ValueError, match="OPENEDX_EMULATOR_FAULTS"):
        create_app({"OPENEDX_EMULATOR_FAULTS": '{"endpoint": "nope", "status": 503}'})


def test_every_endpoint_name_is_used(edx_server: EdxEmulator) -> None:
    used = {
        getattr(view, "fault_point", None) for view in edx_server.app.view_functions.values()
    } - {None}
    assert used == set(ENDPOINTS)
