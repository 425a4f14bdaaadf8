"""Contract course runs: key minting, the clone job against the Open edX emulator through a real RQ
worker, its retries and resumption, programs, and removal."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import (
    BackgroundJob,
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    EdxRunState,
    Enrollment,
    JobState,
    User,
    utcnow,
)
from portal.services import contract_runs
from tests.conftest import USES_POSTGRES
from tests.support.factories import (
    CourseFactory,
    CourseRunFactory,
    ProgramCourseFactory,
    ProgramFactory,
)
from tests.support.live_server import live_server
from tests.support.rows import one


def contract(slug: str) -> Contract:
    return one(Contract, slug=slug)


def course(number: str) -> Course:
    return one(Course, number=number)


def job_for(run: CourseRun) -> BackgroundJob:
    db.session.expire_all()
    job = db.session.scalar(
        select(BackgroundJob).where(
            BackgroundJob.object_type == "course_run", BackgroundJob.object_id == str(run.id)
        )
    )
    assert job is not None
    return job


def add(env: Any, slug: str, number: str) -> CourseRun:
    run = contract_runs.add_course(contract(slug).id, course(number).id)
    db.session.commit()
    return run


def test_adding_a_course_mints_the_key_and_the_job_makes_the_run_in_edx(edx: Any) -> None:
    c = contract("globex-open-seats")
    run = add(edx, "globex-open-seats", "DS.101x")
    year = c.start_at.year
    assert run.course_key == f"course-v1:GLOBEX+DS.101x+1T{c.id}C{year}"
    assert run.restriction_type == "custom-b2b-enterprise" and run.pacing.value == "self_paced"
    assert run.start_at == c.start_at and run.end_at == c.end_at
    assert run.edx_state is EdxRunState.PENDING
    assert edx.edx.run(run.course_key) is None  # nothing in edX before the worker runs

    edx.jobs.run()

    job = job_for(run)
    assert job.state is JobState.SUCCEEDED, job.last_error
    db.session.refresh(run)
    assert run.edx_state is EdxRunState.READY
    remote = edx.edx.run(run.course_key)
    assert remote is not None and remote["title"] == "Foundations of Data Science"
    assert remote["pacing_type"] == "self_paced"
    assert remote["schedule"]["start"].startswith(c.start_at.strftime("%Y-%m-%dT%H:%M"))
    assert edx.edx.modes(run.course_key) == {"audit", "verified"}

    second = add(edx, "globex-open-seats", "DS.101x")  # a second cohort of the same course
    assert second.course_key == f"course-v1:GLOBEX+DS.101x+2T{c.id}C{year}"


def test_transient_5xx_then_success(edx: Any) -> None:
    edx.edx.fault(endpoint="course_runs.clone", status=503, count=2)
    run = add(edx, "globex-open-seats", "PY.110x")
    edx.jobs.run()
    job = job_for(run)
    assert job.state is JobState.SUCCEEDED, job.last_error
    assert job.attempts == 3
    assert edx.edx.run(run.course_key) is not None


def test_429_honours_retry_after(edx: Any) -> None:
    edx.edx.fault(endpoint="course_runs.clone", status=429, count=1, retry_after=5)
    run = add(edx, "globex-open-seats", "ETH.150x")
    started = utcnow()
    edx.jobs.run()
    job = job_for(run)
    waiting = (JobState.PENDING, JobState.QUEUED)  # queued = scheduled in RQ for run_after
    assert job.state in waiting and job.attempts == 1
    assert "429" in (job.last_error or "")
    assert job.run_after >= started + dt.timedelta(seconds=5)  # not before edX said
    edx.jobs.run()
    early = job_for(run)
    assert early.state in waiting and early.attempts == 1  # still too early: not run again
    time.sleep(max(0.0, (job.run_after - utcnow()).total_seconds()) + 0.3)
    edx.jobs.run()
    done = job_for(run)
    assert done.state is JobState.SUCCEEDED, done.last_error
    assert done.attempts == 2


def test_clone_succeeded_but_update_failed_then_retry_completes(edx: Any) -> None:
    """The reference system's flaw: after a successful clone a later failure strands the run,
    because every retry stops at 'destination exists'. Here the retry continues."""
    edx.edx.fault(endpoint="course_runs.update", status=500, count=10)
    run = contract_runs.add_course(contract("acme-leadership").id, course("LEAD.201x").id)
    db.session.commit()
    job = db.session.scalar(select(BackgroundJob).where(BackgroundJob.object_id == str(run.id)))
    job.max_attempts = 2
    db.session.commit()
    edx.jobs.run()
    failed = job_for(run)
    assert failed.state is JobState.FAILED and failed.attempts == 2
    assert "500" in (failed.last_error or "")
    db.session.refresh(run)
    assert run.edx_state is EdxRunState.FAILED and run.edx_error
    assert edx.edx.run(run.course_key) is not None  # the clone itself happened

    requests.delete(f"{edx.edx.url}/__emulator__/faults", timeout=10)
    from portal.jobs.queue import retry_now

    retry_now(failed)  # the staff retry button
    db.session.commit()
    edx.jobs.run()
    done = job_for(run)
    assert done.state is JobState.SUCCEEDED, done.last_error
    db.session.refresh(run)
    assert run.edx_state is EdxRunState.READY and run.edx_error is None
    assert edx.edx.modes(run.course_key) == {"audit", "verified"}


def test_lost_clone_response_is_progress(edx: Any) -> None:
    """edX cloned but the answer was lost (a 502 after the work): the job looks, finds the run,
    and carries on instead of failing on 'Destination course already exists.'."""
    edx.edx.fault(endpoint="course_runs.clone", status=502, count=1, commit=True)
    run = add(edx, "globex-open-seats", "DS.101x")
    edx.jobs.run()
    job = job_for(run)
    assert job.state is JobState.SUCCEEDED, job.last_error
    assert job.attempts == 1


def test_missing_source_run_fails_with_a_clear_message(edx: Any) -> None:
    lost = CourseFactory(key="B2B_SOURCE+GONE.1x", number="GONE.1x", title="Gone Course")
    CourseRunFactory(
        course=lost,
        course_key="course-v1:B2B_SOURCE+GONE.1x+SOURCE",
        title="Gone",
        is_source_run=True,
    )
    db.session.commit()
    run = contract_runs.add_course(contract("globex-open-seats").id, lost.id)
    db.session.commit()
    edx.jobs.run()
    job = job_for(run)
    assert job.state is JobState.FAILED and job.attempts == 1  # permanent: no retries
    assert "source run course-v1:B2B_SOURCE+GONE.1x+SOURCE is missing in edX" in job.last_error
    db.session.refresh(run)
    assert run.edx_state is EdxRunState.FAILED


def test_course_without_source_run_is_refused_up_front(edx: Any) -> None:
    bare = CourseFactory(key="OpenU+NOSRC.1x", number="NOSRC.1x", title="No Source")
    db.session.commit()
    with pytest.raises(DomainError, match="has no source run"):
        contract_runs.add_course(contract("globex-open-seats").id, bare.id)
    db.session.rollback()
    assert db.session.scalar(select(CourseRun).where(CourseRun.course_id == bare.id)) is None


def test_program_with_a_course_lacking_a_source_run(edx: Any) -> None:
    bare = CourseFactory(key="OpenU+NOSRC.2x", number="NOSRC.2x", title="Capstone Without Source")
    program = ProgramFactory(key="program-v1:TEST+MIX", title="Mixed Program")
    for i, c in enumerate([course("DS.101x"), bare, course("PY.110x")]):
        ProgramCourseFactory(program=program, course=c, position=i)
    db.session.commit()
    result = contract_runs.add_program(contract("globex-certificate").id, program.id)
    db.session.commit()
    assert [r.course.number for r in result.runs] == ["DS.101x", "PY.110x"]
    assert [c.title for c in result.without_source] == ["Capstone Without Source"]
    link = db.session.scalar(
        select(ContractProgram).where(ContractProgram.program_id == program.id)
    )
    assert link is not None
    edx.jobs.run()
    for run in result.runs:
        assert job_for(run).state is JobState.SUCCEEDED
    with pytest.raises(DomainError, match="already on this contract"):
        contract_runs.add_program(contract("globex-certificate").id, program.id)
    db.session.rollback()


def test_removal_closes_runs_with_enrollments_and_detaches_empty_ones(edx: Any) -> None:
    c = contract("globex-open-seats")
    busy = add(edx, "globex-open-seats", "DS.101x")
    empty = add(edx, "globex-open-seats", "PY.110x")
    learner = User(email="someone@globex.example")
    db.session.add(learner)
    db.session.flush()
    db.session.add(Enrollment(user_id=learner.id, course_run_id=busy.id, contract_id=c.id))
    db.session.commit()

    impact = contract_runs.run_removal_impact(c, busy.id)
    assert impact.enrollments == 1 and "close enrollment" in impact.action
    contract_runs.remove_run(c.id, busy.id)
    contract_runs.remove_run(c.id, empty.id)
    db.session.commit()
    db.session.refresh(busy)
    db.session.refresh(empty)
    assert busy.contract_id == c.id and busy.enrollment_end is not None
    assert busy.enrollment_end <= utcnow()
    assert empty.contract_id is None


def test_parallel_requests_never_mint_the_same_key(
    edx: Any, login_as: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    """Eight staff requests add the same course to one contract at the same moment, over real HTTP.
    On PostgreSQL the contract row lock serializes them: eight runs, eight distinct keys."""
    staff = make_user(is_staff=True)
    c = contract("globex-open-seats")
    ds = course("DS.101x")
    cookie = edx.app.session_interface.get_signing_serializer(edx.app).dumps(
        {"_user_id": str(staff.id), "_fresh": True}
    )
    db.session.commit()
    contract_id, course_id = c.id, ds.id
    statuses: list[int] = []
    with live_server(edx.app) as portal:
        barrier = threading.Barrier(8)

        def post() -> None:
            barrier.wait()
            r = requests.post(
                f"{portal}/staff/contracts/{contract_id}/courses",
                data={"course_id": course_id},
                cookies={"session": cookie},
                allow_redirects=False,
                timeout=30,
            )
            statuses.append(r.status_code)

        threads = [threading.Thread(target=post) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses == [302] * 8  # every request answered, none with a 500
    db.session.expire_all()
    keys = db.session.scalars(
        select(CourseRun.course_key).where(
            CourseRun.contract_id == contract_id, CourseRun.course_id == course_id
        )
    ).all()
    assert len(keys) == len(set(keys))
    if USES_POSTGRES:
        assert len(keys) == 8
        assert {k.split("+")[-1].split("T")[0] for k in keys} == {str(n) for n in range(1, 9)}


def test_demo_seed_makes_ready_contract_runs(app_factory: Callable[..., Flask]) -> None:
    """What `python3 dev.py demo` shows: seeded contracts whose runs are ready in edX (jobs run
    in-process right after commit, as in demo mode)."""
    from emulators.openedx import create_app as create_openedx

    with live_server(create_openedx({})) as url:
        app = app_factory(OPENEDX_LMS_URL=url, OPENEDX_STUDIO_URL=url)
        with app.app_context():
            result = app.test_cli_runner().invoke(args=["seed-demo"])
            assert result.exit_code == 0, result.output
            runs = db.session.scalars(
                select(CourseRun).where(CourseRun.contract_id.is_not(None))
            ).all()
            assert len(runs) == 7  # program (3) + leadership (1) + open seats (2) + certificate (1)
            assert {r.edx_state for r in runs} == {EdxRunState.READY}
            assert all(r.restriction_type == "custom-b2b-enterprise" for r in runs)
            again = app.test_cli_runner().invoke(args=["seed-demo"])
            assert "nothing created" in again.output
            assert (
                len(
                    db.session.scalars(
                        select(CourseRun).where(CourseRun.contract_id.is_not(None))
                    ).all()
                )
                == 7
            )
