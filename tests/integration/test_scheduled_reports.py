"""Scheduled reports over real HTTP with a real worker: an org admin subscribes on the portal, the
scheduler's ``scheduled-reports`` task runs as a job and sends the report once for the period, the
email is in the outbox with its plain-text part, and the link in it downloads the learners CSV for
the signed-in subscriber, and for nobody else."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.jobs import JobKind
from portal.jobs.queue import record_job
from portal.models import (
    BackgroundJob,
    JobState,
    Notice,
    OutboxMessage,
    ReportSubscription,
    ScheduledRun,
)
from portal.services.learners import EXPORT_HEADER
from portal.services.scheduling import fire
from tests.support.live_server import DeferredApp, live_server
from tests.support.org_world import OrgWorld
from tests.support.sessions import session_cookie

TASK = "scheduled-reports"


@pytest.fixture
def env(
    rq_app_factory: Callable[..., Flask], job_runner_for: Callable[[Flask], Any]
) -> Iterator[Any]:
    """The portal on a live server (its emails link to it), jobs through RQ, and Acme with two
    learners; Grace is Acme's admin, Gus is Globex's."""
    slot = DeferredApp()
    with live_server(slot) as url:
        app = rq_app_factory(PUBLIC_BASE_URL=url)
        slot.app = app
        with app.app_context():
            world = OrgWorld(db)
            world.seat_learner(world.seats, "ada@acme.example", "Ada")
            world.seat_learner(world.seats, "bob@acme.example", "Bob", enroll=False)
            world.seat_learner(world.other, "gina@globex.example", "Gina")
            db.session.commit()
            yield SimpleNamespace(url=url, app=app, world=world, jobs=job_runner_for(app))


def get(env: Any, path_or_url: str, user: Any = None) -> requests.Response:
    url = path_or_url if path_or_url.startswith("http") else env.url + path_or_url
    cookies = session_cookie(env.app, user.id) if user is not None else None
    return requests.get(url, cookies=cookies, allow_redirects=False, timeout=30)


def report_mails(env: Any) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.to_email == "grace@acme.example")
            .order_by(OutboxMessage.id)
        )
    )


def test_a_scheduled_report_is_sent_by_the_worker_and_its_link_downloads_the_csv(
    env: Any,
) -> None:
    world = env.world
    subscribed = requests.post(
        f"{env.url}/org/ACME/reports",
        data={"frequency": "weekly"},
        cookies=session_cookie(env.app, world.grace.id),
        allow_redirects=False,
        timeout=30,
    )
    assert subscribed.status_code == 302
    db.session.expire_all()
    subscription = db.session.scalars(select(ReportSubscription)).one()

    run = fire(TASK)  # what the cron scheduler does at 06:00 UTC
    assert run is not None
    db.session.commit()
    env.jobs.run()

    db.session.expire_all()
    task = db.session.scalars(
        select(BackgroundJob).where(BackgroundJob.kind == str(JobKind.SCHEDULED_TASK))
    ).one()
    assert task.state is JobState.SUCCEEDED, task.last_error
    assert db.session.get(ScheduledRun, run.id).summary == "1 report"
    [mail] = report_mails(env)
    assert mail.sent_at is not None and mail.error is None  # captured in the outbox
    assert mail.subject.startswith("Acme: your weekly report, week ")
    assert "Seats: 2 of 10" in mail.body_text and "Learners with a seat: 2" in mail.body_text
    assert mail.body_html and "Download the learners CSV" in mail.body_html
    subscription = db.session.get(ReportSubscription, subscription.id)
    assert subscription.last_sent_at is not None and subscription.last_period

    outbox = get(env, "/outbox/", world.grace)
    assert outbox.status_code == 200 and "your weekly report" in outbox.text
    match = re.search(rf"{re.escape(env.url)}/org/ACME/reports/download/\S+", mail.body_text)
    assert match, mail.body_text
    link = match.group(0)
    assert f'href="{link}"' in mail.body_html

    anonymous = get(env, link)
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    download = get(env, link, world.grace)
    assert download.status_code == 200, download.text[:300]
    assert download.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == EXPORT_HEADER
    assert sorted(row[1] for row in rows[1:]) == ["ada@acme.example", "bob@acme.example"]
    assert download.text == get(env, "/org/ACME/learners.csv", world.grace).text
    assert get(env, link, world.gus).status_code == 404  # forwarded to another admin
    tampered = get(env, link[:-2] + ("xy" if not link.endswith("xy") else "zz"), world.grace)
    assert tampered.status_code == 404 and "Page not found" in tampered.text


def test_the_task_run_again_sends_nothing_more_for_the_period(env: Any) -> None:
    from portal.models import ReportFrequency
    from portal.services.report_subscriptions import subscribe

    subscribe(env.world.acme, env.world.grace, ReportFrequency.MONTHLY)
    run = fire(TASK)
    assert run is not None
    db.session.commit()
    assert fire(TASK) is None  # a second scheduler in the same period claims nothing
    db.session.commit()
    env.jobs.run()
    # A retry of the task (or a second run recorded by hand) finds the report sent.
    record_job(JobKind.SCHEDULED_TASK, {"task": TASK, "run_id": run.id})
    db.session.commit()
    env.jobs.run()

    db.session.expire_all()
    states = db.session.scalars(
        select(BackgroundJob.state).where(BackgroundJob.kind == str(JobKind.SCHEDULED_TASK))
    ).all()
    assert states == [JobState.SUCCEEDED, JobState.SUCCEEDED]
    assert len(report_mails(env)) == 1
    assert len(db.session.scalars(select(Notice)).all()) == 1
    assert db.session.get(ScheduledRun, run.id).summary == "0 reports"
