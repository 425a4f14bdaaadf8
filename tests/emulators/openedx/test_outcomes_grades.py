"""Grades API (``CourseGradesView``) against the live emulator, read with edx-api-client unchanged."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from edx_api.client import EdxApi
from requests.exceptions import HTTPError

from .conftest import PUBLIC_RUN, SOURCE_RUN, EdxEmulator

OTHER_RUN = "course-v1:B2B_SOURCE+PY.110x+SOURCE"
UNKNOWN_RUN = "course-v1:Nobody+Nothing+2026"
DENIED = {"developer_message": "You do not have permission to perform this action."}


def _control(edx_server: EdxEmulator, path: str, body: Any) -> requests.Response:
    return edx_server.session().post(f"{edx_server.url}/__emulator__/{path}", json=body, timeout=60)


def _bulk(
    edx_server: EdxEmulator, prefix: str, count: int, course: str = SOURCE_RUN, **extra: Any
) -> list[str]:
    response = _control(
        edx_server,
        "bulk_learners",
        {"prefix": prefix, "count": count, "course_id": course, **extra},
    )
    assert response.status_code == 201, response.text
    return [f"{prefix}{n}" for n in range(count)]


def _grade(edx_server: EdxEmulator, body: Any) -> None:
    response = _control(edx_server, "grades", body)
    assert response.status_code == 201, response.text


def _api(edx_server: EdxEmulator, token: str) -> EdxApi:
    return EdxApi({"access_token": token}, f"{edx_server.url}/", timeout=10)


def _learner_token(edx_server: EdxEmulator, username: str) -> str:
    response = _control(edx_server, "tokens", {"username": username})
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


def _grades_url(edx_server: EdxEmulator, course: str = SOURCE_RUN) -> str:
    return f"{edx_server.url}/api/grades/v1/courses/{course}/"


def test_student_current_grade_through_edx_api_client(
    edx_server: EdxEmulator, edx_bearer: str
) -> None:
    [learner] = _bulk(edx_server, "gradee", 1)
    _grade(
        edx_server,
        {"username": learner, "course_id": SOURCE_RUN, "percent": 0.83, "letter_grade": "B"},
    )
    grade = _api(edx_server, edx_bearer).current_grades.get_student_current_grade(
        learner, SOURCE_RUN
    )
    assert grade.json == {
        "username": learner,
        "email": "",
        "course_id": SOURCE_RUN,
        "passed": True,
        "percent": 0.83,
        "letter_grade": "B",
    }


def test_enrolled_learner_without_a_grade_has_the_zero_grade(
    edx_server: EdxEmulator, edx_bearer: str
) -> None:
    [learner] = _bulk(edx_server, "fresh", 1)
    grade = _api(edx_server, edx_bearer).current_grades.get_student_current_grade(
        learner, SOURCE_RUN
    )
    assert (grade.percent, grade.passed, grade.letter_grade, grade.email) == (0.0, False, None, "")


def test_course_grades_follow_every_cursor_page(edx_server: EdxEmulator, edx_bearer: str) -> None:
    learners = _bulk(edx_server, "many", 120)
    _grade(
        edx_server,
        [
            {"username": name, "course_id": SOURCE_RUN, "percent": n / 200, "passed": n >= 100}
            for n, name in enumerate(learners)
            if n % 2 == 0
        ],
    )
    _bulk(edx_server, "elsewhere", 3, OTHER_RUN)
    course = _api(edx_server, edx_bearer).current_grades.get_course_current_grades(SOURCE_RUN)
    assert course.course_id == SOURCE_RUN
    assert list(course.all_usernames) == learners  # 3 pages of 50, enrollment order
    assert course.current_grades["many100"].json == {
        "username": "many100",
        "email": "",
        "course_id": SOURCE_RUN,
        "passed": True,
        "percent": 0.5,
        "letter_grade": "Pass",
    }
    assert course.current_grades["many101"].percent == 0.0  # no grade stored: zero grade


def test_cursor_pages_on_the_wire(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    learners = _bulk(edx_server, "wire", 7)
    first = edx_lms.get(_grades_url(edx_server), params={"page_size": 3}, timeout=10)
    assert first.status_code == 200
    body = first.json()
    assert list(body) == ["next", "previous", "results"]
    assert body["previous"] is None
    assert [r["username"] for r in body["results"]] == learners[:3]
    assert body["next"].startswith(_grades_url(edx_server) + "?cursor=")
    assert body["next"].endswith("&page_size=3")  # query keys sorted, as DRF writes them
    cursor = unquote(body["next"].split("cursor=")[1].split("&")[0])
    assert base64.b64decode(cursor).decode().startswith("p=")  # DRF's b64("p=<id>")
    second = edx_lms.get(body["next"], timeout=10).json()
    assert [r["username"] for r in second["results"]] == learners[3:6]
    back = edx_lms.get(second["previous"], timeout=10).json()
    assert [r["username"] for r in back["results"]] == learners[:3]
    assert back["previous"] is None
    last = edx_lms.get(second["next"], timeout=10).json()
    assert ([r["username"] for r in last["results"]], last["next"]) == (learners[6:], None)
    assert last["previous"] is not None


def test_masters_learners_show_their_email_in_the_course_list(
    edx_server: EdxEmulator, edx_bearer: str, edx_lms: requests.Session
) -> None:
    api = _api(edx_server, edx_bearer)
    api.course_mode.create_course_mode(SOURCE_RUN, "masters", "Master's", "USD", min_price=0)
    [masters] = _bulk(edx_server, "mstr", 1, mode="masters")
    [audit] = _bulk(edx_server, "adt", 1)
    listed = edx_lms.get(_grades_url(edx_server), timeout=10).json()["results"]
    assert [(r["username"], r["email"]) for r in listed] == [
        (masters, f"{masters}@example.com"),
        (audit, ""),
    ]
    single = api.current_grades.get_student_current_grade(masters, SOURCE_RUN)
    assert single.email == ""  # edX's single-user path never annotates the mode


def test_student_grades_across_courses_skip_the_404s(
    edx_server: EdxEmulator, edx_bearer: str
) -> None:
    [learner] = _bulk(edx_server, "across", 1)
    _grade(edx_server, {"username": learner, "course_id": SOURCE_RUN, "percent": 0.4})
    grades = _api(edx_server, edx_bearer).current_grades.get_student_current_grades(
        learner, course_ids=[SOURCE_RUN, OTHER_RUN, UNKNOWN_RUN]
    )
    assert list(grades.all_course_ids) == [SOURCE_RUN]
    assert grades.get_current_grade(SOURCE_RUN).percent == 0.4


@pytest.mark.parametrize(
    ("course", "username", "body"),
    [
        (
            UNKNOWN_RUN,
            "svc_b2b_portal",
            {
                "developer_message": f"Requested grade for unknown course {UNKNOWN_RUN}",
                "error_code": "course_does_not_exist",
            },
        ),
        (
            "not+a+key",
            "svc_b2b_portal",
            {
                "developer_message": "The provided course key cannot be parsed.",
                "error_code": "invalid_course_key",
            },
        ),
        (
            SOURCE_RUN,
            "ghost",
            {
                "developer_message": "The user matching the requested username does not exist.",
                "error_code": "user_does_not_exist",
            },
        ),
        (
            PUBLIC_RUN,
            "svc_b2b_portal",
            {
                "developer_message": "The user matching the requested username is not enrolled in this course",
                "error_code": "user_not_enrolled",
            },
        ),
    ],
)
def test_single_grade_errors(
    edx_server: EdxEmulator, edx_bearer: str, course: str, username: str, body: dict[str, str]
) -> None:
    with pytest.raises(HTTPError) as caught:
        _api(edx_server, edx_bearer).current_grades.get_student_current_grade(username, course)
    assert caught.value.response.status_code == 404
    assert caught.value.response.json() == body


def test_course_list_of_an_unknown_course_is_404(edx_server: EdxEmulator, edx_bearer: str) -> None:
    with pytest.raises(HTTPError) as caught:
        _api(edx_server, edx_bearer).current_grades.get_course_current_grades(UNKNOWN_RUN)
    assert caught.value.response.status_code == 404
    assert caught.value.response.json()["error_code"] == "course_does_not_exist"
    path_mismatch = requests.get(_grades_url(edx_server, "no-separators"), timeout=10)
    assert path_mismatch.status_code == 404  # no URL pattern matches (edX: its 404 page)


def test_learner_reads_only_their_own_grade(edx_server: EdxEmulator) -> None:
    me, other = _bulk(edx_server, "self", 2)
    _grade(edx_server, {"username": me, "course_id": SOURCE_RUN, "percent": 0.9, "passed": True})
    learner = _api(edx_server, _learner_token(edx_server, me)).current_grades
    assert learner.get_student_current_grade(me, SOURCE_RUN).letter_grade == "Pass"
    for call in (
        lambda: learner.get_student_current_grade(other, SOURCE_RUN),
        lambda: learner.get_course_current_grades(SOURCE_RUN),
        lambda: learner.get_student_current_grade("ghost", UNKNOWN_RUN),  # permission comes first
    ):
        with pytest.raises(HTTPError) as caught:
            call()
        assert caught.value.response.status_code == 403
        assert caught.value.response.json() == DENIED


def test_anonymous_and_bad_tokens_are_401(edx_server: EdxEmulator) -> None:
    anonymous = requests.get(_grades_url(edx_server), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"developer_message": "Incorrect authentication credentials."}
    bad = requests.get(
        _grades_url(edx_server), headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert bad.status_code == 401
    assert bad.json() == {
        "developer_message": {
            "error_code": "token_nonexistent",
            "developer_message": "The provided access token does not match any valid tokens.",
        }
    }


def test_bad_cursor_is_404(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    for cursor in ("not-base64!", base64.b64encode(b"p=abc").decode()):
        response = edx_lms.get(_grades_url(edx_server), params={"cursor": cursor}, timeout=10)
        assert response.status_code == 404
        assert response.json() == {"developer_message": "Invalid cursor"}


def test_query_form_slashless_redirect_and_inactive_enrollments(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_bearer: str
) -> None:
    kept, dropped = _bulk(edx_server, "act", 2)
    api = _api(edx_server, edx_bearer)
    api.enrollments.deactivate_enrollment(SOURCE_RUN, username=dropped)
    by_query = edx_lms.get(
        f"{edx_server.url}/api/grades/v1/courses/", params={"course_id": SOURCE_RUN}, timeout=10
    )
    assert [r["username"] for r in by_query.json()["results"]] == [kept]  # active only
    # ?username= reads any enrollment, active or not (CourseEnrollment.objects.get).
    assert api.current_grades.get_student_current_grade(dropped, SOURCE_RUN).percent == 0.0
    slashless = edx_lms.get(
        f"{edx_server.url}/api/grades/v1/courses/{SOURCE_RUN}",
        params={"username": kept},
        allow_redirects=False,
        timeout=10,
    )
    assert slashless.status_code == 301
    assert slashless.headers["Location"].endswith(f"/courses/{SOURCE_RUN}/?username={kept}")


def test_faults_429_and_503(edx_server: EdxEmulator, edx_bearer: str) -> None:
    [learner] = _bulk(edx_server, "flt", 1)
    grades = _api(edx_server, edx_bearer).current_grades
    edx_server.fault(endpoint="grades.course", status=429, retry_after=9)
    with pytest.raises(HTTPError) as caught:
        grades.get_course_current_grades(SOURCE_RUN)
    throttled = caught.value.response
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "9")
    assert throttled.json() == {"detail": "Request was throttled. Expected available in 9 seconds."}
    edx_server.fault(endpoint="grades.course", status=503)  # ?username= calls too
    with pytest.raises(HTTPError) as caught:
        grades.get_student_current_grade(learner, SOURCE_RUN)
    assert caught.value.response.status_code == 503
    assert caught.value.response.headers["X-Emulator-Fault"] == "grades.course"
    assert grades.get_student_current_grade(learner, SOURCE_RUN).percent == 0.0
    assert list(grades.get_course_current_grades(SOURCE_RUN).all_usernames) == [learner]
