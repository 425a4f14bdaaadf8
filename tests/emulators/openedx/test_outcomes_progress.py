"""openedx-completion-aggregator's course list (``/completion-aggregator/v1/course/{key}/``).

edx-api-client has no completion client, so these tests speak HTTP directly.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .conftest import SOURCE_RUN, EdxEmulator

OTHER_RUN = "course-v1:B2B_SOURCE+PY.110x+SOURCE"
DENIED = {"detail": "You do not have permission to perform this action."}


def _control(
    edx_server: EdxEmulator, path: str, body: Any, method: str = "post"
) -> requests.Response:
    return edx_server.session().request(
        method, f"{edx_server.url}/__emulator__/{path}", json=body, timeout=30
    )


def _learners(
    edx_server: EdxEmulator, prefix: str, count: int, course: str = SOURCE_RUN
) -> list[str]:
    body = {"prefix": prefix, "count": count, "course_id": course}
    assert _control(edx_server, "bulk_learners", body).status_code == 201
    return [f"{prefix}{n}" for n in range(count)]


def _url(edx_server: EdxEmulator, course: str = SOURCE_RUN) -> str:
    return f"{edx_server.url}/completion-aggregator/v1/course/{course}/"


def _learner(edx_server: EdxEmulator, username: str) -> requests.Session:
    token = _control(edx_server, "tokens", {"username": username}).json()["access_token"]
    return edx_server.session(token)


def test_staff_reads_the_whole_course_page_by_page(
    edx_server: EdxEmulator, edx_lms: requests.Session
) -> None:
    learners = _learners(edx_server, "prog", 23)
    _learners(edx_server, "other", 2, OTHER_RUN)
    posted = _control(
        edx_server,
        "progress",
        [
            {"username": "prog0", "course_id": SOURCE_RUN, "percent": 0.25},
            {"username": "prog1", "course_id": SOURCE_RUN, "earned": 3, "possible": 12},
        ],
    )
    assert posted.status_code == 201 and posted.json() == {"count": 2}
    first = edx_lms.get(_url(edx_server), timeout=10)
    assert first.status_code == 200
    body = first.json()
    assert list(body) == ["results", "pagination"]
    assert body["pagination"] == {
        "next": f"{_url(edx_server)}?page=2",
        "previous": None,
        "count": 23,
        "num_pages": 3,
    }
    assert body["results"][:3] == [
        {
            "course_key": SOURCE_RUN,
            "completion": {"earned": 0.25, "possible": 1.0, "percent": 0.25},
            "username": "prog0",
        },
        {
            "course_key": SOURCE_RUN,
            "completion": {"earned": 3.0, "possible": 12.0, "percent": 0.25},
            "username": "prog1",
        },
        {  # no progress yet: the aggregator's empty record
            "course_key": SOURCE_RUN,
            "completion": {"earned": 0.0, "possible": None, "percent": 0.0},
            "username": "prog2",
        },
    ]
    seen, url = [], _url(edx_server)
    while url:
        page = edx_lms.get(url, timeout=10).json()
        seen += [r["username"] for r in page["results"]]
        url = page["pagination"]["next"]
    assert seen == learners  # 10 a page (the LMS PAGE_SIZE), by user id
    big = edx_lms.get(_url(edx_server), params={"page_size": 20, "page": 2}, timeout=10).json()
    assert [r["username"] for r in big["results"]] == learners[20:]
    assert big["pagination"]["previous"] == f"{_url(edx_server)}?page_size=20"
    assert big["pagination"]["next"] is None


def test_one_user_and_requested_fields(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    _learners(edx_server, "one", 2)
    _control(edx_server, "progress", {"username": "one1", "course_id": SOURCE_RUN, "percent": 0.5})
    single = edx_lms.get(_url(edx_server), params={"username": "one1"}, timeout=10).json()
    assert single == {
        "results": [
            {
                "course_key": SOURCE_RUN,
                "completion": {"earned": 0.5, "possible": 1.0, "percent": 0.5},
            }
        ],
        "pagination": {"next": None, "previous": None, "count": 1, "num_pages": 1},
    }
    extra = edx_lms.get(
        _url(edx_server),
        params={"username": "one1", "requested_fields": "username,mean,chapter"},
        timeout=10,
    ).json()["results"][0]
    assert (extra["username"], extra["mean"], extra["chapter"]) == ("one1", 0.25, [])
    invalid = edx_lms.get(_url(edx_server), params={"requested_fields": "bogus"}, timeout=10)
    assert invalid.status_code == 400
    assert invalid.json() == {"detail": "Invalid requested_fields value(s): {'bogus'}"}


@pytest.mark.parametrize(
    ("course", "params", "status", "body"),
    [
        ("not-a-key", {}, 404, {"detail": "Invalid course key: 'not-a-key'."}),
        (SOURCE_RUN, {"username": "ghost"}, 404, {"detail": "Not found."}),
        (
            OTHER_RUN,
            {"username": "svc_b2b_portal"},
            404,
            {
                "detail": "User 'svc_b2b_portal' does not have an active enrollment in course "
                f"'{OTHER_RUN}'."
            },
        ),
        (SOURCE_RUN, {"page": "9"}, 404, {"detail": "Invalid page."}),
        (SOURCE_RUN, {"page": "x"}, 404, {"detail": "Invalid page."}),
    ],
)
def test_staff_errors(
    edx_server: EdxEmulator,
    edx_lms: requests.Session,
    course: str,
    params: dict[str, str],
    status: int,
    body: dict[str, str],
) -> None:
    response = edx_lms.get(_url(edx_server, course), params=params, timeout=10)
    assert (response.status_code, response.json()) == (status, body)


def test_unknown_course_is_an_empty_page_for_staff(
    edx_server: EdxEmulator, edx_lms: requests.Session
) -> None:
    body = edx_lms.get(_url(edx_server, "course-v1:No+Such+Run"), timeout=10).json()
    assert body == {
        "results": [],
        "pagination": {"next": None, "previous": None, "count": 0, "num_pages": 1},
    }


def test_learners_read_only_themselves(edx_server: EdxEmulator) -> None:
    me, other = _learners(edx_server, "lrn", 2)
    session = _learner(edx_server, me)
    own = session.get(_url(edx_server), params={"username": me.upper()}, timeout=10)
    assert own.status_code == 200 and own.json()["pagination"]["count"] == 1
    for params in ({}, {"username": other}):
        denied = session.get(_url(edx_server), params=params, timeout=10)
        assert (denied.status_code, denied.json()) == (403, DENIED)
    anonymous = requests.get(_url(edx_server), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}


def test_slashless_redirect_and_uninstalled_plugin(
    edx_server: EdxEmulator, edx_lms: requests.Session
) -> None:
    slashless = edx_lms.get(
        _url(edx_server).rstrip("/"), params={"page": "1"}, allow_redirects=False, timeout=10
    )
    assert slashless.status_code == 301
    assert slashless.headers["Location"] == f"/completion-aggregator/v1/course/{SOURCE_RUN}/?page=1"
    off = _control(edx_server, "features", {"completion_aggregator": False}, "patch")
    assert off.json() == {"completion_aggregator": False}
    missing = edx_lms.get(_url(edx_server), timeout=10)
    assert missing.status_code == 404  # the portal's signal: this edX offers no progress
    assert missing.headers["Content-Type"].startswith("text/html")
    edx_server.session().post(f"{edx_server.url}/__emulator__/reset", timeout=10)
    assert _control(edx_server, "features", None, "get").json() == {"completion_aggregator": True}
    assert edx_lms.get(_url(edx_server), timeout=10).status_code == 200


def test_completion_faults(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    [learner] = _learners(edx_server, "cf", 1)
    edx_server.fault(endpoint="completion.course", status=429, retry_after=2)
    throttled = edx_lms.get(_url(edx_server), timeout=10)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "2")
    assert throttled.json() == {"detail": "Request was throttled. Expected available in 2 seconds."}
    edx_server.fault(endpoint="completion.course", status=503, skip=1)
    assert edx_lms.get(_url(edx_server), timeout=10).status_code == 200  # skipped
    user_call = edx_lms.get(_url(edx_server), params={"username": learner}, timeout=10)
    assert user_call.status_code == 503
    assert user_call.headers["X-Emulator-Fault"] == "completion.course"
    assert edx_lms.get(_url(edx_server), params={"username": learner}, timeout=10).ok
