"""The outcome test controls: validation (nothing half-written), upserts, bulk learners, reset."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from emulators.openedx.faults import ENDPOINTS

from .conftest import PUBLIC_RUN, SOURCE_RUN, EdxEmulator


def _post(edx_server: EdxEmulator, path: str, body: Any) -> requests.Response:
    return edx_server.session().post(f"{edx_server.url}/__emulator__/{path}", json=body, timeout=30)


def _counts(edx_server: EdxEmulator) -> dict[str, int]:
    state = edx_server.session().get(f"{edx_server.url}/__emulator__/state", timeout=10).json()
    return dict(state["counts"])


def _learners(edx_server: EdxEmulator, prefix: str, count: int) -> list[str]:
    body = {"prefix": prefix, "count": count, "course_id": SOURCE_RUN}
    assert _post(edx_server, "bulk_learners", body).status_code == 201
    return [f"{prefix}{n}" for n in range(count)]


def _grade(edx_server: EdxEmulator, edx_lms: requests.Session, username: str) -> dict[str, Any]:
    url = f"{edx_server.url}/api/grades/v1/courses/{SOURCE_RUN}/"
    return dict(edx_lms.get(url, params={"username": username}, timeout=10).json()[0])


@pytest.mark.parametrize(
    ("path", "item", "message"),
    [
        (
            "grades",
            {"username": "ghost", "course_id": SOURCE_RUN, "percent": 0.5},
            "unknown user 'ghost'",
        ),
        (
            "grades",
            {"username": "ctl0", "course_id": "course-v1:No+Such+Run", "percent": 0.5},
            "no course run 'course-v1:No+Such+Run'",
        ),
        (
            "grades",
            {"username": "ctl0", "course_id": PUBLIC_RUN, "percent": 0.5},
            f"user 'ctl0' is not enrolled in '{PUBLIC_RUN}'",
        ),
        (
            "grades",
            {"username": "ctl0", "course_id": SOURCE_RUN, "percent": 1.5},
            "percent must be a number from 0 to 1, got 1.5",
        ),
        (
            "grades",
            {
                "username": "ctl0",
                "course_id": SOURCE_RUN,
                "percent": 0.2,
                "passed": False,
                "letter_grade": "A",
            },
            "passed and letter_grade disagree: edX gives a letter grade exactly to passing grades",
        ),
        (
            "grades",
            {"username": "ctl0", "course_id": SOURCE_RUN},
            "percent must be a number from 0 to 1, got None",
        ),
        ("grades", {"username": "ctl0", "percent": 0.1}, "course_id must be given as strings"),
        (
            "grades",
            {"username": "ctl0", "course_id": SOURCE_RUN, "percent": 0.1, "x": 1},
            "unknown field(s): x",
        ),
        (
            "certificates",
            {"username": "ctl0", "course_id": SOURCE_RUN, "status": "great"},
            "status must be one of",
        ),
        (
            "certificates",
            {"username": "ctl0", "course_id": SOURCE_RUN, "certificate_type": "gold"},
            "certificate_type must be one of",
        ),
        (
            "certificates",
            {"username": "ctl0", "course_id": SOURCE_RUN, "grade": "0.12345"},
            "grade must be a number from 0 to 1 or a string of at most 5 characters",
        ),
        (
            "progress",
            {
                "username": "ctl0",
                "course_id": SOURCE_RUN,
                "percent": 0.5,
                "earned": 1,
                "possible": 2,
            },
            "send percent (0..1), or earned and possible, not both",
        ),
        (
            "progress",
            {"username": "ctl0", "course_id": SOURCE_RUN, "earned": 3, "possible": 2},
            "earned must be a number from 0 to possible, got 3",
        ),
        (
            "progress",
            {"username": "ctl0", "course_id": SOURCE_RUN, "percent": -0.1},
            "percent must be a number from 0 to 1, got -0.1",
        ),
    ],
)
def test_invalid_items_are_400(
    edx_server: EdxEmulator, path: str, item: dict[str, Any], message: str
) -> None:
    _learners(edx_server, "ctl", 1)
    response = _post(edx_server, path, item)
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith(message)
    assert (body["invalid"], body["written"]) == (1, 0)


def test_a_bad_item_writes_nothing(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    good, also = _learners(edx_server, "all", 2)
    body = [
        {"username": good, "course_id": SOURCE_RUN, "percent": 0.7},
        {"username": also, "course_id": SOURCE_RUN, "percent": 7},
        {"username": "ghost", "course_id": SOURCE_RUN, "percent": 0.1},
        {"username": good, "course_id": SOURCE_RUN, "percent": 0.8},
    ]
    response = _post(edx_server, "grades", body)
    assert response.status_code == 400
    assert response.json() == {
        "error": "item 1: percent must be a number from 0 to 1, got 7",
        "invalid": 3,
        "errors": [
            {"index": 1, "error": "percent must be a number from 0 to 1, got 7"},
            {"index": 2, "error": "unknown user 'ghost'"},
            {"index": 3, "error": "same user and course as item 0"},
        ],
        "written": 0,
    }
    assert _counts(edx_server)["grades"] == 0
    assert _grade(edx_server, edx_lms, good)["percent"] == 0.0
    for bad in ([], "text", [1]):
        assert _post(edx_server, "grades", bad).status_code == 400


def test_grades_upsert_and_defaults(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    [learner] = _learners(edx_server, "ups", 1)
    item = {"username": learner.upper(), "course_id": SOURCE_RUN, "percent": 0.3}
    assert _post(edx_server, "grades", item).json() == {"count": 1}
    assert _grade(edx_server, edx_lms, learner)["passed"] is False
    _post(edx_server, "grades", {**item, "percent": 0.95, "passed": True})
    graded = _grade(edx_server, edx_lms, learner)
    assert (graded["username"], graded["percent"], graded["letter_grade"]) == (
        learner,
        0.95,
        "Pass",
    )
    assert _counts(edx_server)["grades"] == 1


def test_certificate_upsert_keeps_its_uuid(edx_server: EdxEmulator) -> None:
    [learner] = _learners(edx_server, "keep", 1)
    item = {"username": learner, "course_id": SOURCE_RUN}
    first = _post(edx_server, "certificates", item).json()["certificates"][0]
    again = _post(edx_server, "certificates", {**item, "status": "notpassing"}).json()
    assert again["certificates"][0]["verify_uuid"] == first["verify_uuid"]
    assert again["certificates"][0]["download_url"] is None


def test_bulk_learners(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    response = _post(
        edx_server,
        "bulk_learners",
        {"prefix": "bulk", "count": 500, "course_id": SOURCE_RUN, "mode": "verified", "start": 10},
    )
    assert response.status_code == 201
    assert response.json() == {
        "count": 500,
        "first": "bulk10",
        "last": "bulk509",
        "course_id": SOURCE_RUN,
        "mode": "verified",
    }
    account = edx_lms.get(f"{edx_server.url}/api/user/v1/accounts/bulk10", timeout=10).json()
    assert account["email"] == "bulk10@example.com"
    enrollment = edx_lms.get(
        f"{edx_server.url}/api/enrollment/v1/enrollment/bulk509,{SOURCE_RUN}", timeout=10
    ).json()
    assert (enrollment["mode"], enrollment["is_active"]) == ("verified", True)
    again = _post(
        edx_server, "bulk_learners", {"prefix": "bulk", "count": 11, "course_id": SOURCE_RUN}
    )
    assert again.status_code == 400
    assert again.json()["error"] == "1 username(s) already exist: bulk10"
    assert _counts(edx_server)["users"] == 501


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prefix": "p", "count": 0, "course_id": SOURCE_RUN}, "count must be an integer"),
        ({"prefix": "bad name", "count": 1, "course_id": SOURCE_RUN}, "prefix must be"),
        ({"prefix": "p", "count": 1, "course_id": "course-v1:No+Such+Run"}, "no course run"),
        (
            {"prefix": "p", "count": 1, "course_id": SOURCE_RUN, "mode": "gold"},
            "mode must be one of",
        ),
        ({"prefix": "x" * 30, "count": 1, "course_id": SOURCE_RUN}, "usernames would exceed 30"),
        (
            {"prefix": "p", "count": 1, "course_id": SOURCE_RUN, "extra": 1},
            "unknown field(s): extra",
        ),
    ],
)
def test_bulk_learner_validation(
    edx_server: EdxEmulator, body: dict[str, Any], message: str
) -> None:
    response = _post(edx_server, "bulk_learners", body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_reset_clears_outcomes_and_endpoint_names_are_listed(edx_server: EdxEmulator) -> None:
    [learner] = _learners(edx_server, "rst", 1)
    _post(edx_server, "grades", {"username": learner, "course_id": SOURCE_RUN, "percent": 0.5})
    _post(edx_server, "certificates", {"username": learner, "course_id": SOURCE_RUN})
    _post(edx_server, "progress", {"username": learner, "course_id": SOURCE_RUN, "percent": 0.5})
    counts = _counts(edx_server)
    assert (counts["grades"], counts["certificates"], counts["completions"]) == (1, 1, 1)
    reset = edx_server.session().post(f"{edx_server.url}/__emulator__/reset", timeout=10).json()
    assert (reset["counts"]["grades"], reset["counts"]["certificates"]) == (0, 0)
    assert reset["counts"]["completions"] == 0
    names = edx_server.session().get(f"{edx_server.url}/__emulator__/faults", timeout=10).json()
    new = ["grades.course", "certificates.get", "certificates.list", "completion.course"]
    assert set(new) <= set(names["endpoints"]) == set(ENDPOINTS)
