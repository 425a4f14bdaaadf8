"""``scheduler``: the clock of periodic work (``portal.services.scheduling``).

With Redis it is RQ's cron scheduler (``rq.cron.CronScheduler``), one process; run one or more
beside the workers (several are safe: each period runs once). It first fires every task's
current period (catching up on one missed while no scheduler ran), then enqueues each task at its
cron times. Without Redis (``JOB_RUNNER=inline``) the worker's loop fires due tasks itself.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import click
from flask import current_app

from portal.core.text import plural
from portal.services.scheduling import ScheduleError, fire_due, fire_from_cron, timetable

log = logging.getLogger(__name__)


def build_cron(connection: Any, queue: str, table: dict[str, str]) -> Any:
    """RQ's cron scheduler with every task of ``table`` registered on ``queue``."""
    from rq.cron import CronScheduler

    cron = CronScheduler(connection=connection, name=f"portal-{socket.gethostname()}-{os.getpid()}")
    for name, expr in table.items():
        cron.register(
            fire_from_cron, queue_name=queue, args=(name,), cron=expr, name=f"portal:{name}"
        )
    return cron


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Fire every task's current period, then exit.")
def scheduler_command(once: bool) -> None:
    """Run periodic tasks on their timetable (SCHEDULE overrides it)."""
    try:
        table = timetable()
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, expr in table.items():
        click.echo(f"{name:<20} {expr}")
    runs = fire_due()
    click.echo(f"Started {plural(len(runs), 'task')} for their current period.")
    if once:
        return
    settings = current_app.config["PORTAL"]
    if not settings.uses_redis:
        raise click.ClickException(
            "JOB_RUNNER=inline has no separate scheduler: `flask --app portal worker` fires "
            "periodic tasks itself."
        )
    from portal.jobs.queue import redis_connection

    build_cron(redis_connection(), settings.job_queue, table).start()
