"""Stopping the worker with Ctrl-C or SIGTERM, as ``python3 dev.py demo`` does (issue 17, item 10).

A terminal's Ctrl-C reaches every process of its group at once, and a launcher such as ``dev.py``
may pass one more SIGINT on a moment later. The inline worker (the demo's) takes either as "stop":
it finishes the job it is running, starts no other, and exits 0 without a word on stderr (before,
a second SIGINT landing in the middle of ``Event.wait`` or ``Thread.join`` printed tracebacks such
as ``RuntimeError: release unlocked lock``). The jobs it did not start stay pending for the next
worker. A second Ctrl-C later on, while a job still runs, stops the worker at once; that job runs
again once it goes stale, as after a crash.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from portal.jobs import record_job
from portal.models import JobState
from tests.faults.conftest import WorkerProcess, commit_for_worker, jobs_of_kind
from tests.support.waiting import wait_for

QUIET = ("Traceback", "Error", "Exception", "Aborted")


def inline_app(app_factory: Callable[..., Flask]) -> Flask:
    # The demo's runner, also when the suite runs against Redis; no periodic jobs of its own.
    return app_factory(
        JOB_RUNNER="inline",
        KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS=0,
        OPENEDX_OUTCOME_SYNC_INTERVAL_SECONDS=0,
    )


def started_worker(app: Flask, make: Callable[[Flask], WorkerProcess]) -> WorkerProcess:
    worker = make(app)
    worker.start()
    assert worker.current is not None
    return worker


def stopped(worker: WorkerProcess, within: float = 15) -> int:
    assert worker.current is not None
    return worker.current.wait(timeout=within)


def test_ctrl_c_twice_at_once_finishes_the_running_job_and_exits_quietly(
    app_factory: Callable[..., Flask],
    worker_process: Callable[[Flask], WorkerProcess],
    tmp_path: Path,
) -> None:
    app = inline_app(app_factory)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    with app.app_context():
        worker = started_worker(app, worker_process)
        record_job("test.blocking", {"marker_dir": str(first)})
        record_job("test.blocking", {"marker_dir": str(second)})
        commit_for_worker(app)
        wait_for(lambda: (first / "attempt-1").exists(), "the worker to start the first job", 30)
        assert worker.current is not None
        worker.current.send_signal(signal.SIGINT)  # the terminal's Ctrl-C ...
        worker.current.send_signal(signal.SIGINT)  # ... and the launcher passing it on
        time.sleep(0.5)
        assert worker.current.poll() is None  # the running job is not cut short
        (first / "release").write_text("")
        assert stopped(worker) == 0, worker.logs()
        done, waiting = jobs_of_kind("test.blocking")
        assert done.state is JobState.SUCCEEDED, worker.logs()
        assert waiting.state is JobState.PENDING and waiting.attempts == 0  # the next worker's
    assert not (second / "attempt-1").exists()
    logs = worker.logs()
    assert not [word for word in QUIET if word in logs], logs


def test_sigint_or_sigterm_stop_an_idle_worker_at_once(
    app_factory: Callable[..., Flask],
    worker_process: Callable[[Flask], WorkerProcess],
) -> None:
    app = inline_app(app_factory)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with app.app_context():
            worker = started_worker(app, worker_process)
            assert worker.current is not None
            wait_for(lambda w=worker: "running due jobs" in w.logs(), "the worker to start", 30)
            time.sleep(0.5)  # between sweeps
            began = time.monotonic()
            worker.current.send_signal(sig)
            assert stopped(worker, within=5) == 0, worker.logs()
            assert time.monotonic() - began < 2
            logs = worker.logs()
            assert not [word for word in QUIET if word in logs], logs


def test_a_later_second_ctrl_c_stops_a_long_job_at_once(
    app_factory: Callable[..., Flask],
    worker_process: Callable[[Flask], WorkerProcess],
    tmp_path: Path,
) -> None:
    app = inline_app(app_factory)
    with app.app_context():
        worker = started_worker(app, worker_process)
        record_job("test.blocking", {"marker_dir": str(tmp_path), "block_seconds": 60})
        commit_for_worker(app)
        wait_for(lambda: (tmp_path / "attempt-1").exists(), "the worker to start the job", 30)
        assert worker.current is not None
        worker.current.send_signal(signal.SIGINT)
        time.sleep(1.5)  # someone who does not want to wait for it
        worker.current.send_signal(signal.SIGINT)
        assert stopped(worker, within=5) != 0
        [job] = jobs_of_kind("test.blocking")
        assert job.state is JobState.RUNNING  # the sweeper sends it again once it goes stale
    logs = worker.logs()
    assert "Stopped in the middle of a job" in logs and "Traceback" not in logs, logs
