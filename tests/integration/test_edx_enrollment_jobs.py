"""Enrolling learners in edX through background jobs (b2b-rules 8, openedx.md 8.4): the
``openedx.enroll`` and ``openedx.unenroll`` jobs against the Open edX emulator over real HTTP, run by
a real RQ worker; registration, idempotency, retries, permanent failures and the staff retry."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

import portal.tasks.openedx_enrollments  # noqa: F401 - registers the handlers (harmless once wired)
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.queue import retry_now
from portal.models import (
    RESTRICTION_B2B,
    AuditEvent,
    BackgroundJob,
    Contract,
    Course,
    CourseRun,
    EdxSyncState,
    Enrollment,
    JobState,
    MembershipType,
    User,
    utcnow,
)
from tests.support.emulators import Edx
from tests.support.factories import ContractFactory, OrganizationFactory
from tests.support.live_server import live_server

# The worker process (CI, real Redis) loads the handlers from here too.
JOB_MODULES = "tests.support.jobs,portal.tasks.openedx_enrollments"
WAITING = (JobState.PENDING, JobState.QUEUED)  # queued = scheduled in RQ for run_after


class Emulator:
    """The emulator on a live port, with a hook that runs once just before the next enrollment
    POST reaches it (to make something happen while a job is talking to edX)."""

    def __init__(self) -> None:
        from emulators.openedx import create_app as create_openedx

        self.app = create_openedx({})
        self.before_enrollment_post: list[Callable[[], None]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "").rstrip("/")
        if environ["REQUEST_METHOD"] == "POST" and path == "/api/enrollment/v1/enrollment":
            while self.before_enrollment_post:
                self.before_enrollment_post.pop(0)()
        return self.app(environ, start_response)


@dataclass
class Env:
    app: Flask
    edx: Edx
    jobs: Any
    emulator: Emulator


@pytest.fixture
def emulator() -> Iterator[tuple[Emulator, str]]:
    served = Emulator()
    with live_server(served) as url:
        yield served, url


@pytest.fixture
def make_env(
    emulator: tuple[Emulator, str],
    rq_app_factory: Callable[..., Flask],
    job_runner_for: Callable[..., Any],
) -> Iterator[Callable[..., Env]]:
    """A portal (jobs through RQ) wired to the emulator; ``overrides`` are portal settings."""
    served, url = emulator
    with ExitStack() as stack:

        def make(**overrides: Any) -> Env:
            app = rq_app_factory(
                OPENEDX_LMS_URL=url, OPENEDX_STUDIO_URL=url, JOB_MODULES=JOB_MODULES, **overrides
            )
            stack.enter_context(app.app_context())
            return Env(app, Edx(url), job_runner_for(app), served)

        yield make


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()


# -- data ------------------------------------------------------------------------------------


def contract() -> Contract:
    found = db.session.scalar(select(Contract).where(Contract.slug == "edx-jobs"))
    if found is not None:
        return found
    return ContractFactory(
        organization=OrganizationFactory(name="Acme Corporation", key="ACME"),
        name="Acme Data Academy",
        slug="edx-jobs",
        membership_type=MembershipType.CODE,
        unlimited=True,
    )


def enrollment_in(
    key: str, email: str = "jane.doe@acme.example", *, mode: str = "verified", job: bool = True
) -> Enrollment:
    """A learner enrolled locally in a contract run with this edX key, and its enroll job."""
    c = contract()
    number = key.split("+")[1]
    course = db.session.scalar(select(Course).where(Course.number == number))
    if course is None:
        course = Course(key=f"ACME+{number}", number=number, title=f"Course {number}")
        db.session.add(course)
        db.session.flush()
    run = CourseRun(
        course_id=course.id,
        course_key=key,
        title=f"Run {key}",
        contract_id=c.id,
        restriction_type=RESTRICTION_B2B,
    )
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name="Jane Doe")
    db.session.add_all([run, user])
    db.session.flush()
    enrollment = Enrollment(
        user_id=user.id, course_run_id=run.id, contract_id=c.id, mode=mode, active=True
    )
    db.session.add(enrollment)
    db.session.flush()
    if job:
        enroll_job(enrollment)
    db.session.commit()
    return enrollment


def enroll_job(enrollment: Enrollment, kind: str = "openedx.enroll") -> BackgroundJob:
    return record_job(
        kind,
        {"enrollment_id": enrollment.id},
        object_type="enrollment",
        object_id=enrollment.id,
    )


def jobs_of(enrollment: Enrollment) -> list[BackgroundJob]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(BackgroundJob)
            .where(
                BackgroundJob.object_type == "enrollment",
                BackgroundJob.object_id == str(enrollment.id),
            )
            .order_by(BackgroundJob.id)
        )
    )


def last_job(enrollment: Enrollment) -> BackgroundJob:
    return jobs_of(enrollment)[-1]


def fresh(enrollment: Enrollment) -> Enrollment:
    db.session.expire_all()
    found = db.session.get(Enrollment, enrollment.id)
    assert found is not None
    return found


def synced_events(enrollment: Enrollment) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "enrollment.synced",
                AuditEvent.object_id == str(enrollment.id),
            )
        )
    )


# -- enroll ----------------------------------------------------------------------------------


def test_enroll_registers_the_learner_and_enrolls_verified(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    e = enrollment_in(key)
    assert e.edx_state is EdxSyncState.PENDING

    env.jobs.run()

    job = last_job(e)
    assert job.state is JobState.SUCCEEDED and job.attempts == 1, job.last_error
    e = fresh(e)
    assert e.edx_state is EdxSyncState.SYNCED and e.edx_error is None
    username = e.user.edx_username
    assert username and username.startswith("janedoe_")
    assert [u["email"] for u in env.edx.learners()] == ["jane.doe@acme.example"]
    remote = env.edx.enrollment(username, key)
    assert remote is not None and remote["is_active"] is True and remote["mode"] == "verified"
    [event] = synced_events(e)
    assert event.actor_kind == "job" and event.organization_id == contract().organization_id
    assert event.after == {
        "active": True,
        "course_key": key,
        "edx_username": username,
        "mode": "verified",
        "already_in_edx": False,
    }


def test_running_again_for_an_enrolled_learner_changes_nothing(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    e = enrollment_in(key)
    env.jobs.run()
    username = fresh(e).user.edx_username

    # Any registration or enrollment POST now would fail: the job must make neither.
    env.edx.fault(endpoint="registration", status=500, count=1)
    env.edx.fault(endpoint="enrollment.post", status=500, count=1)
    enroll_job(fresh(e))
    db.session.commit()
    env.jobs.run()

    job = last_job(e)
    assert job.state is JobState.SUCCEEDED and job.attempts == 1, job.last_error
    assert env.edx.faults_left() == 2
    assert len(env.edx.learners()) == 1
    e = fresh(e)
    assert e.edx_state is EdxSyncState.SYNCED and e.user.edx_username == username
    assert synced_events(e)[-1].after["already_in_edx"] is True


def test_a_lost_registration_answer_reuses_the_account(env: Env) -> None:
    """edX registered the learner but the answer was lost: the retry meets "duplicate email",
    looks the account up and uses it, instead of failing or registering twice."""
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    env.edx.fault(endpoint="registration", status=502, count=1, commit=True)
    e = enrollment_in(key)
    env.jobs.run()

    job = last_job(e)
    assert job.state is JobState.SUCCEEDED and job.attempts == 2, job.last_error
    [learner] = env.edx.learners()
    e = fresh(e)
    assert e.user.edx_username == learner["username"]
    assert e.edx_state is EdxSyncState.SYNCED
    assert env.edx.enrollment(learner["username"], key)["is_active"] is True


def test_an_account_made_elsewhere_is_found_by_email(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    env.edx.register("jane_from_edx", "jane.doe@acme.example")
    e = enrollment_in(key)
    env.jobs.run()
    assert last_job(e).state is JobState.SUCCEEDED
    assert fresh(e).user.edx_username == "jane_from_edx"
    assert len(env.edx.learners()) == 1


def test_a_taken_username_is_retried_with_edx_suggestions(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.integrations import openedx
    from portal.integrations.openedx import edx_client

    env.edx.register("jane_taken", "someone.else@example.com")
    monkeypatch.setattr(openedx, "_username_for", lambda email: "jane_taken")
    username = edx_client().register_user("jane@acme.example", "Jane Doe")
    assert username != "jane_taken" and username.startswith("jane_taken")
    assert {u["username"]: u["email"] for u in env.edx.learners()}[username] == "jane@acme.example"


def test_a_5xx_is_retried_then_succeeds(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    env.edx.fault(endpoint="enrollment.post", status=503, count=1)
    e = enrollment_in(key)
    env.jobs.run()
    job = last_job(e)
    assert job.state is JobState.SUCCEEDED and job.attempts == 2, job.last_error
    e = fresh(e)
    assert e.edx_state is EdxSyncState.SYNCED and e.edx_error is None
    assert env.edx.enrollment(e.user.edx_username or "", key)["is_active"] is True


def test_429_shows_retrying_and_waits_for_retry_after(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    env.edx.fault(endpoint="enrollment.post", status=429, count=1, retry_after=5)
    e = enrollment_in(key)
    started = utcnow()
    env.jobs.run()

    job = last_job(e)
    assert job.state in WAITING and job.attempts == 1
    assert job.run_after >= started + dt.timedelta(seconds=5)  # not before edX said
    e = fresh(e)
    assert e.edx_state is EdxSyncState.RETRYING
    assert "HTTP 429" in (e.edx_error or "") and "throttled" in (e.edx_error or "")

    env.jobs.run()
    early = last_job(e)
    assert early.state in WAITING and early.attempts == 1  # too early: not run again

    time.sleep(max(0.0, (job.run_after - utcnow()).total_seconds()) + 0.3)
    env.jobs.run()
    done = last_job(e)
    assert done.state is JobState.SUCCEEDED and done.attempts == 2, done.last_error
    assert fresh(e).edx_state is EdxSyncState.SYNCED


def test_a_fresh_clone_not_yet_enrollable_is_retried(make_env: Callable[..., Env]) -> None:
    """Right after a clone the LMS answers 400 "No course ... found for enrollment" for a while
    (openedx.md 12.4): that is a wait, not a failure, since Studio has the run."""
    env = make_env(JOB_BACKOFF_BASE_SECONDS=1)
    env.edx.fault(endpoint="enrollment.post", unenrollable_after_clone_s=6)
    cloned_at = time.monotonic()
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    e = enrollment_in(key)
    env.jobs.run()

    job = last_job(e)
    assert job.state in WAITING and job.attempts == 1
    e = fresh(e)
    assert e.edx_state is EdxSyncState.RETRYING
    assert f"No course '{key}' found for enrollment" in (e.edx_error or "")

    time.sleep(
        max(
            6.0 - (time.monotonic() - cloned_at),
            (job.run_after - utcnow()).total_seconds(),
        )
        + 0.3
    )
    env.jobs.run()
    done = last_job(e)
    assert done.state is JobState.SUCCEEDED and done.attempts == 2, done.last_error
    assert fresh(e).edx_state is EdxSyncState.SYNCED


def test_a_course_edx_does_not_have_fails_at_once(env: Env) -> None:
    e = enrollment_in("course-v1:ACME+GHOST.1x+1T1C2026")
    env.jobs.run()
    job = last_job(e)
    assert job.state is JobState.FAILED and job.attempts == 1  # permanent: no retries
    e = fresh(e)
    assert e.edx_state is EdxSyncState.FAILED
    assert "No course 'course-v1:ACME+GHOST.1x+1T1C2026' found for enrollment" in (
        e.edx_error or ""
    )
    assert e.edx_error == job.last_error


def test_a_missing_mode_fails_visibly_and_staff_retry_after_the_fix(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026", modes=("audit",))
    e = enrollment_in(key)
    env.jobs.run()

    failed = last_job(e)
    assert failed.state is JobState.FAILED and failed.attempts == 1
    e = fresh(e)
    assert e.edx_state is EdxSyncState.FAILED
    assert (
        f"The [verified] course mode is expired or otherwise unavailable for course run [{key}]"
        in (e.edx_error or "")
    )
    assert "HTTP 400" in (e.edx_error or "")
    username = e.user.edx_username
    assert username  # the account was made and kept

    env.edx.add_mode(key, "verified")  # staff fix the course in edX...
    retry_now(failed)  # ...and press Retry
    db.session.commit()
    env.jobs.run()

    done = last_job(e)
    assert done.id == failed.id and done.state is JobState.SUCCEEDED, done.last_error
    e = fresh(e)
    assert e.edx_state is EdxSyncState.SYNCED and e.edx_error is None
    assert e.user.edx_username == username and len(env.edx.learners()) == 1
    assert env.edx.enrollment(username, key)["mode"] == "verified"


def test_transient_failures_that_outlast_the_attempts_fail_visibly(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    env.edx.fault(endpoint="enrollment.post", status=500, count=10)
    e = enrollment_in(key, job=False)
    enroll_job(e).max_attempts = 2
    db.session.commit()
    env.jobs.run()

    job = last_job(e)
    assert job.state is JobState.FAILED and job.attempts == 2
    e = fresh(e)
    assert e.edx_state is EdxSyncState.FAILED and "HTTP 500" in (e.edx_error or "")


def test_an_enrollment_ended_before_the_job_ran_is_left_alone(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    e = enrollment_in(key)
    e.active = False
    db.session.commit()
    env.jobs.run()
    assert last_job(e).state is JobState.SUCCEEDED
    assert env.edx.learners() == []  # no account made, nothing enrolled
    assert fresh(e).edx_state is EdxSyncState.PENDING  # the unenroll job owns it


def test_bad_payloads_fail_with_a_clear_message(env: Env) -> None:
    bad = record_job("openedx.enroll", {"enrollment_id": "x"}, object_type="enrollment")
    gone = record_job("openedx.unenroll", {"enrollment_id": 424242}, object_type="enrollment")
    db.session.commit()
    env.jobs.run()
    db.session.expire_all()
    assert bad.state is JobState.FAILED and bad.attempts == 1
    assert bad.last_error == "job payload 'enrollment_id' must be int, not str"
    assert gone.state is JobState.FAILED and gone.last_error == "enrollment 424242 no longer exists"


# -- unenroll --------------------------------------------------------------------------------


def unenroll(e: Enrollment) -> None:
    """What the unenroll service does: deactivate locally, record the job."""
    e = fresh(e)
    e.active = False
    e.edx_state = EdxSyncState.PENDING
    enroll_job(e, "openedx.unenroll")
    db.session.commit()


def test_unenroll_deactivates_in_edx(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    e = enrollment_in(key)
    env.jobs.run()
    unenroll(e)
    env.jobs.run()

    job = last_job(e)
    assert job.kind == "openedx.unenroll" and job.state is JobState.SUCCEEDED, job.last_error
    e = fresh(e)
    assert e.edx_state is EdxSyncState.SYNCED and e.edx_error is None
    remote = env.edx.enrollment(e.user.edx_username or "", key)
    assert remote is not None and remote["is_active"] is False
    assert synced_events(e)[-1].after["deactivated_in_edx"] is True

    # Again (a duplicate job): edX is already inactive, nothing is posted.
    env.edx.fault(endpoint="enrollment.post", status=500, count=1)
    enroll_job(e, "openedx.unenroll")
    db.session.commit()
    env.jobs.run()
    assert last_job(e).state is JobState.SUCCEEDED and env.edx.faults_left() == 1


def test_unenroll_without_an_edx_account_or_after_re_enrolling(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    never = enrollment_in(key, job=False)
    unenroll(never)  # never reached edX: the learner has no account there
    env.jobs.run()
    assert last_job(never).state is JobState.SUCCEEDED
    assert fresh(never).edx_state is EdxSyncState.SYNCED and env.edx.learners() == []

    back = fresh(never)
    back.active = True  # enrolled again before the unenroll job ran
    enroll_job(back, "openedx.unenroll")
    db.session.commit()
    env.edx.fault(endpoint="enrollment.post", status=500, count=1)
    env.jobs.run()
    assert last_job(never).state is JobState.SUCCEEDED and env.edx.faults_left() == 1


def test_unenroll_5xx_is_retried(env: Env) -> None:
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    e = enrollment_in(key)
    env.jobs.run()
    unenroll(e)
    env.edx.fault(endpoint="enrollment.post", status=502, count=1)
    env.jobs.run()
    job = last_job(e)
    assert job.state is JobState.SUCCEEDED and job.attempts == 2, job.last_error
    assert env.edx.enrollment(fresh(e).user.edx_username or "", key)["is_active"] is False


def test_unenrolling_while_the_enroll_job_talks_to_edx_ends_unenrolled(env: Env) -> None:
    """The learner unenrolls, and that unenroll job finishes, while the enroll job's POST is on
    its way: edX would be left enrolled. The enroll job sees the change and asks for the
    unenroll job again, so edX ends up matching the portal."""
    key = env.edx.clone("course-v1:ACME+DS.101x+1T1C2026")
    e = enrollment_in(key)
    enrollment_id = e.id

    def learner_unenrolls_and_that_job_finishes() -> None:
        with env.app.app_context():
            row = db.session.get(Enrollment, enrollment_id)
            assert row is not None
            row.active = False
            row.edx_state = EdxSyncState.SYNCED  # edX had nothing active yet
            db.session.commit()

    env.emulator.before_enrollment_post.append(learner_unenrolls_and_that_job_finishes)
    env.jobs.run()

    kinds = [(j.kind, j.state) for j in jobs_of(e)]
    assert kinds == [
        ("openedx.enroll", JobState.SUCCEEDED),
        ("openedx.unenroll", JobState.SUCCEEDED),
    ]
    e = fresh(e)
    assert e.active is False and e.edx_state is EdxSyncState.SYNCED
    assert env.edx.enrollment(e.user.edx_username or "", key)["is_active"] is False
