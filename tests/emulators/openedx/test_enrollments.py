"""Enrollment API (§8): the ordered POST checks, re-enroll, deactivation, and the three reads."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests

from .conftest import PUBLIC_RUN, SOURCE_RUN, EdxEmulator

OTHER_RUN = "course-v1:B2B_SOURCE+PY.110x+SOURCE"
CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def _enroll(edx_server: EdxEmulator, session: requests.Session, body: object) -> requests.Response:
    return session.post(f"{edx_server.url}/api/enrollment/v1/enrollment", json=body, timeout=10)


def _body(user: str | None, course: str = SOURCE_RUN, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"course_details": {"course_id": course}, **extra}
    if user is not None:
        body["user"] = user
    return body


def _course_mode(slug: str, name: str, price: int) -> dict[str, object]:
    """One of a course's modes as an enrollment's ``course_details`` lists it."""
    return {
        "slug": slug,
        "name": name,
        "min_price": price,
        "suggested_prices": "",
        "currency": "usd",
        "expiration_datetime": None,
        "description": None,
        "sku": None,
        "bulk_sku": None,
    }


def _set_run(edx_server: EdxEmulator, course: str, **fields: object) -> None:
    """Change a course run in the emulator (its admin API), e.g. ``max_enrollments=1``."""
    edx_server.session().patch(
        f"{edx_server.url}/__emulator__/course_runs/{course}", json=fields, timeout=10
    )


def test_enroll_verified_success_body(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    response = _enroll(edx_server, edx_lms, _body(username, mode="verified", force_enrollment=True))
    assert response.status_code == 200
    body = response.json()
    assert CREATED.match(body.pop("created"))
    assert body == {
        "mode": "verified",
        "is_active": True,
        "course_details": {
            "course_id": SOURCE_RUN,
            "course_name": "Foundations of Data Science",
            "enrollment_start": "2025-01-01T00:00:00Z",
            "enrollment_end": None,
            "course_start": "2025-01-06T00:00:00Z",
            "course_end": "2030-12-31T00:00:00Z",
            "invite_only": False,
            "course_modes": [
                _course_mode("audit", "Audit", 0),
                _course_mode("verified", "Verified Certificate", 49),
            ],
            "pacing_type": "Self Paced",
        },
        "user": username,
    }


def test_reenroll_is_idempotent_then_deactivate(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    first = _enroll(edx_server, edx_lms, _body(username, mode="verified", force_enrollment=True))
    again = _enroll(edx_server, edx_lms, _body(username, mode="verified", force_enrollment=True))
    assert again.status_code == 200
    assert again.json() == first.json()
    off = _enroll(edx_server, edx_lms, _body(username, is_active=False))
    assert off.status_code == 200
    assert off.json()["is_active"] is False
    assert off.json()["mode"] == "verified"
    assert off.json()["created"] == first.json()["created"]
    reactivated = _enroll(
        edx_server, edx_lms, _body(username, mode="verified", force_enrollment=True)
    )
    assert reactivated.json()["is_active"] is True


def test_deactivating_an_inactive_enrollment_resets_its_mode(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    """edX pitfall kept on purpose: without ``mode`` the add path re-enrolls in the default mode,
    so a staff re-enrollment in ``verified`` is then a mode change that leaves it inactive; the
    second POST (MITx Online posts "once more if is_active is not true") activates it."""
    username = edx_register()
    _enroll(edx_server, edx_lms, _body(username, mode="verified"))
    _enroll(edx_server, edx_lms, _body(username, is_active=False))
    still_off = _enroll(edx_server, edx_lms, _body(username, is_active=False))
    assert still_off.status_code == 200
    assert still_off.json()["is_active"] is False
    assert still_off.json()["mode"] == "audit"
    first = _enroll(edx_server, edx_lms, _body(username, mode="verified", force_enrollment=True))
    assert (first.json()["mode"], first.json()["is_active"]) == ("verified", False)
    second = _enroll(edx_server, edx_lms, _body(username, mode="verified", force_enrollment=True))
    assert (second.json()["mode"], second.json()["is_active"]) == ("verified", True)


def test_deactivate_without_enrollment_creates_inactive_default_mode(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    response = _enroll(edx_server, edx_lms, _body(username, is_active=False))
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert response.json()["mode"] == "audit"


def test_mode_change_and_mismatched_deactivation(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    _enroll(edx_server, edx_lms, _body(username, mode="audit"))
    upgraded = _enroll(edx_server, edx_lms, _body(username, mode="verified"))
    assert upgraded.status_code == 200
    assert upgraded.json()["mode"] == "verified"
    mismatch = _enroll(edx_server, edx_lms, _body(username, mode="audit", is_active=False))
    assert mismatch.status_code == 400
    assert mismatch.json() == {
        "message": "Enrollment mode mismatch: active mode=verified, requested mode=audit. "
        "Won't deactivate."
    }


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({}, 400, {"message": "Course ID must be specified to create a new enrollment."}),
        (
            {"course_details": {}, "user": "x"},
            400,
            {"message": "Course ID must be specified to create a new enrollment."},
        ),
        (
            _body("x", course="not a key"),
            400,
            {"message": "No course 'not a key' found for enrollment"},
        ),
        (_body("ghost"), 406, {"message": "The user ghost does not exist."}),
        (
            _body(None, email="ghost@example.com"),
            406,
            {"message": "The user with the email address ghost@example.com does not exist."},
        ),
    ],
)
def test_staff_errors(
    edx_server: EdxEmulator, edx_lms: requests.Session, body, status, expected
) -> None:
    response = _enroll(edx_server, edx_lms, body)
    assert response.status_code == status
    assert response.json() == expected


def test_unknown_course(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    response = _enroll(edx_server, edx_lms, _body(edx_register(), course="course-v1:NOPE+X+Y"))
    assert response.status_code == 400
    assert response.json() == {"message": "No course 'course-v1:NOPE+X+Y' found for enrollment"}


def test_boolean_checks(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    active = _enroll(edx_server, edx_lms, _body(username, is_active="yes"))
    assert active.status_code == 400
    assert active.json() == {"message": "'yes' is an invalid enrollment activation status."}
    force = _enroll(edx_server, edx_lms, _body(username, force_enrollment="true"))
    assert force.json() == {"message": "'true' is an invalid force enrollment status."}


def test_enroll_by_email(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register(email="by.email@example.com")
    response = _enroll(edx_server, edx_lms, _body(None, email="BY.EMAIL@example.com"))
    assert response.status_code == 200
    assert response.json()["user"] == username


def test_non_staff_rules(
    edx_server: EdxEmulator,
    edx_register: Callable[..., str],
    edx_learner_session: Callable[[str], requests.Session],
) -> None:
    me, other = edx_register(), edx_register()
    learner = edx_learner_session(me)
    hidden = _enroll(edx_server, learner, _body(other))
    assert hidden.status_code == 404
    assert hidden.content == b""
    paid = _enroll(edx_server, learner, _body(None, mode="verified"))
    assert paid.status_code == 403
    assert paid.json() == {
        "message": "User does not have permission to create enrollment with mode [verified]."
    }
    mine = _enroll(edx_server, learner, _body(None, mode="audit"))
    assert mine.status_code == 200
    assert mine.json()["user"] == me
    listed = learner.get(f"{edx_server.url}/api/enrollment/v1/enrollment", timeout=10).json()
    assert [e["course_details"]["course_id"] for e in listed] == [SOURCE_RUN]
    others = learner.get(
        f"{edx_server.url}/api/enrollment/v1/enrollment", params={"user": other}, timeout=10
    )
    assert others.json() == []
    single = learner.get(
        f"{edx_server.url}/api/enrollment/v1/enrollment/{other},{SOURCE_RUN}", timeout=10
    )
    assert single.status_code == 404


def test_unavailable_and_expired_modes(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    response = _enroll(edx_server, edx_lms, _body(username, mode="professional"))
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == (
        f"The [professional] course mode is expired or otherwise unavailable for course run "
        f"[{SOURCE_RUN}]."
    )
    assert body["course_details"]["course_id"] == SOURCE_RUN
    # Expire the verified mode: enrolling in it fails, deactivating an existing one still works.
    _enroll(edx_server, edx_lms, _body(username, mode="verified"))
    edx_lms.patch(
        f"{edx_server.url}/api/course_modes/v1/courses/{SOURCE_RUN}/verified",
        data='{"expiration_datetime": "2020-01-01T00:00:00Z"}',
        headers={"Content-Type": "application/merge-patch+json"},
        timeout=10,
    )
    late = _enroll(
        edx_server, edx_lms, _body(edx_register(), mode="verified", force_enrollment=True)
    )
    assert late.status_code == 400
    assert late.json()["message"].startswith("The [verified] course mode is expired")
    off = _enroll(edx_server, edx_lms, _body(username, mode="verified", is_active=False))
    assert off.status_code == 200
    assert off.json()["is_active"] is False


def test_closed_enrollment_with_and_without_force(
    edx_server: EdxEmulator,
    edx_studio: requests.Session,
    edx_lms: requests.Session,
    edx_register: Callable[..., str],
) -> None:
    edx_studio.patch(
        f"{edx_server.url}/api/v1/course_runs/{OTHER_RUN}/",
        json={
            "schedule": {
                "start": "2025-01-01T00:00:00Z",
                "end": "2030-01-01T00:00:00Z",
                "enrollment_end": "2025-02-01T00:00:00Z",
            }
        },
        timeout=10,
    )
    username = edx_register()
    closed = _enroll(edx_server, edx_lms, _body(username, course=OTHER_RUN, mode="audit"))
    assert closed.status_code == 400
    assert closed.json() == {
        "message": "An error occurred while creating the new course enrollment for user "
        f"'{username}' in course '{OTHER_RUN}'"
    }
    forced = _enroll(
        edx_server, edx_lms, _body(username, course=OTHER_RUN, mode="audit", force_enrollment=True)
    )
    assert forced.status_code == 200


def test_full_course(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    _set_run(edx_server, OTHER_RUN, max_enrollments=1)
    assert _enroll(edx_server, edx_lms, _body(edx_register(), course=OTHER_RUN)).status_code == 200
    full = _enroll(edx_server, edx_lms, _body(edx_register(), course=OTHER_RUN))
    assert full.status_code == 400
    assert full.json()["message"].startswith("An error occurred while creating")


def test_course_without_modes_accepts_audit_only(
    edx_server: EdxEmulator,
    edx_studio: requests.Session,
    edx_lms: requests.Session,
    edx_register: Callable[..., str],
) -> None:
    target = "course-v1:acme+DS.101x+1T1C2026"
    edx_studio.post(
        f"{edx_server.url}/api/v1/course_runs/clone/",
        json={"source_course_id": SOURCE_RUN, "destination_course_id": target},
        timeout=10,
    )
    username = edx_register()
    default = _enroll(edx_server, edx_lms, _body(username, course=target))
    assert default.status_code == 200
    assert default.json()["mode"] == "audit"
    assert [m["slug"] for m in default.json()["course_details"]["course_modes"]] == ["audit"]
    verified = _enroll(edx_server, edx_lms, _body(edx_register(), course=target, mode="verified"))
    assert verified.status_code == 400


def test_reads(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    username = edx_register()
    _enroll(edx_server, edx_lms, _body(username, mode="verified"))
    _enroll(edx_server, edx_lms, _body(username, course=OTHER_RUN, mode="audit"))
    _enroll(edx_server, edx_lms, _body(username, course=OTHER_RUN, is_active=False))
    base = f"{edx_server.url}/api/enrollment/v1"
    array = edx_lms.get(f"{base}/enrollment", params={"user": username}, timeout=10).json()
    assert [e["course_details"]["course_id"] for e in array] == [SOURCE_RUN]  # active only
    one = edx_lms.get(f"{base}/enrollment/{username},{OTHER_RUN}", timeout=10)
    assert one.json()["is_active"] is False
    none = edx_lms.get(f"{base}/enrollment/{username},{PUBLIC_RUN}", timeout=10)
    assert none.status_code == 200
    assert none.text == "null"
    own = edx_lms.get(f"{base}/enrollment/{SOURCE_RUN}", timeout=10)
    assert own.text == "null"  # the service user has no enrollment of its own


def test_enrollments_list_is_cursor_paginated(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    users = [edx_register() for _ in range(3)]
    for username in users:
        _enroll(edx_server, edx_lms, _body(username, mode="verified"))
    _enroll(edx_server, edx_lms, _body(users[0], course=OTHER_RUN))
    url = f"{edx_server.url}/api/enrollment/v1/enrollments"
    first = edx_lms.get(url, params={"course_id": SOURCE_RUN, "page_size": 2}, timeout=10).json()
    assert [r["user"] for r in first["results"]] == users[:2]
    assert first["previous"] is None
    assert set(first["results"][0]) == {"created", "mode", "is_active", "user", "course_id"}
    second = edx_lms.get(first["next"], timeout=10).json()
    assert [r["user"] for r in second["results"]] == users[2:]
    assert second["next"] is None
    back = edx_lms.get(second["previous"], timeout=10).json()
    assert [r["user"] for r in back["results"]] == users[:2]
    by_user = edx_lms.get(url, params={"username": f"{users[0]},{users[1]}"}, timeout=10).json()
    assert len(by_user["results"]) == 3
    empty = edx_lms.get(url, params={"course_id": "course-v1:NOPE+X+Y"}, timeout=10)
    assert empty.json() == {"next": None, "previous": None, "results": []}
    invalid = edx_lms.get(url, params={"course_id": "nope"}, timeout=10)
    assert invalid.status_code == 400
    assert invalid.json() == {"course_id": ["'nope' is not a valid course id."]}
    cursor = edx_lms.get(url, params={"cursor": "!!"}, timeout=10)
    assert cursor.status_code == 404
    assert cursor.json() == {"detail": "Invalid cursor"}


def test_unenrollable_window_via_admin(
    edx_server: EdxEmulator, edx_lms: requests.Session, edx_register: Callable[..., str]
) -> None:
    _set_run(edx_server, OTHER_RUN, unenrollable_for_s=60)
    response = _enroll(edx_server, edx_lms, _body(edx_register(), course=OTHER_RUN))
    assert response.status_code == 400
    assert response.json() == {"message": f"No course '{OTHER_RUN}' found for enrollment"}
