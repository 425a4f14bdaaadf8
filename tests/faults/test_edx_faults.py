"""Open edX slow or down while learners enroll: the enrollment job times out or cannot connect, is
retried with backoff while the enrollment shows "retrying" with the reason, and finishes once edX
answers again, leaving exactly one enrollment in edX and one in the portal.

The learner goes through the portal over HTTP (redeem, enroll); the jobs run in a real RQ worker (a
worker process against Redis in CI). edX is the Open edX emulator: slow through its fault injection,
down as a port nothing listens on until the emulator is started there.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pytest
from flask import Flask

from portal.models import JobState
from tests.faults.conftest import (
    ENROLLED,
    assert_enrolled_once,
    build_world,
    dashboard,
    enroll_through_the_portal,
    jobs_of_kind,
    ledger,
    wait_until_due,
)
from tests.support.emulators import Edx
from tests.support.live_server import free_port, live_server
from tests.support.waiting import wait_for


@pytest.fixture
def portal_for(
    impatient_portal: Callable[..., tuple[Flask, Any]],
) -> Callable[[str], tuple[Flask, Any]]:
    """A portal on ``edx_url`` with a 1 s HTTP timeout and 1 s first backoff, and its worker."""

    def make(edx_url: str) -> tuple[Flask, Any]:
        return impatient_portal(OPENEDX_LMS_URL=edx_url, OPENEDX_STUDIO_URL=edx_url)

    return make


def test_edx_too_slow_to_answer_is_retried_and_enrolls_once(
    portal_for: Callable[[str], tuple[Flask, Any]], stack: ExitStack
) -> None:
    """Proves a slow edX does not hang or duplicate anything: the enrollment POST outlasts the 1 s
    timeout (edX carries it out afterwards, so the answer is lost), the job is retried with
    backoff while the learner sees "retrying" (the transport error itself is for staff), and the
    retry finds the enrollment already in edX instead of posting again: one enrollment in edX, one in the portal."""
    from emulators.openedx import create_app as create_openedx

    edx_url = stack.enter_context(live_server(create_openedx({})))
    app, jobs = portal_for(edx_url)
    edx = Edx(edx_url)
    world = build_world(emails=["slow.edx@acme.example"])
    edx.clone(world.run_key)
    edx.fault(endpoint="enrollment.post", latency_ms=1500, count=1)

    learner = enroll_through_the_portal(app, world)
    jobs.run()

    [job] = jobs_of_kind("openedx.enroll")
    assert job.state in (JobState.PENDING, JobState.QUEUED) and job.attempts == 1
    first_error = job.last_error or ""
    assert "timed out" in first_error
    page = dashboard(learner)
    assert "Being set up in edX (retrying)" in page
    assert "could not be reached" not in page and "timed out" not in page  # no internals

    # edX finished the slow request after the portal gave up on it.
    wait_for(lambda: edx.enrollments_of("slow.edx@acme.example"), "edX to finish the slow POST")
    wait_until_due(job.id)
    jobs.run()

    [done] = jobs_of_kind("openedx.enroll")
    assert done.state is JobState.SUCCEEDED and done.attempts == 2, done.last_error
    assert_enrolled_once(edx, world, "slow.edx@acme.example")
    assert "Enrolled" in dashboard(learner)
    # The reason is said once ("edX could not be reached to enroll ...: <why>").
    assert first_error.count("could not be reached to enroll") == 1, first_error


def test_edx_down_then_back_is_retried_and_enrolls_once(
    portal_for: Callable[[str], tuple[Flask, Any]], stack: ExitStack
) -> None:
    """Proves an unreachable edX (connection refused) loses nothing: the learner still enrolls in
    the portal, the job fails its attempt with a clear "could not be reached" and waits for its
    retry; once edX is up again the retry registers the learner and enrolls them, once."""
    from emulators.openedx import create_app as create_openedx

    port = free_port()
    app, jobs = portal_for(f"http://127.0.0.1:{port}")
    world = build_world(emails=["edx.down@acme.example"])

    learner = enroll_through_the_portal(app, world)
    jobs.run()

    [job] = jobs_of_kind("openedx.enroll")
    assert job.state in (JobState.PENDING, JobState.QUEUED) and job.attempts == 1
    assert "could not be reached" in (job.last_error or "")
    assert "Connection refused" in (job.last_error or "")
    assert ledger(world.contract_id) == ENROLLED  # the portal's side stands meanwhile
    assert "Being set up in edX (retrying)" in dashboard(learner)

    edx_url = stack.enter_context(live_server(create_openedx({}), port=port))  # edX is back
    edx = Edx(edx_url)
    edx.clone(world.run_key)
    wait_until_due(job.id)
    jobs.run()

    [done] = jobs_of_kind("openedx.enroll")
    assert done.state is JobState.SUCCEEDED and done.attempts == 2, done.last_error
    assert_enrolled_once(edx, world, "edx.down@acme.example")
