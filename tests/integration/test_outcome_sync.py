"""The outcome sync (grades, progress, certificates) of a contract run: the ``openedx.sync_outcomes``
job against the Open edX emulator over real HTTP, run by a real RQ worker; mixed outcomes, a 5xx
and a 429 on the way, an edX learner the portal does not know, a rerun that changes nothing, the
scheduler recording each run once, and the pages showing what was synced."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.jobs import JobKind
from portal.models import (
    BackgroundJob,
    EdxSyncState,
    JobState,
    LearningOutcome,
    MembershipType,
    OutcomeSync,
    User,
    utcnow,
)
from portal.services.outcome_sync import request_outcome_sync, schedule_outcome_syncs
from tests.integration.test_contract_edits import add_course, cookie
from tests.support.factories import EnrollmentFactory, OrganizationFactory, UserFactory
from tests.support.live_server import live_server
from tests.support.world import World

SYNC = str(JobKind.OPENEDX_SYNC_OUTCOMES)


@pytest.fixture
def env(make_user: Callable[..., Any], edx: Any) -> Iterator[Any]:
    """A contract run ready in edX with three portal learners enrolled in it there (Ada passed
    with a certificate, Ben is half-way, Cy has not started) and one edX learner the portal
    does not know; the portal on a live server."""
    e = edx
    e.world = World(db)
    now = utcnow()
    e.org = OrganizationFactory(name="Outcome Org", key="OUTC")
    e.contract = e.world.contract(
        "Outcomes",
        e.org,
        MembershipType.CODE,
        seat_limit=20,
        start_at=now - dt.timedelta(days=30),
        end_at=now + dt.timedelta(days=30),
        price_per_learner=None,
    )
    db.session.commit()
    e.run = add_course(e, "DS.101x")
    key = e.run.course_key
    e.edx.control("bulk_learners", {"prefix": "learner", "count": 4, "course_id": key})
    e.users = {}
    for n, name in enumerate(("ada", "ben", "cy")):
        user = UserFactory(email=f"{name}@outc.example", name=name.title())
        user.edx_username = f"learner{n}"
        e.world.seat_user(e.contract, user, enroll=False)
        EnrollmentFactory(user=user, course_run=e.run, edx_state=EdxSyncState.SYNCED)
        e.users[name] = user
    db.session.commit()  # learner3 is in edX only
    e.edx.control(
        "grades",
        [
            {"username": "learner0", "course_id": key, "percent": 0.91, "letter_grade": "A"},
            {"username": "learner1", "course_id": key, "percent": 0.42, "passed": False},
            {"username": "learner3", "course_id": key, "percent": 0.7, "letter_grade": "B"},
        ],
    )
    e.edx.control(
        "progress",
        [
            {"username": "learner0", "course_id": key, "percent": 1.0},
            {"username": "learner1", "course_id": key, "percent": 0.5},
        ],
    )
    e.edx.control(
        "certificates",
        {"username": "learner0", "course_id": key, "grade": "0.91", "certificate_type": "verified"},
    )
    e.staff = make_user(is_staff=True)
    db.session.commit()
    e.serializer = e.app.session_interface.get_signing_serializer(e.app)
    with live_server(e.app) as portal:
        e.portal = portal
        yield e


def outcomes(e: Any) -> dict[str, LearningOutcome]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(LearningOutcome).where(LearningOutcome.course_run_id == e.run.id)
    ).all()
    names = {u.id: name for name, u in e.users.items()}
    return {names[r.user_id]: r for r in rows}


def sync(e: Any) -> BackgroundJob:
    job = request_outcome_sync(e.run)
    db.session.commit()
    e.jobs.run()
    db.session.expire_all()
    found = db.session.get(BackgroundJob, job.id)
    assert found is not None
    return found


def sync_row(e: Any) -> OutcomeSync:
    db.session.expire_all()
    row = db.session.get(OutcomeSync, e.run.id)
    assert row is not None
    return row


def test_a_run_with_mixed_outcomes_is_synced_and_shown(env: Any) -> None:
    job = sync(env)
    assert job.state is JobState.SUCCEEDED, job.last_error

    found = outcomes(env)
    assert set(found) == {"ada", "ben", "cy"}
    ada, ben, cy = found["ada"], found["ben"], found["cy"]
    assert (ada.percent, ada.letter_grade, ada.passed, ada.progress) == (0.91, "A", True, 1.0)
    assert ada.status == "passed" and ada.has_certificate
    assert ada.certificate_url and ada.certificate_url.startswith(env.edx.url + "/certificates/")
    assert ada.completed_at is not None
    assert (ben.percent, ben.passed, ben.progress, ben.status) == (0.42, False, 0.5, "in_progress")
    assert ben.certificate_status is None
    # Cy is enrolled without a grade: edX answers a zero grade, so Cy has not started.
    assert (cy.percent, cy.passed, cy.status) == (0.0, False, "not_started")

    row = sync_row(env)
    assert row.state == "succeeded" and row.last_success_at is not None
    assert row.counts["grades"] == 4 and row.counts["unknown"] == 1  # learner3: edX only
    assert row.counts["progress"] == 4 and row.counts["certificates_checked"] == 1
    assert row.totals == {
        "learners": 3,
        "started": 2,
        "passed": 1,
        "certificates": 1,
        "progress_sum": 1.5,
    }
    assert (
        db.session.scalar(select(func.count(User.id)).where(User.edx_username == "learner3")) == 0
    )

    # The certificate link works: it is the emulator's certificate page.
    page = requests.get(ada.certificate_url, timeout=10)
    assert page.status_code == 200 and "Certificate of achievement" in page.text

    # The learner's dashboard shows it, and the org admin's pages and CSV carry the outcome.
    dashboard = requests.get(
        f"{env.portal}/learner/", cookies=cookie(env, env.users["ada"]), timeout=30
    ).text
    assert ada.certificate_url in dashboard and "View certificate" in dashboard
    assert "Grade 91% (A), passed" in dashboard
    staff = requests.get(
        f"{env.portal}/staff/contracts/{env.contract.id}",
        cookies=cookie(env, env.staff),
        timeout=30,
    ).text
    assert "1 not in the portal" in staff and "succeeded" in staff
    learners = requests.get(
        f"{env.portal}/org/OUTC/learners?outcome=passed",
        cookies=cookie(env, env.staff),
        timeout=30,
    ).text
    assert 'data-total="1"' in learners and "ada@outc.example" in learners
    csv = requests.get(
        f"{env.portal}/org/OUTC/learners.csv?sort=-progress",
        cookies=cookie(env, env.staff),
        timeout=30,
    ).text.splitlines()
    assert [line.split(",")[1] for line in csv[1:]] == [
        "ada@outc.example",
        "ben@outc.example",
        "cy@outc.example",
    ]
    assert csv[1].endswith("Passed,100,91,1")


def test_a_rerun_changes_nothing(env: Any) -> None:
    assert sync(env).state is JobState.SUCCEEDED
    before = {name: (o.changed_at, o.percent) for name, o in outcomes(env).items()}
    assert sync(env).state is JobState.SUCCEEDED
    assert {name: (o.changed_at, o.percent) for name, o in outcomes(env).items()} == before
    row = sync_row(env)
    assert row.counts["updated"] == 0 and row.counts["grades"] == 4
    assert db.session.scalar(select(func.count(LearningOutcome.id))) == 3

    # A grade that changes in edX is the only row written by the next sync.
    env.edx.control(
        "grades",
        {"username": "learner1", "course_id": env.run.course_key, "percent": 0.8, "passed": True},
    )
    assert sync(env).state is JobState.SUCCEEDED
    assert sync_row(env).counts["updated"] == 1
    after = outcomes(env)
    assert after["ben"].passed and after["ben"].completed_at is not None
    assert after["ada"].changed_at == before["ada"][0]


def test_a_5xx_is_retried_then_succeeds(env: Any) -> None:
    env.edx.fault(endpoint="grades.course", status=503, count=1)
    job = sync(env)
    assert job.state is JobState.SUCCEEDED and job.attempts == 2, job.last_error
    assert outcomes(env)["ada"].passed


def test_a_429_waits_for_retry_after(env: Any) -> None:
    env.edx.fault(endpoint="certificates.get", status=429, count=1, retry_after=3)
    started = utcnow()
    job = sync(env)
    assert job.state in (JobState.PENDING, JobState.QUEUED) and job.attempts == 1
    assert job.run_after >= started + dt.timedelta(seconds=3)
    row = sync_row(env)
    assert row.state == "queued" and "HTTP 429" in (row.last_error or "")
    # Grades written before the 429 stay; nothing half-done is wrong, and the retry completes.
    assert outcomes(env)["ada"].passed and not outcomes(env)["ada"].has_certificate

    time.sleep(max(0.0, (job.run_after - utcnow()).total_seconds()) + 0.3)
    env.jobs.run()
    db.session.expire_all()
    done = db.session.get(BackgroundJob, job.id)
    assert done is not None and done.state is JobState.SUCCEEDED and done.attempts == 2
    assert outcomes(env)["ada"].has_certificate and sync_row(env).state == "succeeded"


def test_an_edx_without_the_completion_aggregator_syncs_grades_without_progress(env: Any) -> None:
    env.edx.features(completion_aggregator=False)
    assert sync(env).state is JobState.SUCCEEDED
    assert sync_row(env).counts["progress"] is None
    found = outcomes(env)
    assert found["ada"].passed and found["ada"].progress is None
    staff = requests.get(
        f"{env.portal}/staff/contracts/{env.contract.id}",
        cookies=cookie(env, env.staff),
        timeout=30,
    ).text
    assert "no progress offered" in staff


def test_a_permanent_failure_is_visible_to_staff(env: Any) -> None:
    env.edx.fault(endpoint="grades.course", status=500, count=20)
    job = request_outcome_sync(env.run)
    job.max_attempts = 2
    db.session.commit()
    env.jobs.run()
    db.session.expire_all()
    assert db.session.get(BackgroundJob, job.id).state is JobState.FAILED  # type: ignore[union-attr]
    row = sync_row(env)
    assert row.state == "failed" and "HTTP 500" in (row.last_error or "")


def test_the_schedule_records_each_run_once_and_staff_can_sync_now(env: Any) -> None:
    first = schedule_outcome_syncs()
    db.session.commit()
    assert [j.object_id for j in first] == [str(env.run.id)]
    # A second scheduler (another worker) in the same period records nothing more.
    assert schedule_outcome_syncs() == []
    db.session.commit()
    env.jobs.run()
    assert sync_row(env).state == "succeeded"
    assert schedule_outcome_syncs() == []  # within the hour
    later = utcnow() + dt.timedelta(hours=1, minutes=1)
    assert [j.object_id for j in schedule_outcome_syncs(later)] == [str(env.run.id)]
    db.session.commit()

    # Staff's button is refused while that one is waiting, and audited when it is accepted.
    form = {"csrf_token": ""}
    path = f"/staff/contracts/{env.contract.id}/runs/{env.run.id}/outcomes/sync"
    session = requests.Session()
    session.cookies.update(cookie(env, env.staff))
    page = session.get(f"{env.portal}/staff/contracts/{env.contract.id}", timeout=30).text
    form["csrf_token"] = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = session.post(f"{env.portal}{path}", data=form, allow_redirects=False, timeout=30)
    assert refused.status_code == 302
    shown = requests.get(  # the flash travels in the session cookie the refusal set
        env.portal + refused.headers["Location"],
        cookies={"session": refused.cookies["session"]},
        timeout=30,
    ).text
    assert "already being synced" in shown
    env.jobs.run()
    accepted = session.post(f"{env.portal}{path}", data=form, allow_redirects=False, timeout=30)
    assert accepted.status_code == 302
    kinds = db.session.scalars(
        select(BackgroundJob.kind).where(BackgroundJob.object_id == str(env.run.id))
    ).all()
    assert kinds.count(SYNC) == 3
