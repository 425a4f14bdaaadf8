"""Studio course runs: list, create, get, PUT/PATCH with edX's bodies (§4.1, §4.2, §2.4-2.5)."""

from __future__ import annotations

import pytest
import requests

from .conftest import SERVICE_USER, SOURCE_RUN, EdxEmulator

NEW_RUN = {
    "org": "ACME",
    "number": "CR.101x",
    "run": "1T2026",
    "title": "Course Runs 101",
    "pacing_type": "self_paced",
    "schedule": {"start": "2026-01-05T00:00:00Z", "end": "2026-12-31T00:00:00Z"},
}
NEW_KEY = "course-v1:ACME+CR.101x+1T2026"
INVALID_KEY = "Invalid key supplied. Ensure there are no special characters in the Course Number."


def _runs(edx_server: EdxEmulator) -> str:
    return f"{edx_server.url}/api/v1/course_runs/"


def test_get_source_run(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    response = edx_studio.get(f"{_runs(edx_server)}{SOURCE_RUN}/", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "id": SOURCE_RUN,
        "title": "Foundations of Data Science",
        "schedule": {
            "start": "2025-01-06T00:00:00Z",
            "end": "2030-12-31T00:00:00Z",
            "enrollment_start": "2025-01-01T00:00:00Z",
            "enrollment_end": None,
        },
        "pacing_type": "self_paced",
        "team": [],
        "images": {
            "card_image": f"{edx_server.url}/asset-v1:B2B_SOURCE+DS.101x+SOURCE"
            "+type@asset+block@images_course_image.jpg"
        },
        "org": "B2B_SOURCE",
        "number": "DS.101x",
        "run": "SOURCE",
    }


@pytest.mark.parametrize(
    "key",
    [
        "course-v1:NOPE+X+Y",
        "course-v1:b2b_source+DS.101x+SOURCE",  # lookups are exact; only existence checks ignore case
        "not-a-key",
    ],
)
def test_unknown_run_is_404(edx_server: EdxEmulator, edx_studio: requests.Session, key) -> None:
    response = edx_studio.get(f"{_runs(edx_server)}{key}/", timeout=10)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_list_is_page_paginated(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    first = edx_studio.get(_runs(edx_server), params={"page_size": 2}, timeout=10).json()
    assert first["count"] == 5
    assert first["num_pages"] == 3
    assert first["current_page"] == 1
    assert first["start"] == 0
    assert first["previous"] is None
    assert first["next"] == f"{_runs(edx_server)}?page=2&page_size=2"
    assert len(first["results"]) == 2
    last = edx_studio.get(first["next"].replace("page=2", "page=3"), timeout=10).json()
    assert last["next"] is None
    assert len(last["results"]) == 1
    everything = edx_studio.get(_runs(edx_server), timeout=10).json()
    assert {r["id"] for r in everything["results"]} >= {SOURCE_RUN}
    bad = edx_studio.get(_runs(edx_server), params={"page": 9}, timeout=10)
    assert bad.status_code == 404
    assert bad.json() == {"detail": "Invalid page."}


def test_create_run(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    response = edx_studio.post(_runs(edx_server), json=NEW_RUN, timeout=10)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == NEW_KEY
    assert body["title"] == "Course Runs 101"
    assert body["pacing_type"] == "self_paced"
    assert body["schedule"]["start"] == "2026-01-05T00:00:00Z"
    assert body["schedule"]["enrollment_start"] is None
    assert body["team"] == []  # the serializer's non-partial update_team drops the creator's roles
    assert edx_studio.get(f"{_runs(edx_server)}{NEW_KEY}/", timeout=10).json() == body


def test_create_with_team_and_naive_dates(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    payload = {
        **NEW_RUN,
        "pacing_type": "whatever",
        "schedule": {"start": "2026-01-05T09:30:00", "end": "2026-12-31T00:00:00+02:00"},
        "team": [{"user": SERVICE_USER, "role": "instructor"}],
    }
    body = edx_studio.post(_runs(edx_server), json=payload, timeout=10).json()
    assert body["pacing_type"] == "instructor_paced"
    assert body["schedule"]["start"] == "2026-01-05T09:30:00Z"
    assert body["schedule"]["end"] == "2026-12-30T22:00:00Z"
    assert body["team"] == [{"user": SERVICE_USER, "role": "instructor"}]


def test_create_duplicate_ignores_case(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    assert edx_studio.post(_runs(edx_server), json=NEW_RUN, timeout=10).status_code == 201
    again = edx_studio.post(_runs(edx_server), json={**NEW_RUN, "org": "acme"}, timeout=10)
    assert again.status_code == 400
    assert again.json() == {"run": ["Course run course-v1:acme+CR.101x+1T2026 already exists"]}


def test_create_bad_key(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    response = edx_studio.post(_runs(edx_server), json={**NEW_RUN, "number": "CR 101"}, timeout=10)
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [INVALID_KEY]}


def test_create_missing_fields(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    response = edx_studio.post(_runs(edx_server), json={"org": "ACME"}, timeout=10)
    assert response.status_code == 400
    assert response.json() == {
        "number": ["This field is required."],
        "run": ["This field is required."],
        "title": ["This field is required."],
    }


@pytest.mark.parametrize(
    ("patch", "errors"),
    [
        ({"title": ""}, {"title": ["This field may not be blank."]}),
        ({"title": None}, {"title": ["This field may not be null."]}),
        ({"title": ["x"]}, {"title": ["Not a valid string."]}),
        ({"schedule": {"start": "2026-01-01"}}, {"schedule": {"end": ["This field is required."]}}),
        (
            {"schedule": {"start": "soon", "end": "2026-02-01T00:00:00Z"}},
            {
                "schedule": {
                    "start": [
                        "Datetime has wrong format. Use one of these formats instead: "
                        "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                    ]
                }
            },
        ),
        (
            {"schedule": "2026"},
            {
                "schedule": {
                    "non_field_errors": ["Invalid data. Expected a dictionary, but got str."]
                }
            },
        ),
        (
            {"team": [{"user": "ghost", "role": "staff"}]},
            {"team": ["Course team user does not exist"]},
        ),
        ({"team": "x"}, {"team": ['Expected a list of items but got type "str".']}),
    ],
)
def test_create_field_errors(
    edx_server: EdxEmulator, edx_studio: requests.Session, patch, errors
) -> None:
    response = edx_studio.post(_runs(edx_server), json={**NEW_RUN, **patch}, timeout=10)
    assert response.status_code == 400
    assert response.json() == errors


def test_bad_bodies(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    url = _runs(edx_server)
    not_json = edx_studio.post(
        url, data="{", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert not_json.status_code == 400
    assert not_json.json()["detail"].startswith("JSON parse error - ")
    a_list = edx_studio.post(url, json=[1], timeout=10)
    assert a_list.status_code == 400
    assert a_list.json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }
    text = edx_studio.post(url, data="x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert text.status_code == 415
    assert text.json() == {"detail": 'Unsupported media type "text/plain" in request.'}


def test_put_replaces_and_requires_title(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    created = edx_studio.post(
        _runs(edx_server),
        json={**NEW_RUN, "team": [{"user": SERVICE_USER, "role": "staff"}]},
        timeout=10,
    ).json()
    url = f"{_runs(edx_server)}{NEW_KEY}/"
    missing = edx_studio.put(url, json={"pacing_type": "self_paced"}, timeout=10)
    assert missing.status_code == 400
    assert missing.json() == {"title": ["This field is required."]}
    schedule = {
        "start": "2026-02-01T00:00:00Z",
        "end": "2026-11-30T00:00:00Z",
        "enrollment_start": "2026-01-15T00:00:00Z",
        "enrollment_end": "2026-11-01T00:00:00Z",
    }
    response = edx_studio.put(
        url,
        json={"title": "Renamed", "pacing_type": "instructor_paced", "schedule": schedule},
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Renamed"
    assert body["pacing_type"] == "instructor_paced"
    assert body["schedule"] == schedule
    assert created["team"] and body["team"] == []  # PUT without team deletes the team


def test_put_without_schedule_keeps_dates(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    edx_studio.post(_runs(edx_server), json=NEW_RUN, timeout=10)
    body = edx_studio.put(
        f"{_runs(edx_server)}{NEW_KEY}/", json={"title": "Only the title"}, timeout=10
    ).json()
    assert body["schedule"]["start"] == "2026-01-05T00:00:00Z"


def test_patch_changes_only_what_is_sent(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    edx_studio.post(
        _runs(edx_server),
        json={**NEW_RUN, "team": [{"user": SERVICE_USER, "role": "staff"}]},
        timeout=10,
    )
    body = edx_studio.patch(
        f"{_runs(edx_server)}{NEW_KEY}/",
        json={"team": [{"user": SERVICE_USER, "role": "instructor"}]},
        timeout=10,
    ).json()
    assert body["title"] == "Course Runs 101"
    assert body["team"] == [
        {"user": SERVICE_USER, "role": "staff"},
        {"user": SERVICE_USER, "role": "instructor"},
    ]


def test_update_unknown_run_is_404(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    response = edx_studio.put(
        f"{_runs(edx_server)}course-v1:NOPE+X+Y/", json={"title": "x"}, timeout=10
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_double_slash_put_like_edx_api_client(
    edx_server: EdxEmulator, edx_studio: requests.Session
) -> None:
    """edx-api-client's update sends ``/api/v1/course_runs//{id}/``; nginx merges the slashes."""
    response = edx_studio.put(
        f"{_runs(edx_server)}/{SOURCE_RUN}/", json={"title": "Via double slash"}, timeout=10
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Via double slash"


def test_percent_encoded_key_in_path(edx_server: EdxEmulator, edx_studio: requests.Session) -> None:
    encoded = SOURCE_RUN.replace(":", "%3A").replace("+", "%2B")
    response = edx_studio.get(f"{_runs(edx_server)}{encoded}/", timeout=10)
    assert response.status_code == 200
    assert response.json()["id"] == SOURCE_RUN
