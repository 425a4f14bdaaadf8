"""``worker`` and ``jobs ...``: running background jobs and checking their path."""

from __future__ import annotations

import threading

import click
from flask import current_app

from portal.cli.unit_of_work import as_cli, refusals
from portal.extensions import db
from portal.jobs.kinds import JobKind
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
        stop = threading.Event()
        while True:
            if not burst:
                fire_due()
            sweep()
            if burst or stop.wait(sweep_interval):
                return
    _run_rq_worker(burst, sweep_interval)


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
    click.echo(f"Sent {len(sent)} job(s).")


@jobs_group.command("ping")
def jobs_ping() -> None:
    """Record a queue check job; a worker running it writes an audit event."""
    with as_cli(), refusals():
        job = start_job(JobKind.SYSTEM_PING, {"message": "queue check from the command line"})
    click.echo(f"Recorded job {job.id}.")
