"""Certificates API v0 and the web certificate page, read with edx-api-client unchanged."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from edx_api.client import EdxApi
from requests.exceptions import HTTPError

from .conftest import PUBLIC_RUN, SOURCE_RUN, EdxEmulator

OTHER_RUN = "course-v1:B2B_SOURCE+PY.110x+SOURCE"
LEAD_RUN = "course-v1:B2B_SOURCE+LEAD.201x+SOURCE"
CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
DENIED = {"detail": "You do not have permission to perform this action."}


def _control(edx_server: EdxEmulator, path: str, body: Any) -> requests.Response:
    return edx_server.session().post(f"{edx_server.url}/__emulator__/{path}", json=body, timeout=30)


def _learners(
    edx_server: EdxEmulator, prefix: str, count: int, course: str = SOURCE_RUN
) -> list[str]:
    body = {"prefix": prefix, "count": count, "course_id": course}
    assert _control(edx_server, "bulk_learners", body).status_code == 201
    return [f"{prefix}{n}" for n in range(count)]


def _enroll(edx_server: EdxEmulator, token: str, username: str, course: str) -> None:
    _api(edx_server, token).enrollments.create_student_enrollment(
        course, mode="audit", username=username, force_enrollment=True
    )


def _certify(edx_server: EdxEmulator, body: Any) -> dict[str, Any]:
    response = _control(edx_server, "certificates", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _api(edx_server: EdxEmulator, token: str) -> EdxApi:
    return EdxApi({"access_token": token}, f"{edx_server.url}/", timeout=10)


def _learner_token(edx_server: EdxEmulator, username: str) -> str:
    return str(_control(edx_server, "tokens", {"username": username}).json()["access_token"])


def _list_url(edx_server: EdxEmulator, username: str) -> str:
    return f"{edx_server.url}/api/certificates/v0/certificates/{username}/"


def test_student_certificate_through_edx_api_client(
    edx_server: EdxEmulator, edx_bearer: str
) -> None:
    [learner] = _learners(edx_server, "cert", 1)
    created = _certify(
        edx_server,
        {
            "username": learner,
            "course_id": SOURCE_RUN,
            "grade": "0.91",
            "certificate_type": "verified",
        },
    )
    uuid = created["certificates"][0]["verify_uuid"]
    assert re.fullmatch(r"[0-9a-f]{32}", uuid)
    cert = _api(edx_server, edx_bearer).certificates.get_student_certificate(learner, SOURCE_RUN)
    body = dict(cert.json)
    assert CREATED.match(body.pop("created_date"))
    assert body == {
        "username": learner,
        "course_id": SOURCE_RUN,
        "certificate_type": "verified",
        "status": "downloadable",
        "is_passing": True,
        "download_url": f"/certificates/{uuid}",  # edX gives the relative web-certificate path
        "grade": "0.91",
    }
    assert cert.is_verified and cert.is_passing


def test_missing_certificate_is_404(edx_server: EdxEmulator, edx_bearer: str) -> None:
    [learner] = _learners(edx_server, "nocert", 1)
    client = _api(edx_server, edx_bearer).certificates
    for username in (learner, "ghost"):
        with pytest.raises(HTTPError) as caught:
            client.get_student_certificate(username, SOURCE_RUN)
        assert caught.value.response.status_code == 404
        assert caught.value.response.json() == {"error_code": "no_certificate_for_user"}


def test_student_certificates_across_courses(edx_server: EdxEmulator, edx_bearer: str) -> None:
    [learner] = _learners(edx_server, "multi", 1)
    _enroll(edx_server, edx_bearer, learner, OTHER_RUN)
    _certify(
        edx_server,
        [
            {"username": learner, "course_id": SOURCE_RUN},
            {"username": learner, "course_id": OTHER_RUN, "status": "notpassing", "grade": 0.2},
        ],
    )
    certs = _api(edx_server, edx_bearer).certificates.get_student_certificates(
        learner, course_ids=[SOURCE_RUN, OTHER_RUN, PUBLIC_RUN]
    )
    assert sorted(certs.all_courses_certs) == sorted([SOURCE_RUN, OTHER_RUN])
    failed = certs.get_cert(OTHER_RUN)
    assert (failed.status, failed.is_passing, failed.download_url, failed.grade) == (
        "notpassing",
        False,
        None,
        "0.20",
    )


def _instructor_paced_run(edx_server: EdxEmulator, number: str, end: datetime) -> str:
    """A new instructor-paced run with an audit mode (Studio, then the course-modes API)."""
    studio = _api(edx_server, str(edx_server.token("jwt")["access_token"]))
    run = studio.course_runs.create_course_run(
        "IPX",
        number,
        "1T2020",
        title=f"Instructor paced {number}",
        pacing_type="instructor_paced",
        start=datetime(2020, 1, 1, tzinfo=UTC),
        end=end,
    )
    lms = _api(edx_server, str(edx_server.token()["access_token"]))
    lms.course_mode.create_course_mode(run.course_id, "audit", "Audit", "USD", min_price=0)
    return str(run.course_id)


def test_user_list_holds_passing_viewable_certificates(
    edx_server: EdxEmulator, edx_bearer: str, edx_lms: requests.Session
) -> None:
    [learner] = _learners(edx_server, "lst", 1)
    running = _instructor_paced_run(edx_server, "RUN.1x", datetime(2099, 1, 1, tzinfo=UTC))
    ended = _instructor_paced_run(edx_server, "END.1x", datetime(2020, 6, 1, tzinfo=UTC))
    for course in (OTHER_RUN, running, ended, LEAD_RUN):
        _enroll(edx_server, edx_bearer, learner, course)
    _certify(
        edx_server,
        [
            {"username": learner, "course_id": OTHER_RUN, "created_date": "2026-02-01T00:00:00Z"},
            {"username": learner, "course_id": SOURCE_RUN, "created_date": "2026-01-01T00:00:00Z"},
            {"username": learner, "course_id": ended, "created_date": "2026-03-01T00:00:00Z"},
            # instructor-paced and not ended: not viewable in the list yet
            {"username": learner, "course_id": running},
            {"username": learner, "course_id": LEAD_RUN, "status": "notpassing"},
        ],
    )
    listed = edx_lms.get(_list_url(edx_server, learner), timeout=10)
    assert listed.status_code == 200
    body = listed.json()
    assert [c["course_id"] for c in body] == [SOURCE_RUN, OTHER_RUN, ended]  # by created_date
    first = body[0]
    assert list(first) == [
        "username",
        "course_id",
        "course_display_name",
        "course_organization",
        "certificate_type",
        "created_date",
        "modified_date",
        "status",
        "is_passing",
        "download_url",
        "grade",
    ]
    assert first["created_date"] == "2026-01-01T00:00:00Z"
    assert (first["course_display_name"], first["course_organization"]) == (
        "Foundations of Data Science",
        "B2B_SOURCE",
    )
    assert first["certificate_type"] == "audit"  # defaults to the enrollment mode
    # The detail view answers for the running instructor-paced run all the same.
    client = _api(edx_server, edx_bearer).certificates
    assert client.get_student_certificate(learner, running).status == "downloadable"


def test_who_may_read_whose_certificates(
    edx_server: EdxEmulator, edx_lms: requests.Session
) -> None:
    me, other = _learners(edx_server, "who", 2)
    _certify(edx_server, [{"username": n, "course_id": SOURCE_RUN} for n in (me, other)])
    learner = _api(edx_server, _learner_token(edx_server, me)).certificates
    assert learner.get_student_certificate(me, SOURCE_RUN).username == me
    with pytest.raises(HTTPError) as caught:
        learner.get_student_certificate(other, SOURCE_RUN)
    assert (caught.value.response.status_code, caught.value.response.json()) == (403, DENIED)
    session = edx_server.session(_learner_token(edx_server, me))
    assert len(session.get(_list_url(edx_server, me), timeout=10).json()) == 1
    for username in (other, "ghost"):
        denied = session.get(_list_url(edx_server, username), timeout=10)
        assert (denied.status_code, denied.json()) == (403, DENIED)
    assert edx_lms.get(_list_url(edx_server, "ghost"), timeout=10).json() == []  # staff


def test_anonymous_bad_key_and_slashless(
    edx_server: EdxEmulator, edx_lms: requests.Session
) -> None:
    detail = f"{edx_server.url}/api/certificates/v0/certificates/bob/courses/{SOURCE_RUN}/"
    anonymous = requests.get(detail, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    assert requests.get(_list_url(edx_server, "bob"), timeout=10).status_code == 401
    bad_key = edx_lms.get(
        f"{edx_server.url}/api/certificates/v0/certificates/bob/courses/not+a+key/", timeout=10
    )
    assert (bad_key.status_code, bad_key.json()) == (404, {"error_code": "course_id_not_valid"})
    slashless = edx_lms.get(detail.rstrip("/"), allow_redirects=False, timeout=10)
    assert (slashless.status_code, slashless.headers["Location"]) == (
        301,
        f"/api/certificates/v0/certificates/bob/courses/{SOURCE_RUN}/",
    )


def test_audit_statuses_are_not_eligible(edx_server: EdxEmulator, edx_bearer: str) -> None:
    [learner] = _learners(edx_server, "aud", 1)
    _certify(edx_server, {"username": learner, "course_id": SOURCE_RUN, "status": "audit_passing"})
    with pytest.raises(HTTPError) as caught:
        _api(edx_server, edx_bearer).certificates.get_student_certificate(learner, SOURCE_RUN)
    assert caught.value.response.json() == {"error_code": "no_certificate_for_user"}


def test_certificate_page_is_plain_html(edx_server: EdxEmulator) -> None:
    [learner] = _learners(edx_server, "page", 1)
    url = _certify(edx_server, {"username": learner, "course_id": SOURCE_RUN, "grade": "0.8"})[
        "certificates"
    ][0]["download_url"]
    page = requests.get(f"{edx_server.url}{url}", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<script" not in page.text.lower()
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "Foundations of Data Science" in page.text and f"Learner {learner}" in page.text
    # Revoked (not downloadable) or unknown certificates are 404 pages.
    _certify(edx_server, {"username": learner, "course_id": SOURCE_RUN, "status": "unavailable"})
    assert requests.get(f"{edx_server.url}{url}", timeout=10).status_code == 404
    assert requests.get(f"{edx_server.url}/certificates/{'0' * 32}", timeout=10).status_code == 404
    assert requests.get(f"{edx_server.url}/certificates/nope", timeout=10).status_code == 404


def test_certificate_faults(
    edx_server: EdxEmulator, edx_bearer: str, edx_lms: requests.Session
) -> None:
    [learner] = _learners(edx_server, "cflt", 1)
    _certify(edx_server, {"username": learner, "course_id": SOURCE_RUN})
    edx_server.fault(endpoint="certificates.get", status=503, count=1)
    client = _api(edx_server, edx_bearer).certificates
    with pytest.raises(HTTPError) as caught:  # 5xx is raised even by get_student_certificates
        client.get_student_certificates(learner, course_ids=[SOURCE_RUN])
    assert caught.value.response.status_code == 503
    assert client.get_student_certificate(learner, SOURCE_RUN).status == "downloadable"
    edx_server.fault(endpoint="certificates.list", status=429, retry_after=3)
    throttled = edx_lms.get(_list_url(edx_server, learner), timeout=10)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert throttled.json() == {"detail": "Request was throttled. Expected available in 3 seconds."}
