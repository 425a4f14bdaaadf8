"""Staff import an existing edX run by its key, over real HTTP against the Open edX emulator:
what Studio says becomes the course and run; unknown keys, outages and refusals are clear
messages, and nothing is half-written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Course, CourseRun, Pacing
from tests.support.live_server import free_port, live_server

DS_SOURCE = "course-v1:B2B_SOURCE+DS.101x+SOURCE"
PUBLIC = "course-v1:OpenU+CS.50x+2026_Fall"


@pytest.fixture
def edx_url() -> Iterator[str]:
    from emulators.openedx import create_app

    with live_server(create_app({})) as url:
        yield url


@pytest.fixture
def app(app_factory: Callable[..., Flask], request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The portal with its Open edX client (LMS and Studio alike) on the emulator; a test may
    parametrize ``app`` indirectly with "unreachable" (a loopback port nobody listens on) or
    "wrong secret" (the emulator, with a client secret it refuses)."""
    which = getattr(request, "param", "emulator")
    if which == "unreachable":
        url, extra = f"http://127.0.0.1:{free_port()}", {"HTTP_TIMEOUT_SECONDS": 2}
    else:
        url = request.getfixturevalue("edx_url")
        extra = {"OPENEDX_CLIENT_SECRET": "wrong-secret"} if which == "wrong secret" else {}
    app = app_factory(OPENEDX_LMS_URL=url, OPENEDX_STUDIO_URL=url, **extra)
    with app.app_context():
        yield app


def counts() -> tuple[int, int, int]:
    db.session.expire_all()
    return tuple(  # type: ignore[return-value]
        int(db.session.scalar(select(func.count()).select_from(model)))
        for model in (Course, CourseRun, AuditEvent)
    )


def do_import(client: FlaskClient, key: str) -> Any:
    return client.post("/staff/courseware/import", data={"course_key": key})


def test_import_creates_course_and_source_run(staff_client: FlaskClient) -> None:
    response = do_import(staff_client, DS_SOURCE)
    assert response.status_code == 302, response.get_data(as_text=True)
    page = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Imported {DS_SOURCE}, created the course B2B_SOURCE+DS.101x" in page
    assert "flagged it as the course&#39;s source run" in page

    course = db.session.scalar(select(Course))
    assert (course.key, course.number, course.title) == (
        "B2B_SOURCE+DS.101x",
        "DS.101x",
        "Foundations of Data Science",
    )
    run = db.session.scalar(select(CourseRun))
    assert run.course_id == course.id and run.course_key == DS_SOURCE
    assert run.title == "Foundations of Data Science"
    assert run.start_at == dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
    assert run.end_at == dt.datetime(2030, 12, 31, tzinfo=dt.UTC)
    assert run.enrollment_start == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert run.enrollment_end is None
    assert run.pacing is Pacing.SELF and run.is_source_run
    assert run.restriction_type is None and not run.hidden

    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["course.created", "course_run.created"]
    run_event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "course_run.created")
    )
    assert run_event.after["start_at"] == "2025-01-06T00:00:00Z"
    assert run_event.actor_id is not None

    # Source runs are internal: the public catalog does not list it.
    assert DS_SOURCE not in staff_client.get("/api/v1/course_runs/").get_data(as_text=True)


def test_import_into_an_existing_course(staff_client: FlaskClient) -> None:
    db.session.add(Course(key="OpenU+CS.50x", number="CS.50x", title="Our own title"))
    db.session.commit()
    response = do_import(staff_client, PUBLIC)
    assert response.status_code == 302
    courses = db.session.scalars(select(Course)).all()
    assert [c.title for c in courses] == ["Our own title"]
    run = db.session.scalar(select(CourseRun))
    assert run.title == "Introduction to Computing" and run.pacing is Pacing.INSTRUCTOR
    assert not run.is_source_run
    listed = staff_client.get("/api/v1/course_runs/").get_json()
    assert [r["key"] for r in listed["results"]] == [PUBLIC]


def test_already_imported_is_a_clear_message(staff_client: FlaskClient) -> None:
    assert do_import(staff_client, DS_SOURCE).status_code == 302
    before = counts()
    again = do_import(staff_client, DS_SOURCE)
    assert again.status_code == 409
    assert "That run is already in the portal" in again.get_data(as_text=True)
    assert counts() == before


def test_unknown_run_is_a_form_error(staff_client: FlaskClient) -> None:
    before = counts()
    response = do_import(staff_client, "course-v1:B2B_SOURCE+NOPE.404x+SOURCE")
    assert response.status_code == 404
    assert "edX has no course run with that key." in response.get_data(as_text=True)
    assert counts() == before


@pytest.mark.parametrize("key", ["", "B2B_SOURCE+DS.101x", "course-v1:A+B", "course-v1:A B+C+D"])
def test_malformed_key_never_reaches_edx(staff_client: FlaskClient, key: str) -> None:
    response = do_import(staff_client, key)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Use course-v1:ORG+NUMBER+RUN" in page or "Enter the course run key." in page
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("status", [503, 500, 429])
def test_edx_outage_is_a_flash_and_nothing_is_written(
    staff_client: FlaskClient, edx_url: str, status: int
) -> None:
    fault = {"endpoint": "course_runs.get", "status": status, "count": 1}
    assert requests.post(f"{edx_url}/__emulator__/faults", json=fault, timeout=5).status_code == 201
    before = counts()
    response = do_import(staff_client, DS_SOURCE)
    assert response.status_code == 503
    assert "edX is unavailable right now, so nothing was imported" in response.get_data(
        as_text=True
    )
    assert counts() == before
    # The fault is spent: trying again works.
    assert do_import(staff_client, DS_SOURCE).status_code == 302
    assert db.session.scalar(select(CourseRun.course_key)) == DS_SOURCE


@pytest.mark.parametrize("app", ["unreachable"], indirect=True)
def test_edx_unreachable_is_a_flash(staff_client: FlaskClient) -> None:
    response = do_import(staff_client, DS_SOURCE)
    assert response.status_code == 503
    assert "edX is unavailable" in response.get_data(as_text=True)
    assert counts()[:2] == (0, 0)


@pytest.mark.parametrize("app", ["wrong secret"], indirect=True)
def test_edx_refusing_the_portal_is_a_form_error(staff_client: FlaskClient) -> None:
    response = do_import(staff_client, DS_SOURCE)
    assert response.status_code == 502
    assert "edX refused to show this run (HTTP 401)" in response.get_data(as_text=True)
    assert counts()[:2] == (0, 0)
