"""Background jobs: recorded with the change, sent after commit, never lost, run once in effect.

Each job test runs through a real RQ worker: a separate ``flask --app portal worker --burst`` process
against the Redis under test in CI, an in-process RQ worker over fakeredis elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import func, select

from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.queue import redis_connection, retry_now
from portal.jobs.runner import backoff_seconds, execute
from portal.jobs.sweeper import sweep
from portal.models import AuditEvent, BackgroundJob, JobState, utcnow


def job_state(job_id: int) -> BackgroundJob:
    db.session.expire_all()
    job = db.session.get(BackgroundJob, job_id)
    assert job is not None
    return job


def audit_count(action: str) -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action))


def queued_in_redis(app: Flask) -> int:
    return Queue(app.config["PORTAL"].job_queue, connection=redis_connection()).count


def test_job_is_queued_only_after_commit_and_a_worker_runs_it(rq_app: Flask, jobs: Any) -> None:
    job = record_job("system.ping", {"message": "hello"})
    assert queued_in_redis(rq_app) == 0  # not before commit
    db.session.commit()
    assert job_state(job.id).state is JobState.QUEUED
    assert queued_in_redis(rq_app) == 1

    jobs.run()

    done = job_state(job.id)
    assert done.state is JobState.SUCCEEDED, done.last_error
    assert done.attempts == 1 and done.finished_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "job.ping"))
    assert event is not None and event.after == {"message": "hello"}


def test_a_rolled_back_change_leaves_no_job(rq_app: Flask) -> None:
    record_job("system.ping")
    db.session.rollback()
    assert db.session.scalar(select(func.count(BackgroundJob.id))) == 0
    assert queued_in_redis(rq_app) == 0


def test_redis_down_at_commit_loses_nothing(
    app_factory: Callable[..., Flask], jobs: Any, rq_app: Flask
) -> None:
    """Redis unreachable when the change commits: the change and its job row are kept, the page
    still works, and once Redis is back the sweeper sends the job and a worker runs it."""
    outage = app_factory(
        JOB_RUNNER="rq",
        REDIS_URL="redis://127.0.0.1:1/0",
        JOB_QUEUE=rq_app.config["PORTAL"].job_queue,
    )
    with outage.app_context():
        job = record_job("system.ping", {"message": "during the outage"})
        db.session.commit()  # must not raise
        job_id = job.id
        assert job_state(job_id).state is JobState.PENDING
        health = outage.test_client().get("/healthz")
        assert health.status_code == 503
        assert health.get_json()["checks"]["redis"].startswith("error")
        assert health.get_json()["checks"]["database"] == "ok"

    # Redis is back (the rq_app points at the working Redis): the sweeper finds the row.
    assert job_state(job_id).state is JobState.PENDING
    assert sweep() == [job_id]
    assert job_state(job_id).state is JobState.QUEUED
    jobs.run()
    assert job_state(job_id).state is JobState.SUCCEEDED
    assert audit_count("job.ping") == 1


def test_transient_failures_are_retried_then_succeed(rq_app: Flask, jobs: Any) -> None:
    job = record_job("test.flaky", {"fail_times": 2})
    db.session.commit()
    jobs.run()
    done = job_state(job.id)
    assert done.state is JobState.SUCCEEDED, done.last_error
    assert done.attempts == 3
    assert audit_count("test.flaky_done") == 1


def test_transient_failures_give_up_after_max_attempts(rq_app: Flask, jobs: Any) -> None:
    job = record_job("test.flaky", {"fail_times": 10}, max_attempts=3)
    db.session.commit()
    jobs.run()
    failed = job_state(job.id)
    assert failed.state is JobState.FAILED
    assert failed.attempts == 3
    assert "simulated outage on attempt 3" in (failed.last_error or "")
    assert audit_count("test.flaky_done") == 0


def test_permanent_failure_is_visible_and_rolls_back_half_writes(rq_app: Flask, jobs: Any) -> None:
    job = record_job("test.broken")
    db.session.commit()
    jobs.run()
    failed = job_state(job.id)
    assert failed.state is JobState.FAILED
    assert failed.attempts == 1
    assert failed.last_error == "the service said no (HTTP 400)"
    assert audit_count("test.half_written") == 0


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("no.such.kind", {}, "unknown job kind 'no.such.kind'"),
        ("test.flaky", {}, "job payload is missing 'fail_times'"),
        ("test.flaky", {"fail_times": "two"}, "job payload 'fail_times' must be int, not str"),
        ("test.flaky", {"fail_times": True}, "must be an integer"),
    ],
)
def test_bad_job_payloads_fail_with_a_clear_message(
    rq_app: Flask, jobs: Any, kind: str, payload: dict[str, Any], message: str
) -> None:
    job = record_job(kind, payload)
    db.session.commit()
    jobs.run()
    failed = job_state(job.id)
    assert failed.state is JobState.FAILED
    assert message in (failed.last_error or "")


def test_staff_retry_runs_a_failed_job_again(rq_app: Flask, jobs: Any) -> None:
    job = record_job("test.flaky", {"fail_times": 1}, max_attempts=1)
    db.session.commit()
    jobs.run()
    assert job_state(job.id).state is JobState.FAILED
    retry_now(job_state(job.id))
    db.session.commit()
    jobs.run()
    # The retry gets a fresh attempt counter, so its single attempt fails the same way again ...
    again = job_state(job.id)
    assert again.state is JobState.FAILED and again.attempts == 1
    # ... until the cause is fixed (here: the payload), and then the retry succeeds.
    again.payload = {"fail_times": 0}
    retry_now(again)
    db.session.commit()
    jobs.run()
    assert job_state(job.id).state is JobState.SUCCEEDED


def test_a_job_delivered_twice_runs_once(app: Flask) -> None:
    job = record_job("system.ping")
    db.session.commit()  # inline app: already ran once
    assert job_state(job.id).state is JobState.SUCCEEDED
    assert execute(job.id) == "skipped"
    assert audit_count("job.ping") == 1


def test_a_job_waiting_for_its_retry_does_not_run_early(app: Flask) -> None:
    job = record_job("test.flaky", {"fail_times": 0})
    job.run_after = utcnow() + dt.timedelta(hours=1)
    db.session.info.pop("portal_jobs_to_dispatch", None)
    db.session.commit()
    assert execute(job.id) == "skipped"
    assert job_state(job.id).state is JobState.PENDING


def test_a_job_whose_worker_died_is_swept_and_finishes(rq_app: Flask, jobs: Any) -> None:
    job = record_job("system.ping")
    db.session.commit()
    # Simulate a worker killed mid-job: the row says running, started long ago, nothing in Redis.
    Queue(rq_app.config["PORTAL"].job_queue, connection=redis_connection()).empty()
    stuck = job_state(job.id)
    stuck.state = JobState.RUNNING
    stuck.attempts = 1
    stuck.started_at = stuck.updated_at = utcnow() - dt.timedelta(hours=1)
    db.session.commit()

    assert sweep() == [job.id]
    jobs.run()
    done = job_state(job.id)
    assert done.state is JobState.SUCCEEDED
    assert done.attempts == 2
    assert audit_count("job.ping") == 1


def test_a_queued_job_redis_lost_is_resent(rq_app: Flask, jobs: Any) -> None:
    job = record_job("system.ping")
    db.session.commit()
    Queue(rq_app.config["PORTAL"].job_queue, connection=redis_connection()).empty()  # Redis lost it
    assert sweep() == []  # too recent to call lost
    lost = job_state(job.id)
    lost.enqueued_at = lost.run_after = utcnow() - dt.timedelta(hours=1)
    db.session.commit()
    assert sweep() == [job.id]
    jobs.run()
    assert job_state(job.id).state is JobState.SUCCEEDED


def test_backoff_grows_and_honours_retry_after() -> None:
    assert 1.6 <= backoff_seconds(1) <= 2.4
    assert 6.4 <= backoff_seconds(3) <= 9.6
    assert backoff_seconds(30) <= 300 * 1.2
    assert backoff_seconds(1, retry_after=42) >= 42


def test_inline_mode_runs_the_job_right_after_commit(app: Flask) -> None:
    job = record_job("system.ping", {"message": "inline"})
    assert audit_count("job.ping") == 0
    db.session.commit()
    assert job_state(job.id).state is JobState.SUCCEEDED
    assert audit_count("job.ping") == 1
