"""Staff contract pages: courseware on a contract, job state and retry, removal with its impact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import (
    BackgroundJob,
    Contract,
    Course,
    CourseRun,
    Enrollment,
    JobState,
    Program,
    ProgramCourse,
    User,
    utcnow,
)
from tests.support.factories import BackgroundJobFactory


@pytest.fixture
def staff_setup(demo: None) -> None:
    """Staff sign in to the demo data."""


def contract(db: Any, slug: str) -> Contract:
    return db.session.scalar(select(Contract).where(Contract.slug == slug))


def course(db: Any, number: str) -> Course:
    return db.session.scalar(select(Course).where(Course.number == number))


def test_list_and_detail(staff_client: FlaskClient, db: Any) -> None:
    page = staff_client.get("/staff/contracts").get_data(as_text=True)
    assert "Globex Open Seats" in page and "0 / 50" in page
    c = contract(db, "globex-open-seats")
    detail = staff_client.get(f"/staff/contracts/{c.id}").get_data(as_text=True)
    assert "No runs yet" in detail and "Add a course" in detail
    assert "js/job-status.js" in detail  # live job updates, from an external script
    assert staff_client.get("/staff/contracts/999999").status_code == 404


def test_add_course_shows_the_run_and_its_job(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    response = staff_client.post(
        f"/staff/contracts/{c.id}/courses",
        data={"course_id": course(db, "DS.101x").id},
        follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    assert f"course-v1:GLOBEX+DS.101x+1T{c.id}C" in text
    assert "it is being created in edX" in text
    job = db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == "openedx.create_contract_run")
    )
    assert job is not None and f'data-job-id="{job.id}"' in text
    status = staff_client.get(f"/staff/jobs/{job.id}.json").get_json()
    assert status["id"] == job.id and "edx_state" in status


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("courses", {}, "Choose a course to add."),
        ("courses", {"course_id": "abc"}, "Choose a course to add."),
        ("courses", {"course_id": "999999"}, "That course does not exist."),
        ("programs", {"program_id": "999999"}, "That program does not exist."),
        ("runs", {"run_id": "<script>"}, "Choose a run to attach."),
    ],
)
def test_bad_input_is_a_clear_message_and_nothing_is_written(
    staff_client: FlaskClient, db: Any, path: str, data: dict[str, str], message: str
) -> None:
    c = contract(db, "globex-open-seats")
    page = staff_client.post(f"/staff/contracts/{c.id}/{path}", data=data, follow_redirects=True)
    assert page.status_code == 200
    assert message in page.get_data(as_text=True)
    assert db.session.scalar(select(CourseRun).where(CourseRun.contract_id == c.id)) is None


def test_course_without_source_run_is_explained(staff_client: FlaskClient, db: Any) -> None:
    public = db.session.scalar(select(Course).where(Course.number == "CS.50x"))
    c = contract(db, "globex-open-seats")
    page = staff_client.post(
        f"/staff/contracts/{c.id}/courses", data={"course_id": public.id}, follow_redirects=True
    ).get_data(as_text=True)
    assert "has no source run" in page


def test_add_program_reports_courses_without_source(staff_client: FlaskClient, db: Any) -> None:
    public = db.session.scalar(select(Course).where(Course.number == "CS.50x"))
    program = Program(key="program-v1:T+P", title="Test Program")
    db.session.add(program)
    db.session.flush()
    db.session.add_all(
        [
            ProgramCourse(program_id=program.id, course_id=course(db, "DS.101x").id, position=0),
            ProgramCourse(program_id=program.id, course_id=public.id, position=1),
        ]
    )
    db.session.commit()
    c = contract(db, "globex-certificate")
    page = staff_client.post(
        f"/staff/contracts/{c.id}/programs", data={"program_id": program.id}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Program added with 1 new run" in page
    assert "which have no source run: Introduction to Computing" in page
    again = staff_client.post(
        f"/staff/contracts/{c.id}/programs", data={"program_id": program.id}, follow_redirects=True
    ).get_data(as_text=True)
    assert "already on this contract" in again


def test_remove_run_confirms_the_impact_first(staff_client: FlaskClient, db: Any) -> None:
    c = contract(db, "globex-open-seats")
    staff_client.post(
        f"/staff/contracts/{c.id}/courses", data={"course_id": course(db, "DS.101x").id}
    )
    run = db.session.scalar(select(CourseRun).where(CourseRun.contract_id == c.id))
    learner = User(email="x@globex.example")
    db.session.add(learner)
    db.session.flush()
    db.session.add(Enrollment(user_id=learner.id, course_run_id=run.id, contract_id=c.id))
    db.session.commit()
    confirm = staff_client.get(f"/staff/contracts/{c.id}/runs/{run.id}/remove").get_data(
        as_text=True
    )
    assert "close enrollment (kept: it has enrollments)" in confirm
    db.session.expire_all()
    assert db.session.get(CourseRun, run.id).enrollment_end > utcnow()  # GET changed nothing
    done = staff_client.post(f"/staff/contracts/{c.id}/runs/{run.id}/remove", follow_redirects=True)
    assert f"{run.course_key}: enrollment closed (kept: it has enrollments)." in done.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(CourseRun, run.id).contract_id == c.id
    assert db.session.get(CourseRun, run.id).enrollment_end <= utcnow()
    other = contract(db, "acme-leadership")
    assert staff_client.get(f"/staff/contracts/{other.id}/runs/{run.id}/remove").status_code == 404


def test_retry_button(staff_client: FlaskClient, db: Any) -> None:
    job = BackgroundJobFactory(state=JobState.FAILED, attempts=5, last_error="boom")
    db.session.commit()
    response = staff_client.post(
        f"/staff/jobs/{job.id}/retry", data={"next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    db.session.expire_all()
    assert db.session.get(BackgroundJob, job.id).state is JobState.SUCCEEDED  # inline runner
    again = staff_client.post(f"/staff/jobs/{job.id}/retry", follow_redirects=True)
    assert "only failed or cancelled jobs can be retried" in again.get_data(as_text=True)
    assert staff_client.post("/staff/jobs/999999/retry").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/staff/contracts"),
        ("get", "/staff/contracts/1"),
        ("post", "/staff/contracts/1/courses"),
        ("post", "/staff/contracts/1/programs"),
        ("post", "/staff/contracts/1/runs"),
        ("get", "/staff/contracts/1/runs/1/remove"),
        ("post", "/staff/contracts/1/runs/1/remove"),
        ("get", "/staff/contracts/1/programs/1/remove"),
        ("post", "/staff/contracts/1/programs/1/remove"),
        ("post", "/staff/jobs/1/retry"),
        ("get", "/staff/jobs/1.json"),
    ],
)
def test_learners_are_refused(
    client: FlaskClient, login_as: Callable[..., Any], method: str, path: str
) -> None:
    login_as("learner")
    assert getattr(client, method)(path).status_code == 403


def test_failed_jobs_show_a_retry_button_on_the_staff_overview(
    staff_client: FlaskClient, db: Any
) -> None:
    failed = BackgroundJobFactory(
        kind="openedx.enroll",
        state=JobState.FAILED,
        attempts=5,
        last_error="edX refused to enroll: HTTP 400 mode expired",
    )
    db.session.commit()
    page = staff_client.get("/staff/").get_data(as_text=True)
    assert "HTTP 400 mode expired" in page
    assert f"/staff/jobs/{failed.id}/retry" in page
