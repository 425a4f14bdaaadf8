"""The emulator as a whole: LMS course API, HTML pages, admin state/reset, persistence, robustness."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from emulators.openedx import create_app, emulator
from emulators.openedx.errors import ApiError
from tests.support.live_server import live_server

from .conftest import CLIENT_ID, CLIENT_SECRET, PUBLIC_RUN, SOURCE_RUN, EdxEmulator

SEED_TITLES = {
    "course-v1:B2B_SOURCE+DS.101x+SOURCE": "Foundations of Data Science",
    "course-v1:B2B_SOURCE+PY.110x+SOURCE": "Python for Analysts",
    "course-v1:B2B_SOURCE+LEAD.201x+SOURCE": "Leading Teams",
    "course-v1:B2B_SOURCE+ETH.150x+SOURCE": "Data Ethics",
    PUBLIC_RUN: "Introduction to Computing",
}


def test_demo_seed(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    runs = edx_studio.get(f"{edx_server.url}/api/v1/course_runs/", timeout=10).json()["results"]
    assert {r["id"]: r["title"] for r in runs} == SEED_TITLES
    for run in runs:
        if run["run"] == "SOURCE":
            assert run["pacing_type"] == "self_paced"
            modes = edx_studio.get(
                f"{edx_server.url}/api/course_modes/v1/courses/{run['id']}/", timeout=10
            ).json()
            assert [m["mode_slug"] for m in modes] == ["audit", "verified"]


def test_course_api_doubles_as_health_probe(edx_server: EdxEmulator) -> None:
    anonymous = edx_server.session()
    listed = anonymous.get(
        f"{edx_server.url}/api/courses/v1/courses/", params={"page_size": 2}, timeout=10
    )
    assert listed.status_code == 200
    body = listed.json()
    assert len(body["results"]) == 2
    assert body["pagination"]["count"] == 5
    assert "page=2" in body["pagination"]["next"]
    detail = anonymous.get(
        f"{edx_server.url}/api/courses/v1/courses/{PUBLIC_RUN}", timeout=10
    ).json()
    assert (detail["id"], detail["pacing"], detail["name"]) == (
        PUBLIC_RUN,
        "instructor",
        "Introduction to Computing",
    )
    keys = anonymous.get(
        f"{edx_server.url}/api/courses/v1/courses/",
        params=[("course_keys", SOURCE_RUN), ("course_keys", PUBLIC_RUN)],
        timeout=10,
    ).json()
    assert {c["id"] for c in keys["results"]} == {SOURCE_RUN, PUBLIC_RUN}
    other_user = anonymous.get(
        f"{edx_server.url}/api/courses/v1/courses/", params={"username": "someone"}, timeout=10
    )
    assert other_user.status_code == 403


def test_course_pages(edx_server: EdxEmulator) -> None:
    page = edx_server.session().get(f"{edx_server.url}/courses/{SOURCE_RUN}/course/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Foundations of Data Science" in page.text
    assert "<script" not in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]
    about = edx_server.session().get(f"{edx_server.url}/courses/{SOURCE_RUN}/about", timeout=10)
    assert about.status_code == 200
    missing = edx_server.session().get(
        f"{edx_server.url}/courses/course-v1:X+<b>+Y/course/", timeout=10
    )
    assert missing.status_code == 404
    assert "<b>" not in missing.text
    dashboard = edx_server.session().get(f"{edx_server.url}/dashboard", timeout=10)
    assert f"/courses/{SOURCE_RUN}/course/" in dashboard.text


def test_state_and_reset(
    edx_server: EdxEmulator, edx_studio: requests.Session, edx_register: Callable[..., str]
) -> None:
    edx_register("state_user")
    edx_studio.post(
        f"{edx_server.url}/api/v1/course_runs/clone/",
        json={"source_course_id": SOURCE_RUN, "destination_course_id": "course-v1:A+B+C"},
        timeout=10,
    )
    edx_server.fault(endpoint="token", status=503)
    admin = edx_server.session()
    state = admin.get(f"{edx_server.url}/__emulator__/state", timeout=10).json()
    assert "state_user" in {u["username"] for u in state["users"]}
    assert "course-v1:A+B+C" in {r["id"] for r in state["course_runs"]}
    assert state["faults"]["faults"][0]["endpoint"] == "token"
    reset = admin.post(f"{edx_server.url}/__emulator__/reset", timeout=10).json()
    assert reset["counts"]["course_runs"] == 5
    assert reset["counts"]["users"] == 1  # the service user only
    assert admin.get(f"{edx_server.url}/__emulator__/faults", timeout=10).json()["faults"] == []
    # Tokens survive a reset: the portal's cached service token keeps working.
    assert edx_studio.get(f"{edx_server.url}/api/v1/course_runs/", timeout=10).status_code == 200


def test_unknown_routes_and_methods(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    unknown = edx_studio.get(f"{edx_server.url}/api/v2/nothing", timeout=10)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Not found."}
    wrong = edx_studio.delete(f"{edx_server.url}/api/v1/course_runs/{SOURCE_RUN}/", timeout=10)
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": 'Method "DELETE" not allowed.'}


GARBAGE: list[tuple[str, dict[str, str]]] = [
    ("{", {"Content-Type": "application/json"}),
    ("[1, 2]", {"Content-Type": "application/json"}),
    ('"text"', {"Content-Type": "application/json"}),
    ("null", {"Content-Type": "application/json"}),
    (
        '{"course_details": [], "user": {}, "mode": [1], "team": 5, "schedule": [],'
        ' "source_course_id": {}, "destination_course_id": 1, "run": [], "min_price": {},'
        ' "course_id": [], "mode_slug": {}, "is_active": {}, "name": 1}',
        {"Content-Type": "application/json"},
    ),
    ("a=1&course_details=x", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("\xff\xfe", {"Content-Type": "application/json"}),
    ("x", {"Content-Type": "application/merge-patch+json"}),
    ("x", {"Content-Type": "text/csv"}),
]
ENDPOINTS = [
    ("POST", "/oauth2/access_token"),
    ("POST", "/api/v1/course_runs/"),
    ("PUT", f"/api/v1/course_runs/{SOURCE_RUN}/"),
    ("PATCH", f"/api/v1/course_runs/{SOURCE_RUN}/"),
    ("POST", "/api/v1/course_runs/clone/"),
    ("POST", f"/api/v1/course_runs/{SOURCE_RUN}/rerun/"),
    ("POST", f"/api/course_modes/v1/courses/{SOURCE_RUN}/"),
    ("PATCH", f"/api/course_modes/v1/courses/{SOURCE_RUN}/audit"),
    ("POST", "/api/enrollment/v1/enrollment"),
    ("POST", "/user_api/v1/account/registration/"),
    ("POST", "/api/user/v1/validation/registration"),
    ("PATCH", "/api/user/v1/accounts/svc_b2b_portal"),
    ("POST", "/api/change_email_settings"),
    ("POST", "/__emulator__/faults"),
    ("POST", "/__emulator__/tokens"),
    ("PATCH", f"/__emulator__/course_runs/{SOURCE_RUN}"),
]


def test_bad_input_is_never_a_500(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    for (method, path), (body, headers) in itertools.product(ENDPOINTS, GARBAGE):
        response = edx_studio.request(
            method,
            f"{edx_server.url}{path}",
            data=body.encode("latin-1"),
            headers=headers,
            timeout=10,
        )
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400 and response.content:
            response.json()  # errors always come as JSON
    for query in ("?page=x", "?page_size=-1&page=0", "?cursor=%%%", "?course_id=%00"):
        for path in (
            "/api/v1/course_runs/",
            "/api/enrollment/v1/enrollments",
            "/api/courses/v1/courses/",
        ):
            response = edx_studio.get(f"{edx_server.url}{path}{query}", timeout=10)
            assert response.status_code < 500, (path, query)


def test_concurrent_enrollments_are_consistent(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    body = {"user": username, "mode": "verified", "course_details": {"course_id": SOURCE_RUN}}

    def enroll(_: int) -> int:
        session = edx_server.session(edx_lms.headers["Authorization"].split()[1])
        return session.post(
            f"{edx_server.url}/api/enrollment/v1/enrollment", json=body, timeout=10
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(enroll, range(24))) == {200}
    listed = edx_lms.get(
        f"{edx_server.url}/api/enrollment/v1/enrollments", params={"username": username}, timeout=10
    ).json()
    assert len(listed["results"]) == 1


def test_sqlite_file_persists_across_restarts(tmp_path: Path) -> None:
    config = {"OPENEDX_EMULATOR_DB": str(tmp_path / "edx.sqlite"), "OPENEDX_EMULATOR_FAULTS": ""}
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    session = requests.Session()
    session.trust_env = False
    with live_server(create_app(config)) as url:
        token = session.post(f"{url}/oauth2/access_token", data=form, timeout=10).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        session.post(
            f"{url}/api/v1/course_runs/",
            json={"org": "P", "number": "N", "run": "R", "title": "Persisted"},
            headers=headers,
            timeout=10,
        )
    with live_server(create_app(config)) as url:
        response = session.get(
            f"{url}/api/v1/course_runs/course-v1:P+N+R/", headers=headers, timeout=10
        )
        assert response.status_code == 200  # same run, and the old token is still valid
        assert response.json()["title"] == "Persisted"


def test_enrollment_throttle_when_enabled() -> None:
    app = create_app({"OPENEDX_EMULATOR_THROTTLE": "1", "OPENEDX_EMULATOR_FAULTS": ""})
    with app.app_context():
        throttle = emulator().throttle
        for _ in range(40):
            throttle.check("learner", is_staff=False)
        with pytest.raises(ApiError) as caught:
            throttle.check("learner", is_staff=False)
        assert caught.value.status == 429
        assert caught.value.body["detail"].startswith("Request was throttled.")
        assert int(caught.value.headers["Retry-After"]) >= 1
        for _ in range(120):
            throttle.check("staff", is_staff=True)


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENEDX_EMULATOR_CLIENT_ID", "env-client")
    monkeypatch.setenv("OPENEDX_EMULATOR_CLIENT_SECRET", "env-secret")
    monkeypatch.setenv("OPENEDX_EMULATOR_FAULTS", "")
    client = create_app().test_client()
    ok = client.post(
        "/oauth2/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": "env-client",
            "client_secret": "env-secret",
        },
    )
    assert ok.status_code == 200
    explicit = create_app({"OPENEDX_EMULATOR_CLIENT_SECRET": "explicit"}).test_client()
    assert (
        explicit.post(
            "/oauth2/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": "env-client",
                "client_secret": "explicit",
            },
        ).status_code
        == 200
    )
