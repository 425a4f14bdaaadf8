"""Command-line entry points (``flask --app portal ...``); each calls the same services as the web."""

from __future__ import annotations

import threading

import click
from flask import Flask, current_app
from sqlalchemy import select

from portal.extensions import db
from portal.jobs.kinds import JobKind


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(grant_staff_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(jobs_group)
    from portal.cli_b2b import b2b_group

    app.cli.add_command(b2b_group)


@click.command("seed-demo")
@click.option(
    "--no-contract-runs",
    is_flag=True,
    help="Skip creating the contracts' course runs (their jobs call Open edX).",
)
@click.option(
    "--no-seat-history",
    is_flag=True,
    help="Skip the demo learners who took seats over the last weeks (the org admin's chart).",
)
def seed_demo_command(no_contract_runs: bool, no_seat_history: bool) -> None:
    """Create the demo organizations, contracts, courses, program, users, codes and contract runs
    (idempotent)."""
    from portal.services.demo_data import seed_demo

    created = seed_demo(contract_runs=not no_contract_runs, seat_history=not no_seat_history)
    db.session.commit()
    if any(created.values()):
        click.echo("Created: " + ", ".join(f"{n} {k}" for k, n in created.items() if n))
    else:
        click.echo("Demo data already present; nothing created.")


@click.command("grant-staff")
@click.argument("email")
def grant_staff_command(email: str) -> None:
    """Make the user with EMAIL staff (creating the account, to be linked at first sign-in)."""
    from email_validator import EmailNotValidError, validate_email

    from portal.models import User, normalize_email
    from portal.services.audit import record_event

    try:
        address = normalize_email(
            validate_email(email.strip(), check_deliverability=False).normalized
        )
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    user = db.session.scalar(select(User).where(User.email == address))
    if user is None:
        user = User(email=address)
        db.session.add(user)
        db.session.flush()
    before = {"is_staff": bool(user.is_staff)}
    user.is_staff = True
    record_event(
        "user.staff_granted",
        "user",
        user.id,
        before=before,
        after={"is_staff": True},
        actor_kind="cli",
    )
    db.session.commit()
    click.echo(f"{address} is staff.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run what is queued now, then exit.")
@click.option("--sweep-interval", default=15.0, show_default=True, help="Seconds between sweeps.")
def worker_command(burst: bool, sweep_interval: float) -> None:
    """Run background jobs: an RQ worker (with scheduler) plus the sweeper; inline mode just sweeps."""
    from portal.jobs.sweeper import sweep
    from portal.jobs.worker import PortalWorker, exit_with_parent_after_fork, start_sweeper_thread

    settings = current_app.config["PORTAL"]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not settings.uses_redis:
        click.echo("JOB_RUNNER=inline: running due jobs in this process.")
        stop = threading.Event()
        while True:
            sweep()
            if burst or stop.wait(sweep_interval):
                return
    from portal.jobs.queue import redis_connection

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
    from portal.jobs.sweeper import sweep

    sent = sweep()
    click.echo(f"Sent {len(sent)} job(s).")


@jobs_group.command("ping")
def jobs_ping() -> None:
    """Record a queue check job; a worker running it writes an audit event."""
    from portal.jobs import record_job

    job = record_job(JobKind.SYSTEM_PING, {"message": "queue check from the command line"})
    db.session.commit()
    click.echo(f"Recorded job {job.id}.")
