"""The periodic scheduler (``services.scheduling`` on ``rq.cron``): two schedulers fire the same
periods at the same time, real RQ workers run what they enqueue, and every period runs once and
every notice is sent once. With ``REDIS_URL`` (CI) the two workers are two processes running at
the same time against Redis and PostgreSQL; without, one in-process worker over fakeredis."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.cli.scheduled import build_cron
from portal.core.text import plural
from portal.core.unit_of_work import transaction
from portal.extensions import db
from portal.jobs.queue import redis_connection
from portal.models import (
    BackgroundJob,
    JobState,
    Membership,
    MembershipSource,
    MembershipType,
    Notice,
    OutboxMessage,
    ScheduledRun,
    utcnow,
)
from portal.services.scheduling import TASKS, fire, period_start, timetable
from tests.conftest import REDIS_URL, ROOT, JobRunner
from tests.support.factories import ContractFactory, OrganizationFactory, SeatFactory, UserFactory


@pytest.fixture
def sched_app(rq_app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    """A portal whose jobs go through RQ, with the Keycloak and edX syncs switched off (no such
    servers here: ``due-syncs`` then has nothing to record)."""
    app = rq_app_factory(
        KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS=0, OPENEDX_OUTCOME_SYNC_INTERVAL_SECONDS=0
    )
    with app.app_context():
        yield app


@pytest.fixture
def busy_org(sched_app: Flask) -> dict[str, Any]:
    """An organization with two admins, a contract whose five seats are all taken and one that
    ends in five days."""
    org = OrganizationFactory(name="Initech", key="INITECH")
    admins = [UserFactory(email=f"admin{i}@initech.example") for i in (1, 2)]
    for admin in admins:
        db.session.add(
            Membership(user=admin, organization=org, source=MembershipSource.STAFF, is_manager=True)
        )
    full = ContractFactory(
        organization=org, name="Full house", membership_type=MembershipType.CODE, seat_limit=5
    )
    for _ in range(5):
        SeatFactory(contract=full)
    ending = ContractFactory(
        organization=org,
        name="Ending soon",
        membership_type=MembershipType.CODE,
        seat_limit=50,
        end_at=utcnow() + dt.timedelta(days=5),
    )
    db.session.commit()
    return {"org": org, "admins": admins, "full": full, "ending": ending}


def _two_schedulers_tick(app: Flask) -> None:
    """Two ``rq.cron`` schedulers, registered as ``flask --app portal scheduler`` registers
    them, reach their next cron time at the same moment and enqueue every task."""
    settings = app.config["PORTAL"]
    crons = [build_cron(redis_connection(), settings.job_queue, timetable()) for _ in range(2)]
    now = dt.datetime.now(dt.UTC)
    for cron in crons:
        for job in cron.get_jobs():
            job.next_enqueue_time = now - dt.timedelta(seconds=1)  # its cron time has come
        enqueued = cron.enqueue_jobs()
        assert len(enqueued) == len(timetable())


def _run_workers(app: Flask, runner: JobRunner, database_url: str) -> None:
    """Two burst workers at the same time (real Redis), else one over fakeredis."""
    if runner.fake is not None:
        runner.run()
        runner.run()  # what the first run's jobs recorded (the notices' emails)
        return
    from portal.config import _ENV_NAMES

    settings = app.config["PORTAL"]
    env = {
        **os.environ,
        **{var: str(getattr(settings, attr)) for attr, var in _ENV_NAMES.items()},
        "PORTAL_MODE": "test",
        "DATABASE_URL": database_url,
        "PORTAL_INSTANCE_PATH": app.instance_path,
    }
    command = [sys.executable, "-m", "flask", "--app", "portal", "worker", "--burst"]
    for _ in range(2):  # a second round runs what the first round recorded
        workers = [
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for worker in workers:
            out, err = worker.communicate(timeout=180)
            assert worker.returncode == 0, f"worker failed:\n{out}\n{err}"


def test_two_schedulers_run_each_period_once_and_send_each_notice_once(
    sched_app: Flask,
    job_runner_for: Callable[[Flask], JobRunner],
    database_url: str,
    busy_org: dict[str, Any],
) -> None:
    jobs = job_runner_for(sched_app)
    _two_schedulers_tick(sched_app)
    _run_workers(sched_app, jobs, database_url)
    db.session.expire_all()

    runs = Counter(db.session.scalars(select(ScheduledRun.name)))
    assert runs == Counter(list(TASKS))  # every task once, though each was enqueued twice
    tasks = list(
        db.session.scalars(select(BackgroundJob).where(BackgroundJob.kind == "scheduler.task"))
    )
    assert len(tasks) == sum(1 for t in TASKS.values() if not t.inline)
    assert {t.state for t in tasks} == {JobState.SUCCEEDED}, [t.last_error for t in tasks]

    notices = list(db.session.scalars(select(Notice)))
    kinds = Counter((n.kind.value, n.recipient) for n in notices)
    admins = [a.email for a in busy_org["admins"]]
    for admin in admins:
        assert kinds[("seats_used", admin)] >= 1  # the full contract
        assert kinds[("contract_ending", admin)] == 1  # the 7-day notice of "Ending soon"
    emails = Counter((m.to_email, m.subject) for m in db.session.scalars(select(OutboxMessage)))
    assert emails and max(emails.values()) == 1, emails  # no email twice
    assert sum(emails.values()) == len(notices)
    sent = db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_not(None))
    )
    assert sent == len(notices)

    # The same moment again (a scheduler restarting, a retried tick): nothing new.
    _two_schedulers_tick(sched_app)
    _run_workers(sched_app, jobs, database_url)
    db.session.expire_all()
    assert Counter(db.session.scalars(select(ScheduledRun.name))) == Counter(list(TASKS))
    assert db.session.scalar(select(func.count()).select_from(Notice)) == len(notices)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == len(notices)


def test_a_late_tick_claims_the_period_it_was_enqueued_in(sched_app: Flask) -> None:
    """A period is claimed once; a later period is a new run, an earlier one is not re-run."""
    expr = timetable()["seat-notices"]
    at = dt.datetime(2026, 12, 4, 10, 7, 30, tzinfo=dt.UTC)
    assert period_start(expr, at) == dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
    assert period_start(expr, at.replace(minute=15, second=0)).minute == 15
    with transaction():
        first = fire("seat-notices", at)
    with transaction():
        again = fire("seat-notices", at.replace(minute=14, second=59))
    with transaction():
        later = fire("seat-notices", at.replace(minute=16))
    assert first is not None and again is None and later is not None
    assert later.period_start.minute == 15


def test_schedule_overrides_and_errors(sched_app: Flask) -> None:
    from portal.services.scheduling import ScheduleError

    table = timetable("seat-notices=*/5 * * * *; scheduled-reports=off")
    assert table["seat-notices"] == "*/5 * * * *" and "scheduled-reports" not in table
    for bad in ("nosuch=* * * * *", "seat-notices=every day", "seat-notices"):
        with pytest.raises(ScheduleError):
            timetable(bad)


def test_the_scheduler_command(sched_app: Flask, database_url: str) -> None:
    """``flask --app portal scheduler --once`` fires the current periods; the long-running
    command registers with RQ's cron scheduler (real Redis only: it is a separate process)."""
    from portal.config import _ENV_NAMES

    settings = sched_app.config["PORTAL"]
    env = {
        **os.environ,
        **{var: str(getattr(settings, attr)) for attr, var in _ENV_NAMES.items()},
        "PORTAL_MODE": "test",
        "DATABASE_URL": database_url,
        "PORTAL_INSTANCE_PATH": sched_app.instance_path,
        "SCHEDULE": "code-reminders=off",
    }
    command = [sys.executable, "-m", "flask", "--app", "portal", "scheduler"]
    once = subprocess.run(
        [*command, "--once"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert once.returncode == 0, once.stderr
    assert "seat-notices" in once.stdout and "code-reminders" not in once.stdout
    assert f"Started {plural(len(TASKS) - 1, 'task')}" in once.stdout
    bad = subprocess.run(
        [*command, "--once"],
        cwd=ROOT,
        env={**env, "SCHEDULE": "seat-notices=whenever"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "not a cron expression" in bad.stderr
    if not REDIS_URL:
        return
    from rq.cron import CronScheduler

    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        names: list[str] = []
        while time.monotonic() < deadline and not names:
            time.sleep(0.5)
            names = [s.name for s in CronScheduler.all(redis_connection())]
        assert any(name.startswith("portal-") for name in names), names
    finally:
        process.terminate()
        process.communicate(timeout=30)
