"""Course modes (§7, §2.8): list, 301 for the slash-less GET, create, duplicates, PATCH, DELETE."""

from __future__ import annotations

import requests

from .conftest import SOURCE_RUN, EdxEmulator

TARGET = "course-v1:acme+DS.101x+1T42C2026"


def _modes_url(edx_server: EdxEmulator, key: str = TARGET) -> str:
    return f"{edx_server.url}/api/course_modes/v1/courses/{key}/"


def _clone(edx_server: EdxEmulator, studio: requests.Session) -> None:
    response = studio.post(
        f"{edx_server.url}/api/v1/course_runs/clone/",
        json={"source_course_id": SOURCE_RUN, "destination_course_id": TARGET},
        timeout=10,
    )
    assert response.status_code == 201


def _mode(slug: str, price: int, **extra: object) -> dict[str, object]:
    return {
        "course_id": TARGET,
        "mode_slug": slug,
        "mode_display_name": slug.title(),
        "currency": "USD",
        "min_price": price,
        **extra,
    }


def _seed_mode(slug: str, name: str, price: int) -> dict[str, object]:
    """One of the seed run's modes as the emulator lists it."""
    return {
        "course_id": SOURCE_RUN,
        "mode_slug": slug,
        "mode_display_name": name,
        "min_price": price,
        "currency": "usd",
        "expiration_datetime": None,
        "expiration_datetime_is_explicit": False,
        "description": None,
        "sku": None,
        "bulk_sku": None,
    }


def test_list_seed_modes(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    response = edx_lms.get(_modes_url(edx_server, SOURCE_RUN), timeout=10)
    assert response.status_code == 200
    assert response.json() == [
        _seed_mode("audit", "Audit", 0),
        _seed_mode("verified", "Verified Certificate", 49),
    ]


def test_slashless_get_redirects_301(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    url = _modes_url(edx_server, SOURCE_RUN).rstrip("/")
    response = edx_lms.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/api/course_modes/v1/courses/{SOURCE_RUN}/")
    followed = edx_lms.get(url, timeout=10)
    assert followed.status_code == 200
    assert [m["mode_slug"] for m in followed.json()] == ["audit", "verified"]
    post = edx_lms.post(url, json=_mode("audit", 0), timeout=10)
    assert post.status_code == 404


def test_unknown_course_lists_empty(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    response = edx_lms.get(_modes_url(edx_server, "course-v1:NOPE+X+Y"), timeout=10)
    assert response.status_code == 200
    assert response.json() == []


def test_create_modes_and_duplicate(
    edx_server: EdxEmulator, edx_studio: requests.Session, edx_lms: requests.Session
) -> None:
    _clone(edx_server, edx_studio)
    audit = edx_lms.post(_modes_url(edx_server), json=_mode("audit", 0), timeout=10)
    assert audit.status_code == 201
    assert audit.json()["currency"] == "usd"  # stored lower-case, as CourseMode.save() does
    verified = edx_lms.post(
        _modes_url(edx_server),
        json=_mode("verified", 1, expiration_datetime="2030-01-01T00:00:00Z"),
        timeout=10,
    )
    assert verified.status_code == 201
    assert verified.json()["expiration_datetime"] == "2030-01-01T00:00:00Z"
    assert verified.json()["expiration_datetime_is_explicit"] is True
    duplicate = edx_lms.post(_modes_url(edx_server), json=_mode("audit", 0), timeout=10)
    assert duplicate.status_code == 400
    assert duplicate.json() == {
        "non_field_errors": ["The fields course_id, mode_slug, currency must make a unique set."]
    }
    listed = edx_lms.get(_modes_url(edx_server), timeout=10).json()
    assert [m["mode_slug"] for m in listed] == ["audit", "verified"]


def test_create_validation(
    edx_server: EdxEmulator, edx_studio: requests.Session, edx_lms: requests.Session
) -> None:
    _clone(edx_server, edx_studio)
    url = _modes_url(edx_server)
    missing = edx_lms.post(url, json={"course_id": TARGET}, timeout=10)
    assert missing.status_code == 400
    assert missing.json() == {
        "mode_slug": ["This field is required."],
        "mode_display_name": ["This field is required."],
        "currency": ["This field is required."],
    }
    free_verified = edx_lms.post(url, json=_mode("verified", 0), timeout=10)
    assert free_verified.status_code == 400
    assert free_verified.json() == {
        "non_field_errors": [
            "The Verified course mode has a minimum price of 1. "
            "You must set a price greater than or equal to 1."
        ]
    }
    bad_price = edx_lms.post(url, json=_mode("audit", "free"), timeout=10)  # type: ignore[arg-type]
    assert bad_price.json() == {"min_price": ["A valid integer is required."]}
    other_course = edx_lms.post(
        url, json={**_mode("audit", 0), "course_id": SOURCE_RUN}, timeout=10
    )
    assert other_course.status_code == 400
    assert "course_id" in other_course.json()
    no_run = edx_lms.post(
        _modes_url(edx_server, "course-v1:NOPE+X+Y"),
        json={**_mode("audit", 0), "course_id": "course-v1:NOPE+X+Y"},
        timeout=10,
    )
    assert no_run.status_code == 400
    assert no_run.json() == {"course_id": ["Course 'course-v1:NOPE+X+Y' does not exist."]}


def test_get_patch_delete_one_mode(edx_server: EdxEmulator, edx_lms: requests.Session) -> None:
    url = f"{_modes_url(edx_server, SOURCE_RUN)}verified"
    assert edx_lms.get(url, timeout=10).json()["min_price"] == 49
    wrong_type = edx_lms.patch(url, json={"min_price": 59}, timeout=10)
    assert wrong_type.status_code == 415
    assert wrong_type.json() == {"detail": 'Unsupported media type "application/json" in request.'}
    merge = {"Content-Type": "application/merge-patch+json"}
    patched = edx_lms.patch(
        url, data='{"min_price": 59, "currency": "EUR"}', headers=merge, timeout=10
    )
    assert patched.status_code == 204
    assert patched.content == b""
    assert edx_lms.get(url, timeout=10).json()["currency"] == "eur"
    locked = edx_lms.patch(url, data='{"mode_slug": "x"}', headers=merge, timeout=10)
    assert locked.status_code == 400
    assert locked.json() == {"mode_slug": ["This field cannot be modified."]}
    assert edx_lms.delete(url, timeout=10).status_code == 204
    gone = edx_lms.get(url, timeout=10)
    assert gone.status_code == 404
    assert gone.json() == {"detail": "Not found."}
    assert edx_lms.delete(url, timeout=10).status_code == 404


def test_expired_verified_mode_via_patch(
    edx_server: EdxEmulator, edx_lms: requests.Session
) -> None:
    url = f"{_modes_url(edx_server, SOURCE_RUN)}verified"
    merge = {"Content-Type": "application/merge-patch+json"}
    response = edx_lms.patch(
        url, data='{"expiration_datetime": "2020-01-01T00:00:00Z"}', headers=merge, timeout=10
    )
    assert response.status_code == 204
    mode = edx_lms.get(url, timeout=10).json()
    assert mode["expiration_datetime"] == "2020-01-01T00:00:00Z"
    assert mode["expiration_datetime_is_explicit"] is True
