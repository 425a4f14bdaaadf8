"""``worker`` and ``jobs ...``: running background jobs and checking their path."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

import click
from flask import current_app

from portal.cli.unit_of_work import as_cli, refusals
from portal.core.text import plural
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.jobs.queue import inline_jobs_stopped, stop_inline_jobs
from portal.jobs.sweeper import sweep
from portal.services.jobs import start_job
from portal.services.scheduling import fire_due


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run what is queued now, then exit.")
@click.option("--sweep-interval", default=15.0, show_default=True, help="Seconds between sweeps.")
def worker_command(burst: bool, sweep_interval: float) -> None:
    """Run background jobs: an RQ worker plus the sweeper (periodic tasks come from
    ``flask --app portal scheduler``); inline mode sweeps and fires due periodic tasks itself."""
    if not current_app.config["PORTAL"].uses_redis:
        click.echo("JOB_RUNNER=inline: running due jobs in this process.")
        if burst:
            sweep()
            return
        _run_inline_loop(sweep_interval)
        return
    _run_rq_worker(burst, sweep_interval)


# A signal this soon after the first is the same request to stop: a terminal's Ctrl-C reaches
# every process of its group, and a launcher (``dev.py demo``) passes one on too.
REPEAT_GRACE_SECONDS = 1.0
FORCED_STOP = (
    b"Stopped in the middle of a job; it runs again once it goes stale (JOB_STALE_AFTER_SECONDS).\n"
)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM ask the inline worker to stop, instead of raising KeyboardInterrupt
    wherever the main thread happens to be: inside ``Thread.join`` or ``Event.wait`` that
    leaves their locks half released, and a second Ctrl-C printed ``RuntimeError: release
    unlocked lock`` tracebacks at exit. The job running finishes and no other starts
    (``stop_inline_jobs``). A signal more than ``REPEAT_GRACE_SECONDS`` after the first stops
    the process at once; the job it was running stays "running" and is retried once stale, as
    after a crash. The handler only sets a flag (or exits): no lock, no buffered output."""
    first: list[float] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if not first:
            first.append(now)
            stop_inline_jobs()
        elif now - first[0] > REPEAT_GRACE_SECONDS:
            os.write(2, FORCED_STOP)
            os._exit(128 + signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop_inline_jobs(False)


def _run_inline_loop(sweep_interval: float) -> None:
    """Fire due periodic tasks and run due jobs every ``sweep_interval`` seconds until stopped."""
    if threading.current_thread() is not threading.main_thread():  # no signals off the main thread
        context: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    else:
        context = _stop_on_signals()
    with context:
        while not inline_jobs_stopped():
            fire_due()
            if not inline_jobs_stopped():
                sweep()
            _sleep_unless_stopped(sweep_interval)


def _sleep_unless_stopped(seconds: float) -> None:
    """Short sleeps, so a stop is seen within a fifth of a second (no ``Event.wait``: the signal
    handler must not need its lock)."""
    deadline = time.monotonic() + seconds
    while not inline_jobs_stopped() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))


def _run_rq_worker(burst: bool, sweep_interval: float) -> None:
    from portal.jobs.queue import redis_connection
    from portal.jobs.worker import PortalWorker, exit_with_parent_after_fork, start_sweeper_thread

    settings = current_app.config["PORTAL"]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    sweep()
    stop = threading.Event()
    if not burst:
        start_sweeper_thread(app, sweep_interval, stop)
    worker = PortalWorker([settings.job_queue], connection=redis_connection(), app=app)
    # RQ forks its scheduler: let it inherit no database connection, and not outlive the worker.
    db.engine.dispose()
    exit_with_parent_after_fork()
    try:
        # With the scheduler, a burst run also enqueues delayed retries that are now due.
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()


@click.group("jobs")
def jobs_group() -> None:
    """Background job tools."""


@jobs_group.command("sweep")
def jobs_sweep() -> None:
    """Send every recorded job that should be running but is not (e.g. after a Redis outage)."""
    sent = sweep()  # the sweeper commits its own steps
    click.echo(f"Sent {plural(len(sent), 'job')}.")


@jobs_group.command("ping")
def jobs_ping() -> None:
    """Record a queue check job; a worker running it writes an audit event."""
    with as_cli(), refusals():
        job = start_job(JobKind.SYSTEM_PING, {"message": "queue check from the command line"})
    click.echo(f"Recorded job {job.id}.")
