"""A worker killed mid-job (SIGKILL: no clean-up, no goodbye): the job's row still says running, so
the sweeper, once the row has been silent for ``JOB_STALE_AFTER_SECONDS``, sends it again, a new
worker runs it, and its effect happens exactly once.

The worker is a real ``flask --app portal worker`` process: the RQ worker against Redis in CI, the
worker in inline mode otherwise (fakeredis cannot be shared with another process). The new worker is
``flask --app portal worker --burst``, which sweeps first (here with a 1 s stale limit).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.sweeper import sweep
from portal.models import BackgroundJob, JobState, User, utcnow
from portal.services.enrollment import enroll
from portal.services.redemption import redeem
from tests.conftest import USES_POSTGRES
from tests.faults.conftest import (
    Gate,
    WorkerProcess,
    assert_enrolled_once,
    audit_count,
    build_world,
    commit_for_worker,
    jobs_of_kind,
    open_transactions,
    tagged_url,
)
from tests.support.emulators import Edx
from tests.support.factories import BackgroundJobFactory
from tests.support.live_server import live_server
from tests.support.waiting import wait_for

STALE_AFTER = 1  # seconds, for the sweeper of the new worker
ENROLL_POST = ("POST", "/api/enrollment/v1/enrollment")


def job_row(job_id: int) -> BackgroundJob:
    db.session.expire_all()
    job = db.session.get(BackgroundJob, job_id)
    assert job is not None
    db.session.commit()
    return job


def wait_until_stale(job_id: int) -> None:
    """Wait until the killed job's row has been silent for longer than the stale limit (since it
    started, and since it last reported a step)."""
    job = job_row(job_id)
    assert job.started_at is not None
    last_sign = max(job.started_at, job.updated_at)
    wait_for(
        lambda: utcnow() > last_sign + dt.timedelta(seconds=STALE_AFTER + 0.2),
        "the killed job to go stale",
    )


def test_a_worker_killed_mid_job_is_swept_retried_and_takes_effect_once(
    worker_app_factory: Callable[..., Flask],
    worker_process: Callable[[Flask], WorkerProcess],
    tmp_path: Path,
) -> None:
    """Proves a job whose worker process is killed while it runs, after its effect was written
    but before the job was marked done, is neither lost nor doubled: the sweeper sends it again,
    another process runs it, the retry sees the effect and writes nothing, and the job ends
    succeeded on its second attempt with exactly one effect."""
    app = worker_app_factory()
    with app.app_context():
        worker = worker_process(app)
        worker.start()
        record_job("test.blocking", {"marker_dir": str(tmp_path), "effect_first": True})
        commit_for_worker(app)
        wait_for(lambda: (tmp_path / "attempt-1").exists(), "the worker to start the job", 30)
        [job] = jobs_of_kind("test.blocking")
        assert worker.current is not None
        first_pid = worker.current.pid
        assert int((tmp_path / "attempt-1").read_text()) == first_pid  # that process runs it

        worker.kill()
        killed = job_row(job.id)
        assert killed.state is JobState.RUNNING and killed.attempts == 1  # nobody knows yet
        assert audit_count("test.blocking_done") == 1  # the effect, written before the kill

        wait_until_stale(job.id)
        worker.run_burst(JOB_STALE_AFTER_SECONDS=STALE_AFTER)

        done = job_row(job.id)
        assert done.state is JobState.SUCCEEDED and done.attempts == 2, worker.logs()
        assert int((tmp_path / "attempt-2").read_text()) != first_pid
        assert audit_count("test.blocking_done") == 1


def test_a_worker_killed_alone_leaves_nothing_holding_its_job(
    worker_app_factory: Callable[..., Flask],
    worker_process: Callable[[Flask], WorkerProcess],
    tmp_path: Path,
    database_url: str,
) -> None:
    """Proves that killing only the worker process (the kernel's OOM killer picks one process)
    releases what its job held: on PostgreSQL the job's open transaction, and the row locks in it,
    end with the process instead of staying "idle in transaction"; and no process the worker
    started lives on without it (the RQ worker forks its scheduler, which inherits the worker's
    open connections and would keep them, the scheduler lock and itself alive)."""
    tag = f"portal-faults-{uuid.uuid4().hex[:8]}"
    app = worker_app_factory(
        DATABASE_URL=tagged_url(database_url, tag) if USES_POSTGRES else database_url
    )
    with app.app_context():
        worker = worker_process(app)
        worker.start()
        record_job("test.blocking", {"marker_dir": str(tmp_path)})  # reads, then waits
        commit_for_worker(app)
        wait_for(lambda: (tmp_path / "attempt-1").exists(), "the worker to start the job", 30)
        if USES_POSTGRES:
            assert open_transactions(database_url, tag)  # the job's, as it waits

        pid = worker.kill(whole_group=False)

        if USES_POSTGRES:
            wait_for(
                lambda: not open_transactions(database_url, tag),
                lambda: (
                    "the killed worker's transaction to end; still open: "
                    + "; ".join(open_transactions(database_url, tag))
                ),
                5,
            )
        wait_for(
            lambda: not worker.group_alive(pid), "every process of the killed worker to end", 5
        )


@pytest.fixture
def gate() -> Iterator[tuple[Gate, str]]:
    from emulators.openedx import create_app as create_openedx

    served = Gate(create_openedx({}))
    try:
        with live_server(served) as url:
            yield served, url
    finally:
        served.release.set()  # never leave a server thread waiting


def test_an_enrollment_job_killed_mid_flight_enrolls_once_in_edx(
    worker_app_factory: Callable[..., Flask],
    worker_process: Callable[[Flask], WorkerProcess],
    gate: tuple[Gate, str],
) -> None:
    """Proves an edX enrollment job whose worker is killed while it talks to edX (edX has enrolled
    the learner; the answer dies with the worker) ends with exactly one edX account and one active
    enrollment in edX (the retry looks first and does not post again), one enrollment in the
    portal, synced, and one seat, order and code use."""
    served, url = gate
    app = worker_app_factory(OPENEDX_LMS_URL=url, OPENEDX_STUDIO_URL=url)
    email = "killed.worker@acme.example"
    with app.app_context():
        edx = Edx(url)
        world = build_world(emails=[email])
        edx.clone(world.run_key)
        learner = db.session.get(User, world.learner_ids[0])
        assert learner is not None
        redeem(learner, world.codes[0])
        enroll(learner, world.run_id)
        served.hold_answer_to(*ENROLL_POST)
        commit_for_worker(app)

        worker = worker_process(app)
        worker.start()
        assert served.held.wait(30), f"the job never reached edX:\n{worker.logs()}"
        worker.kill()
        served.release.set()
        assert len(edx.enrollments_of(email)) == 1  # edX did it; nobody heard

        [job] = jobs_of_kind("openedx.enroll")
        wait_until_stale(job.id)
        worker.run_burst(JOB_STALE_AFTER_SECONDS=STALE_AFTER)

        done = job_row(job.id)
        assert done.state is JobState.SUCCEEDED and done.attempts == 2, worker.logs()
        assert_enrolled_once(edx, world, email)
        assert served.handled[ENROLL_POST] == 1


def test_a_running_job_that_reports_progress_is_not_taken_for_dead(app: Flask) -> None:
    """Proves the sweeper tells a dead worker from a slow one by silence, as the README says ("a
    running job silent this long is taken as killed"): a job that started long ago but reported a
    step just now is alive, and sending it again would run it twice at once; a job silent for
    longer than JOB_STALE_AFTER_SECONDS is retried."""
    long_ago = utcnow() - dt.timedelta(hours=2)
    running = {"state": JobState.RUNNING, "attempts": 1, "started_at": long_ago}
    silent = BackgroundJobFactory(**running, step="writing", updated_at=long_ago)
    # set_step just now: its worker is alive
    busy = BackgroundJobFactory(**running, step="step 41 of 100", updated_at=utcnow())
    db.session.commit()

    sent = sweep()

    assert silent.id in sent
    assert busy.id not in sent, "a job that reported progress just now was taken for dead"
    assert job_row(busy.id).state is JobState.RUNNING
