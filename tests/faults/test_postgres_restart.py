"""PostgreSQL restarting under a running portal: every connection is dropped while requests and jobs
run (``pg_terminate_backend`` from a separate connection, on the portal's own connections only).

What must hold: requests after the drop succeed (the pool pings before use); a request whose
transaction was cut either fully happened or not at all, and its learner sees the portal's error
page, not a stack trace; a worker keeps working, and a job cut mid-transaction is retried and takes
effect once. SQLite has no server connections to drop, so these run on PostgreSQL only.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.jobs import record_job
from portal.models import BackgroundJob, JobState
from tests.faults.conftest import (
    ENROLLED,
    ConnectionCutter,
    LivePortal,
    WorkerProcess,
    assert_clear_error_page,
    audit_count,
    build_world,
    commit_for_worker,
    ledger,
    tagged_url,
)
from tests.support.live_server import live_server
from tests.support.sessions import session_cookie
from tests.support.waiting import wait_for
from tests.support.world import ACME_KEYCLOAK_ID


@pytest.fixture
def portal(
    postgres_only: None, rq_app_factory: Callable[..., Flask], database_url: str
) -> Iterator[LivePortal]:
    """The portal on a live port, its connections tagged so the test can drop exactly those. Jobs
    are queued in Redis and not run here: these tests are about the database."""
    tag = f"portal-faults-{uuid.uuid4().hex[:8]}"
    app = rq_app_factory(
        DATABASE_URL=tagged_url(database_url, tag),
        PROPAGATE_EXCEPTIONS=False,  # the error pages production shows, not the test client's raise
        REDEEM_RATE_LIMIT="1000 per minute",
    )
    with live_server(app) as url, app.app_context():
        yield LivePortal(app, url, database_url, tag)


def post(portal: LivePortal, path: str, user_id: int, **data: str) -> requests.Response:
    return requests.post(
        f"{portal.url}{path}",
        data=data,
        cookies=session_cookie(portal.app, user_id),
        allow_redirects=False,
        timeout=30,
    )


def get(portal: LivePortal, path: str, user_id: int | None = None) -> requests.Response:
    cookies = session_cookie(portal.app, user_id) if user_id is not None else None
    return requests.get(f"{portal.url}{path}", cookies=cookies, timeout=30)


def test_requests_after_every_connection_is_dropped_succeed(portal: LivePortal) -> None:
    """Proves the portal rides out a database restart between requests: pooled connections that
    died are noticed before use and replaced, so the next pages, a redemption and an enrollment
    all succeed, and each is recorded exactly once."""
    world = build_world(learners=3)
    warm = [
        threading.Thread(target=get, args=(portal, "/learner/", uid)) for uid in world.learner_ids
    ]
    for thread in warm:  # requests at once leave connections in the pool
        thread.start()
    for thread in warm:
        thread.join()
    assert portal.drop_connections() >= 1

    learner = world.learner_ids[0]
    assert get(portal, "/learner/", learner).status_code == 200
    assert get(portal, "/catalog/").status_code == 200
    health = get(portal, "/healthz")
    assert health.status_code == 200 and health.json()["checks"]["database"] == "ok"
    redeemed = post(portal, "/learner/redeem", learner, code=world.codes[0])
    assert redeemed.status_code == 302, redeemed.text[:500]

    assert portal.drop_connections() >= 1
    enrolled = post(portal, f"/learner/runs/{world.run_id}/enroll", learner)
    assert enrolled.status_code == 302, enrolled.text[:500]
    assert "/learner/" in enrolled.headers["Location"]

    assert ledger(world.contract_id) == ENROLLED


BEFORE_REDEEM = {
    "seats": 0,
    "redemptions": 0,
    "memberships": 0,
    "orders": 0,
    "fulfilled_orders": 0,
    "enrollments": 0,
    "jobs": {},
}
AFTER_REDEEM = {
    **BEFORE_REDEEM,
    "seats": 1,
    "redemptions": 1,
    "memberships": 1,
    "jobs": {"keycloak.push_member": 1},
}
AFTER_ENROLL = {
    **AFTER_REDEEM,
    "orders": 1,
    "fulfilled_orders": 1,
    "enrollments": 1,
    "jobs": {"keycloak.push_member": 1, "openedx.enroll": 1},
}


@pytest.mark.parametrize(
    ("step", "cut_at"),
    [
        ("redeem", "INSERT INTO seats"),
        ("redeem", "UPDATE enrollment_codes"),  # the use count
        ("redeem", "INSERT INTO background_jobs"),  # the Keycloak push, recorded with the change
        ("redeem", "COMMIT"),
        ("enroll", "INSERT INTO enrollments"),
        ("enroll", "INSERT INTO background_jobs"),  # the edX enrollment job
        ("enroll", "COMMIT"),
    ],
)
def test_a_request_cut_mid_transaction_happens_fully_or_not_at_all(
    portal: LivePortal, step: str, cut_at: str
) -> None:
    """Proves that a redemption or an enrollment whose connection dies mid-transaction leaves no
    trace (no seat without its redemption and code use, no order without its enrollment and job),
    that the learner sees the portal's error page rather than internals, and that trying again
    then succeeds exactly once."""
    world = build_world(keycloak_id=ACME_KEYCLOAK_ID)
    learner = world.learner_ids[0]
    if step == "redeem":
        path, data, before, after = (
            "/learner/redeem",
            {"code": world.codes[0]},
            BEFORE_REDEEM,
            AFTER_REDEEM,
        )
    else:
        assert post(portal, "/learner/redeem", learner, code=world.codes[0]).status_code == 302
        path, data, before, after = (
            f"/learner/runs/{world.run_id}/enroll",
            {},
            AFTER_REDEEM,
            AFTER_ENROLL,
        )
    assert ledger(world.contract_id, learner) == before

    cutter = ConnectionCutter(portal)
    try:
        cutter.arm(cut_at)
        cut = post(portal, path, learner, **data)
    finally:
        cutter.close()
    assert cutter.fired == 1, f"the request never reached {cut_at}"

    assert cut.status_code == 503, cut.text[:500]
    assert_clear_error_page(cut.text)
    assert ledger(world.contract_id, learner) == before  # not at all

    again = post(portal, path, learner, **data)
    assert again.status_code == 302, again.text[:500]
    assert ledger(world.contract_id, learner) == after  # then fully, once
    assert ledger(world.contract_id)["code_uses"] == 1


def test_a_drop_right_after_commit_keeps_the_change_and_reports_success(
    portal: LivePortal,
) -> None:
    """Proves that when the database goes away just after a redemption committed (while the job it
    recorded is being marked as sent), the redemption stands and the learner is told it worked:
    the job row is still there for the sweeper, so nothing is lost, and nothing is half-done."""
    world = build_world(keycloak_id=ACME_KEYCLOAK_ID)
    learner = world.learner_ids[0]
    cutter = ConnectionCutter(portal)
    try:
        cutter.arm("UPDATE background_jobs")  # after COMMIT: marking the dispatched job queued
        done = post(portal, "/learner/redeem", learner, code=world.codes[0])
    finally:
        cutter.close()
    assert cutter.fired == 1
    assert ledger(world.contract_id, learner) == AFTER_REDEEM
    [job] = db.session.scalars(select(BackgroundJob))
    assert job.state in (JobState.PENDING, JobState.QUEUED)  # the sweeper re-sends a pending one
    assert done.status_code == 302, (
        f"the redemption committed, but the learner got HTTP {done.status_code}: " + done.text[:300]
    )


def test_connections_dropped_again_and_again_while_learners_redeem(portal: LivePortal) -> None:
    """Proves the seat ledger holds through a flapping database: 12 learners redeem their codes at
    once while every connection is dropped three times. Each answer is a success or the error
    page; whatever was cut left nothing behind; the learners who saw an error try again; in the
    end every learner has exactly one seat and seats == redemptions == code uses."""
    world = build_world(seats=12, learners=12)
    answers: dict[int, requests.Response] = {}
    go = threading.Barrier(len(world.learner_ids) + 1)

    def redeem(i: int) -> None:
        go.wait()
        answers[i] = post(portal, "/learner/redeem", world.learner_ids[i], code=world.codes[i])

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    go.wait()
    for _ in range(3):
        portal.drop_connections()
    for thread in threads:
        thread.join()

    statuses = Counter(answer.status_code for answer in answers.values())
    print(f"\n12 redemptions through 3 connection drops: {dict(statuses)}")
    assert set(statuses) <= {302, 503}, statuses
    cut_failures = [i for i, answer in answers.items() if answer.status_code == 503]
    for i in cut_failures:
        assert_clear_error_page(answers[i].text)
    mid = ledger(world.contract_id)
    assert mid["seats"] == mid["redemptions"] == mid["code_uses"] == mid["memberships"]
    assert mid["seats"] >= statuses[302]

    for i in cut_failures:  # "Please try again in a moment": they do
        retry = post(portal, "/learner/redeem", world.learner_ids[i], code=world.codes[i])
        assert retry.status_code == 302, retry.text[:500]
    final = ledger(world.contract_id)
    assert final["seats"] == final["redemptions"] == final["code_uses"] == 12
    assert final["memberships"] == 12


@pytest.fixture
def worker_portal(
    postgres_only: None,
    worker_app_factory: Callable[..., Flask],
    worker_process: Callable[[Flask], WorkerProcess],
    database_url: str,
) -> Iterator[tuple[LivePortal, WorkerProcess]]:
    tag = f"portal-faults-{uuid.uuid4().hex[:8]}"
    app = worker_app_factory(DATABASE_URL=tagged_url(database_url, tag))
    with app.app_context():
        yield LivePortal(app, "", database_url, tag), worker_process(app)


def test_a_worker_rides_out_the_restart_and_a_cut_job_runs_once(
    worker_portal: tuple[LivePortal, WorkerProcess], tmp_path: Path
) -> None:
    """Proves a long-running worker process survives the database restart: a job whose
    transaction is cut while it runs fails that attempt, is retried and takes effect once; a job
    recorded after another drop runs too, on fresh connections."""
    portal, worker = worker_portal
    worker.start()
    job_id = record_job("test.blocking", {"marker_dir": str(tmp_path), "block_on": [1]}).id
    commit_for_worker(portal.app)
    wait_for(lambda: (tmp_path / "attempt-1").exists(), "the job to start", 30)

    assert portal.drop_connections() >= 1  # the worker's connection, mid-transaction, among them
    (tmp_path / "release").touch()

    done = wait_for(lambda: succeeded(job_id), "the cut job to be retried and finish", 30)
    assert done.attempts == 2, worker.logs()
    assert audit_count("test.blocking_done") == 1

    portal.drop_connections()
    ping_id = record_job("system.ping", {"message": "after the restart"}).id
    commit_for_worker(portal.app)
    wait_for(lambda: succeeded(ping_id), "a job recorded after the drop to run", 30)
    assert audit_count("job.ping") == 1


def succeeded(job_id: int) -> BackgroundJob | None:
    db.session.expire_all()
    job = db.session.get(BackgroundJob, job_id)
    db.session.commit()
    return job if job is not None and job.state is JobState.SUCCEEDED else None
