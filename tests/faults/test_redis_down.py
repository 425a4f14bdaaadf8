"""Redis unavailable: the portal keeps serving, records every job with the change that needs it, and
sends the jobs once Redis is back; the code-entry rate limiter keeps limiting from memory.

"Redis down" is a portal configured with ``JOB_RUNNER=rq`` and a Redis URL on a closed port; "Redis
back" is the Redis under test (the real one in CI, fakeredis otherwise), on the same database and
queue. ``tests/portal/test_jobs.py`` proves the bare job path through an outage; these tests prove
the learner journey (seats, orders, enrollments, the Keycloak push and the edX enrollment).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.runner import execute
from portal.jobs.sweeper import sweep
from portal.models import (
    BackgroundJob,
    EdxSyncState,
    Enrollment,
    JobState,
)
from tests.faults.conftest import ENROLLED, audit_count, build_world, ledger
from tests.support.emulators import DEMO_REALM, Edx, KeycloakAdminApi
from tests.support.live_server import live_server
from tests.support.sessions import signed_in
from tests.support.world import ACME_KEYCLOAK_ID

DEAD_REDIS = "redis://127.0.0.1:1/0"


@dataclass
class Outage:
    down: Flask  # the portal while Redis is unreachable
    back: Flask  # the same portal once Redis answers again
    jobs: Any  # a worker on the Redis that is back
    edx: Edx
    keycloak: KeycloakAdminApi


@pytest.fixture
def outage(
    app_factory: Callable[..., Flask],
    rq_app_factory: Callable[..., Flask],
    job_runner_for: Callable[[Flask], Any],
) -> Iterator[Outage]:
    from emulators.keycloak import create_app as create_keycloak
    from emulators.openedx import create_app as create_openedx

    keycloak = create_keycloak({"KEYCLOAK_EMULATOR_REALMS": str(DEMO_REALM)})
    with live_server(keycloak) as kc_url, live_server(create_openedx({})) as edx_url:
        services = {
            "KEYCLOAK_SERVER_URL": kc_url,
            "OPENEDX_LMS_URL": edx_url,
            "OPENEDX_STUDIO_URL": edx_url,
        }
        back = rq_app_factory(**services)
        # Made last: Flask-Limiter is one object per process, bound to the newest app's storage.
        down = app_factory(
            JOB_RUNNER="rq",
            REDIS_URL=DEAD_REDIS,
            RATELIMIT_STORAGE_URL=DEAD_REDIS,
            JOB_QUEUE=back.config["PORTAL"].job_queue,
            **services,
        )
        yield Outage(down, back, job_runner_for(back), Edx(edx_url), KeycloakAdminApi(kc_url))


def page(client: FlaskClient, response: Any) -> str:
    if response.status_code == 302:
        response = client.get(response.headers["Location"])
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def all_jobs() -> list[BackgroundJob]:
    db.session.expire_all()
    return list(db.session.scalars(select(BackgroundJob).order_by(BackgroundJob.id)))


def test_the_learner_journey_works_while_redis_is_down_and_its_jobs_run_once_it_is_back(
    outage: Outage,
) -> None:
    """Proves that with Redis unreachable the pages still serve, a learner redeems a code and
    enrolls (one seat, one code use, one fulfilled order, one enrollment; a second click adds
    nothing), /healthz names Redis, and the Keycloak push and the edX enrollment wait as pending
    rows; once Redis is back the sweeper sends them, a worker runs each once, and the learner is
    in the Keycloak organization and enrolled in edX exactly once."""
    with outage.back.app_context():
        world = build_world(emails=["newcomer@example.com"], keycloak_id=ACME_KEYCLOAK_ID)
        outage.edx.clone(world.run_key)
    learner = world.learner_ids[0]

    with outage.down.app_context():
        client = signed_in(outage.down, learner)
        for path in ("/", "/catalog/", "/learner/"):
            assert client.get(path).status_code == 200, path
        health = client.get("/healthz")
        assert health.status_code == 503
        checks = health.get_json()["checks"]
        assert checks["redis"].startswith("error") and checks["database"] == "ok"

        redeemed = client.post("/learner/redeem", data={"code": world.codes[0]})
        assert redeemed.status_code == 302
        assert "Code accepted" in page(client, redeemed)
        enroll = f"/learner/runs/{world.run_id}/enroll"
        enrolled = client.post(enroll)
        assert enrolled.status_code == 302
        assert "Being set up in edX" in page(client, enrolled)
        again = client.post(enroll)  # an impatient second click
        assert "You are already enrolled" in page(client, again)

        expected = {**ENROLLED, "jobs": {"keycloak.push_member": 1, "openedx.enroll": 1}}
        assert ledger(world.contract_id) == expected
        waiting = all_jobs()
        assert [(j.kind, j.state) for j in waiting] == [
            ("keycloak.push_member", JobState.PENDING),
            ("openedx.enroll", JobState.PENDING),
        ]
        db.session.remove()

    with outage.back.app_context():
        assert sorted(sweep()) == [j.id for j in waiting]
        assert {j.state for j in all_jobs()} == {JobState.QUEUED}
        outage.jobs.run()
        done = all_jobs()
        assert [(j.state, j.attempts) for j in done] == [(JobState.SUCCEEDED, 1)] * 2, [
            j.last_error for j in done
        ]
        assert sweep() == []  # nothing left to send: nothing runs twice
        assert ledger(world.contract_id) == expected

        assert "newcomer@example.com" in outage.keycloak.member_emails(ACME_KEYCLOAK_ID)
        assert audit_count("keycloak.member_pushed") == 1
        enrollment = db.session.scalar(select(Enrollment))
        assert enrollment is not None and enrollment.edx_state is EdxSyncState.SYNCED
        username = enrollment.user.edx_username or ""
        [account] = outage.edx.learners()
        assert account["username"] == username
        remote = outage.edx.enrollment(username, world.run_key)
        assert remote is not None and remote["is_active"] is True and remote["mode"] == "verified"
        assert audit_count("enrollment.synced") == 1


def test_a_retry_scheduled_while_redis_is_down_is_sent_when_due(outage: Outage) -> None:
    """Proves that a job failing transiently in a worker that has lost Redis is not lost: its retry
    cannot be scheduled in Redis, so the row waits as pending, and the sweeper sends it once Redis
    answers; it then succeeds, once."""
    with outage.down.app_context():
        job = record_job("test.flaky", {"fail_times": 1})
        db.session.commit()
        job_id = job.id
        # A worker took it before Redis went away; its first attempt fails transiently.
        assert execute(job_id) == JobState.PENDING.value
        [waiting] = all_jobs()
        assert waiting.state is JobState.PENDING and waiting.attempts == 1
        assert "simulated outage on attempt 1" in (waiting.last_error or "")
        db.session.remove()

    with outage.back.app_context():
        assert sweep() == [job_id]
        outage.jobs.run()
        [done] = all_jobs()
        assert done.state is JobState.SUCCEEDED and done.attempts == 2, done.last_error
        assert audit_count("test.flaky_done") == 1


def test_the_code_entry_limit_holds_with_its_redis_storage_down(
    app_factory: Callable[..., Flask], make_user: Callable[..., Any]
) -> None:
    """Proves the rate limiter fails safe: with its Redis storage unreachable it limits from
    memory instead of switching off, per account (the 11th try within a minute is refused with
    the 429 page, even with a good code) and per address (another account from the same address
    is refused too)."""
    app = app_factory(
        JOB_RUNNER="rq",
        REDIS_URL=DEAD_REDIS,
        RATELIMIT_STORAGE_URL=DEAD_REDIS,
        REDEEM_RATE_LIMIT="10 per minute",
    )
    with app.app_context():
        world = build_world()
        guesser, neighbour = make_user(), make_user()
        client = signed_in(app, guesser.id)
        tries = [
            client.post("/learner/redeem", data={"code": f"WRONG{i}CDE"}).status_code
            for i in range(10)
        ]
        assert tries == [404] * 10
        limited = client.post("/learner/redeem", data={"code": world.codes[0]})
        assert limited.status_code == 429
        assert "Too many codes tried" in html.unescape(limited.get_data(as_text=True))

        other = signed_in(app, neighbour.id).post("/learner/redeem", data={"code": world.codes[0]})
        assert other.status_code == 429  # same address
        assert ledger(world.contract_id)["redemptions"] == 0
