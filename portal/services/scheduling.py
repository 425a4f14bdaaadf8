"""Periodic work: the timetable, and running each task exactly once per period.

The clock is RQ's own cron scheduler (``rq.cron.CronScheduler``, started by ``flask --app portal
scheduler``): at each cron time it enqueues :func:`fire_from_cron` for the task. Any number of
schedulers may run (one beside each worker, for availability); each fires every task, and the
first to insert the task's ``(name, period start)`` row in ``scheduled_runs`` records the task's job,
in the same transaction. The others find the row and do nothing, so a period runs once. The task
itself is an ordinary recorded job (``scheduler.task``): retried with backoff, visible on the
jobs page. Without Redis (``JOB_RUNNER=inline``) the worker loop calls :func:`fire_due` instead.
The tasks' job handler is ``portal.tasks.scheduled``.

A period is the time from one cron time to the next: firing late (a busy queue, a scheduler
that was down) still claims the period the scheduled time fell in, never the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from croniter import croniter
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.core.text import plural
from portal.core.unit_of_work import transaction
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.jobs.queue import record_job
from portal.models import ScheduledRun, utcnow

log = logging.getLogger(__name__)

Task = Callable[[dt.datetime], str]  # (now) -> a few words on what it did


def _due_syncs(now: dt.datetime) -> str:
    """The Keycloak organization sync and each contract run's outcome sync, when their own
    intervals say they are due (``KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS``,
    ``OPENEDX_OUTCOME_SYNC_INTERVAL_SECONDS``)."""
    from portal.services.organization_sync import schedule_organization_sync
    from portal.services.outcome_sync import schedule_outcome_syncs

    job = schedule_organization_sync()
    syncs = schedule_outcome_syncs()
    return f"organization sync {'recorded' if job else 'not due'}; {plural(len(syncs), 'outcome sync')}"


def _contract_notices(now: dt.datetime) -> str:
    from portal.services.notices import send_contract_notices

    return plural(send_contract_notices(now), "contract notice")


def _seat_notices(now: dt.datetime) -> str:
    from portal.services.notices import send_seat_notices

    return plural(send_seat_notices(now), "seat notice")


def _code_reminders(now: dt.datetime) -> str:
    from portal.services.code_reminders import send_code_reminders

    return plural(send_code_reminders(now), "reminder")


def _unredeemed_digest(now: dt.datetime) -> str:
    from portal.services.code_reminders import send_unredeemed_digests

    return plural(send_unredeemed_digests(now), "digest")


def _scheduled_reports(now: dt.datetime) -> str:
    from portal.services.report_subscriptions import send_scheduled_reports

    return plural(send_scheduled_reports(now), "report")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    cron: str  # the default timetable, UTC; SCHEDULE overrides it
    run: Task
    # Run inside the firing transaction (cheap: it only records other jobs) instead of as a job.
    inline: bool = False


TASKS: dict[str, PeriodicTask] = {
    task.name: task
    for task in (
        PeriodicTask("due-syncs", "* * * * *", _due_syncs, inline=True),
        PeriodicTask("contract-notices", "0 * * * *", _contract_notices),
        PeriodicTask("seat-notices", "*/15 * * * *", _seat_notices),
        PeriodicTask("code-reminders", "0 9 * * *", _code_reminders),
        PeriodicTask("unredeemed-digest", "0 8 * * 1", _unredeemed_digest),
        PeriodicTask("scheduled-reports", "0 6 * * *", _scheduled_reports),
    )
}


class ScheduleError(ValueError):
    pass


def timetable(overrides: str | None = None) -> dict[str, str]:
    """Each enabled task's cron expression: the defaults with ``SCHEDULE``'s overrides."""
    raw = current_app.config["PORTAL"].schedule if overrides is None else overrides
    table = {name: task.cron for name, task in TASKS.items()}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        name, sep, expr = (s.strip() for s in part.partition("="))
        if not sep or name not in TASKS:
            raise ScheduleError(
                f"SCHEDULE: {part!r} is not name=cron expression for one of {', '.join(TASKS)}"
            )
        if expr.lower() == "off":
            table.pop(name, None)
        elif not croniter.is_valid(expr):
            raise ScheduleError(f"SCHEDULE: {expr!r} is not a cron expression (for {name})")
        else:
            table[name] = expr
    return table


def period_start(expr: str, at: dt.datetime) -> dt.datetime:
    """The cron time ``at`` falls after: the start of its period."""
    at = at.astimezone(dt.UTC).replace(microsecond=0)
    if croniter.match(expr, at):
        return at.replace(second=0)
    start = croniter(expr, at).get_prev(dt.datetime)
    return start.astimezone(dt.UTC)


def _claim(name: str, start: dt.datetime) -> ScheduledRun | None:
    """Insert the period's row, or None when another scheduler has it already."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    run_id = db.session.scalar(
        insert(ScheduledRun)
        .values(name=name, period_start=start, started_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name", "period_start"])
        .returning(ScheduledRun.id)
    )
    return None if run_id is None else db.session.get(ScheduledRun, run_id)


def fire(name: str, at: dt.datetime | None = None) -> ScheduledRun | None:
    """Claim the task's period holding ``at`` (now by default) and start the task; None if the
    period was claimed already. The caller commits. The task runs as of ``at`` (the tick), also
    when its job runs later or is retried: what it sends is decided by the tick's time."""
    expr = timetable().get(name)
    if expr is None:
        return None  # switched off
    task = TASKS[name]
    moment = (at or utcnow()).astimezone(dt.UTC)
    run = _claim(name, period_start(expr, moment))
    if run is None:
        return None
    if task.inline:
        run.summary = task.run(moment)[:500]
        run.finished_at = utcnow()
    else:
        record_job(
            JobKind.SCHEDULED_TASK,
            {"task": name, "run_id": run.id, "at": moment.isoformat()},
            object_type="scheduled_run",
            object_id=run.id,
        )
    db.session.flush()
    return run


def fire_due(at: dt.datetime | None = None) -> list[ScheduledRun]:
    """Fire every enabled task for the period holding ``at``, in one transaction: a scheduler's
    first pass (catching up on a period missed while it was down) and the inline worker loop."""
    with transaction():
        runs = [run for name in timetable() if (run := fire(name, at)) is not None]
    return runs


def fire_from_cron(name: str) -> str:
    """What ``rq.cron`` enqueues; runs in a worker, inside the app context. The period is the one
    the job was enqueued in, however long it waited in the queue."""
    from rq import get_current_job

    job = get_current_job()
    at = job.enqueued_at if job is not None and job.enqueued_at is not None else utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    with transaction():
        run = fire(name, at)
    outcome = f"claimed period {run.period_start.isoformat()}" if run else "period already run"
    log.info("scheduler: %s: %s", name, outcome)
    return outcome


@dataclass(frozen=True)
class TaskOverview:
    name: str
    cron: str | None  # None: switched off by SCHEDULE
    last: ScheduledRun | None


def task_overview() -> list[TaskOverview]:
    """Each periodic task with its timetable entry and its latest run (one query, for the staff
    jobs page)."""
    table = timetable()
    latest = select(func.max(ScheduledRun.id)).group_by(ScheduledRun.name).scalar_subquery()
    runs = {
        run.name: run
        for run in db.session.scalars(select(ScheduledRun).where(ScheduledRun.id.in_(latest)))
    }
    return [TaskOverview(name, table.get(name), runs.get(name)) for name in TASKS]
