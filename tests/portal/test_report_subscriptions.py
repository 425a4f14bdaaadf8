"""Scheduled reports: subscribing on the org admin page, the daily run sending each report once per
period (weekly on Mondays, monthly on the 1st), subscribers who are no longer admins dropped, and
the signed, expiring download link behind each email."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import delete, select, update

from portal.models import (
    AuditEvent,
    LearningOutcome,
    Membership,
    Notice,
    NoticeKind,
    OutboxMessage,
    ReportFrequency,
    ReportSubscription,
    SeatSource,
    utcnow,
)
from portal.services import report_links as links
from portal.services import report_subscriptions as reports
from portal.services.learners import EXPORT_HEADER
from tests.support.factories import MembershipFactory, SeatFactory, UserFactory
from tests.support.org_world import OrgWorld
from tests.support.sessions import csrf_token_of, sign_in

PAGE = "/org/ACME/reports"
MONDAY = dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)  # ISO week 2026-W50
FIRST = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _subscriptions(db: Any) -> list[ReportSubscription]:
    db.session.expire_all()
    return list(db.session.scalars(select(ReportSubscription).order_by(ReportSubscription.id)))


def _actions(db: Any) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("report_subscription.%"))
            .order_by(AuditEvent.id)
        )
    )


def _mails(db: Any, to: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_email == to).order_by(OutboxMessage.id)
        )
    )


def _subscribe(world: OrgWorld, frequency: ReportFrequency = ReportFrequency.WEEKLY) -> Any:
    subscription, _ = reports.subscribe(world.acme, world.grace, frequency)
    world.db.session.commit()
    return subscription


def _send(db: Any, now: dt.datetime) -> int:
    sent = reports.send_scheduled_reports(now)
    db.session.commit()
    return sent


def _link_path(message: OutboxMessage) -> str:
    match = re.search(
        r"http://127\.0\.0\.1:5000(/org/ACME/reports/download/\S+)", message.body_text
    )
    assert match, message.body_text
    return match.group(1)


# ----------------------------------------------------------------------------- the page


def test_subscribe_change_and_unsubscribe_on_the_page_are_audited(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    page = _text(client.get(PAGE))
    assert "Scheduled reports" in page and 'data-subscription="none"' in page
    assert 'value="weekly"' in page and 'value="monthly"' in page

    done = client.post(PAGE, data={"frequency": "weekly"})
    assert done.status_code == 302 and done.headers["Location"].endswith(PAGE)
    [sub] = _subscriptions(db)
    assert (sub.organization_id, sub.user_id, sub.frequency) == (
        world.acme.id,
        world.grace.id,
        ReportFrequency.WEEKLY,
    )
    page = _text(client.get(PAGE))
    assert "your first weekly report comes with the next daily run" in page
    assert 'data-subscription="weekly"' in page and "None sent yet" in page

    client.post(PAGE, data={"frequency": "monthly"})
    client.post(PAGE, data={"frequency": "monthly"})  # the same again changes nothing
    [sub] = _subscriptions(db)
    assert sub.frequency is ReportFrequency.MONTHLY
    changed = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "report_subscription.changed")
    )
    assert changed.before["frequency"] == "weekly" and changed.after["frequency"] == "monthly"
    assert changed.actor_id == world.grace.id and changed.organization_id == world.acme.id

    assert client.post(PAGE, data={"unsubscribe": "1"}).status_code == 302
    assert _subscriptions(db) == []
    assert "Unsubscribed" in _text(client.get(PAGE))
    client.post(PAGE, data={"unsubscribe": "1"})
    assert "no scheduled report to unsubscribe from" in _text(client.get(PAGE))
    assert _actions(db) == [
        "report_subscription.created",
        "report_subscription.changed",
        "report_subscription.cancelled",
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"frequency": "daily"}, "Not a valid choice"),
        ({"frequency": ""}, "Choose weekly or monthly."),
        ({}, "Choose weekly or monthly."),
        ({"frequency": "weekly\x00"}, ""),
    ],
)
def test_bad_form_input_changes_nothing(
    client: FlaskClient,
    login_as: Callable[..., Any],
    world: OrgWorld,
    db: Any,
    data: Any,
    error: str,
) -> None:
    login_as(world.grace)
    response = client.post(PAGE, data=data)
    assert response.status_code == 400
    assert error in _text(response)
    assert _subscriptions(db) == [] and _actions(db) == []


def test_the_page_is_for_the_organizations_admins(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    anonymous = client.get(PAGE)
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    login_as(world.lee)  # manages nothing
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"frequency": "weekly"}).status_code == 403
    login_as(world.gus)  # Globex's admin: Acme does not exist for him
    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE, data={"frequency": "weekly"}).status_code == 404
    assert client.get("/org/GLOBEX/reports").status_code == 200
    login_as(world.staff)  # sees the page, but only admins subscribe
    assert "Only Acme's admins can subscribe" in _text(client.get(PAGE))
    refused = client.post(PAGE, data={"frequency": "weekly"})
    assert refused.status_code == 302
    assert "Only Acme&#39;s admins can subscribe" in _text(client.get(PAGE))
    assert _subscriptions(db) == []


def test_every_form_needs_its_csrf_token(app_factory: Callable[..., Flask], db: Any) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        world = OrgWorld(db)
        client = sign_in(app.test_client(), world.grace)
        assert client.post(PAGE, data={"frequency": "weekly"}).status_code == 400
        assert _subscriptions(db) == []
        page = _text(client.get(PAGE))
        token = csrf_token_of(page)
        assert (
            client.post(PAGE, data={"frequency": "weekly", "csrf_token": token}).status_code == 302
        )
        assert len(_subscriptions(db)) == 1
        page = _text(client.get(PAGE))
        forms = re.findall(r'<form\b[^>]*method="post".*?</form>', page, re.S | re.I)
        mine = [f for f in forms if "/reports" in f.split(">", 1)[0]]  # its action
        assert len(mine) == 2 and all('name="csrf_token"' in f for f in mine)  # save, unsubscribe
        assert client.post(PAGE, data={"unsubscribe": "1"}).status_code == 400
        assert len(_subscriptions(db)) == 1
        assert client.post(PAGE, data={"unsubscribe": "1", "csrf_token": token}).status_code == 302
        assert _subscriptions(db) == []


# ----------------------------------------------------------------------------- the daily run


def test_weekly_reports_go_once_per_iso_week_from_its_monday(world: OrgWorld, db: Any) -> None:
    ada, _ = world.seat_learner(world.seats, "ada@acme.example", "Ada")
    world.seat_learner(world.seats, "bob@acme.example", "Bob")
    SeatFactory(contract=world.auto, user=ada, source=SeatSource.AUTO)  # one learner, two seats
    SeatFactory(contract=world.auto, source=SeatSource.AUTO)
    subscription = _subscribe(world)

    assert _send(db, MONDAY) == 1
    assert _send(db, MONDAY) == 0  # called twice: once per period
    assert _send(db, MONDAY + dt.timedelta(days=1, hours=3)) == 0
    [mail] = _mails(db, "grace@acme.example")
    assert mail.subject == "Acme: your weekly report, week 49 of 2026 (30 Nov to 6 Dec 2026)"
    assert mail.organization_id == world.acme.id and mail.body_html
    text = mail.body_text
    assert "your weekly report for Acme (2026-W50)" in text
    assert "It covers week 49 of 2026 (30 Nov to 6 Dec 2026)" in text
    assert "the seats and learners are as of 7 December 2026 06:00 UTC" in text
    assert "- Seats: 2 of 10" in text and "- Auto: 2 of 100" in text
    assert "- Managed: 0 of 5" in text and "Globex" not in text
    assert "Learners with a seat: 3" in text
    assert "Completions: none yet" in text  # nothing synced from edX
    assert "The link works until 14 December 2026 06:00 UTC" in text
    assert "unsubscribe, open http://127.0.0.1:5000/org/ACME/reports" in text
    notice = db.session.scalar(select(Notice).where(Notice.kind == NoticeKind.SCHEDULED_REPORT))
    assert (notice.subject_type, notice.subject_id, notice.key) == (
        "report_subscription",
        subscription.id,
        "2026-W50",
    )
    assert notice.outbox_message_id == mail.id
    [sub] = _subscriptions(db)
    assert sub.last_period == "2026-W50" and sub.last_sent_at == MONDAY

    next_monday = MONDAY + dt.timedelta(days=7)
    assert _send(db, next_monday) == 1
    assert _subscriptions(db)[0].last_period == "2026-W51"
    assert "week 50 of 2026 (7 Dec to 13 Dec 2026)" in _mails(db, "grace@acme.example")[1].subject


def test_monthly_reports_go_once_per_month_from_its_first(world: OrgWorld, db: Any) -> None:
    _subscribe(world, ReportFrequency.MONTHLY)
    assert _send(db, FIRST) == 1
    assert _send(db, FIRST + dt.timedelta(days=14)) == 0
    assert _send(db, dt.datetime(2027, 1, 1, 6, tzinfo=dt.UTC)) == 1
    first, second = _mails(db, "grace@acme.example")
    assert (
        first.subject == "Acme: your monthly report, November 2026"
        and "(2026-12)" in first.body_text
    )
    assert second.subject.endswith("report, December 2026") and "(2027-01)" in second.body_text
    assert _subscriptions(db)[0].last_period == "2027-01"
    assert [n.key for n in db.session.scalars(select(Notice).order_by(Notice.id))] == [
        "2026-12",
        "2027-01",
    ]


def test_a_new_subscription_gets_its_first_report_at_the_next_run(world: OrgWorld, db: Any) -> None:
    _subscribe(world)
    wednesday = MONDAY + dt.timedelta(days=2)
    assert _send(db, wednesday) == 1  # the week had no report yet
    assert _send(db, wednesday + dt.timedelta(days=1)) == 0
    assert _subscriptions(db)[0].last_period == "2026-W50"


def test_completions_are_reported_once_outcomes_exist(world: OrgWorld, db: Any) -> None:
    ada, _ = world.seat_learner(world.seats, "ada@acme.example", "Ada")
    bob, _ = world.seat_learner(world.seats, "bob@acme.example", "Bob")
    db.session.add_all(
        [
            LearningOutcome(
                course_run_id=world.run.id,
                user_id=ada.id,
                passed=True,
                percent=0.9,
                completed_at=dt.datetime(2026, 12, 2, 15, tzinfo=dt.UTC),  # in week 49
            ),
            LearningOutcome(
                course_run_id=world.run.id,
                user_id=bob.id,
                passed=True,
                percent=0.8,
                completed_at=dt.datetime(2026, 11, 2, 15, tzinfo=dt.UTC),  # before it
            ),
        ]
    )
    _subscribe(world)
    assert _send(db, MONDAY) == 1
    text = _mails(db, "grace@acme.example")[0].body_text
    assert "Completions in week 49 of 2026 (30 Nov to 6 Dec 2026): 1 (2 in all)" in text
    assert "- Seats: 2 of 10; 1 completion in the week" in text
    assert "- Auto: 0 of 100; 0 completions in the week" in text


def test_the_summary_is_a_bounded_number_of_queries(
    world: OrgWorld, db: Any, count_queries: Callable[[], Any]
) -> None:
    from tests.support.org_world import bulk_learners

    period = reports.current_period(ReportFrequency.WEEKLY, MONDAY)
    assert world.acme.name  # loaded, as the daily run has it
    with count_queries() as few:
        reports.report_summary(world.acme, period)
    bulk_learners(world.auto, None, 60)
    db.session.commit()
    assert world.acme.name
    with count_queries() as many:
        summary = reports.report_summary(world.acme, period)
    assert many.count == few.count <= 6
    assert summary.learners == 60


def test_a_subscriber_no_longer_an_admin_is_dropped_and_the_others_still_get_theirs(
    world: OrgWorld, db: Any
) -> None:
    hal = UserFactory(email="hal@acme.example", name="Hal")
    MembershipFactory(user=hal, organization=world.acme, manager=True)
    db.session.commit()
    _subscribe(world)
    reports.subscribe(world.acme, hal, ReportFrequency.WEEKLY)
    membership = db.session.scalar(select(Membership).where(Membership.user_id == world.grace.id))
    membership.is_manager = False
    db.session.commit()

    assert _send(db, MONDAY) == 1
    assert _mails(db, "grace@acme.example") == []
    assert len(_mails(db, "hal@acme.example")) == 1
    assert [s.user_id for s in _subscriptions(db)] == [hal.id]
    dropped = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "report_subscription.dropped")
    )
    assert dropped.actor_kind == "system" and dropped.organization_id == world.acme.id
    assert "grace@acme.example is no longer an admin of Acme" in dropped.reason
    assert dropped.before["user_id"] == world.grace.id
    assert _send(db, MONDAY) == 0


def test_many_subscriptions_are_read_in_batches_each_sent_once(
    world: OrgWorld, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admins = [world.grace, world.gus]
    for n in range(5):
        user = UserFactory(email=f"admin{n}@acme.example")
        MembershipFactory(user=user, organization=world.acme, manager=True)
        admins.append(user)
    db.session.commit()
    for user in admins:
        org = world.globex if user is world.gus else world.acme
        frequency = ReportFrequency.MONTHLY if user.email.startswith("admin4") else None
        reports.subscribe(org, user, frequency or ReportFrequency.WEEKLY)
    db.session.commit()
    monkeypatch.setattr(reports, "BATCH", 2)
    made: list[tuple[str, str]] = []
    real = reports.report_summary

    def counted(org: Any, period: Any) -> Any:
        made.append((org.key, period.key))
        return real(org, period)

    monkeypatch.setattr(reports, "report_summary", counted)
    assert _send(db, FIRST) == 7
    assert sorted(made) == [("ACME", "2026-12"), ("ACME", "2026-W49"), ("GLOBEX", "2026-W49")]
    assert _send(db, FIRST) == 0
    assert len(db.session.scalars(select(Notice)).all()) == 7


# ----------------------------------------------------------------------------- the link


@pytest.fixture
def sent(world: OrgWorld, db: Any) -> Any:
    """Grace subscribed and was sent this week's report (now); Acme has two learners."""
    world.seat_learner(world.seats, "ada@acme.example", '=HYPERLINK("http://evil")')
    world.seat_learner(world.seats, "bob@acme.example", "Bob", enroll=False)
    world.seat_learner(world.other, "gina@globex.example", "Gina")
    subscription = _subscribe(world)
    assert _send(db, utcnow()) == 1
    [mail] = _mails(db, "grace@acme.example")
    return subscription, _link_path(mail)


def test_the_link_downloads_the_learners_csv_for_the_subscriber(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, sent: Any
) -> None:
    _, path = sent
    assert client.get(path).status_code == 302  # sign in first
    login_as(world.grace)
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed and "attachment" in response.headers["Content-Disposition"]
    period = reports.current_period(ReportFrequency.WEEKLY, utcnow()).key
    assert f'filename="learners-ACME-{period}.csv"' in response.headers["Content-Disposition"]
    body = _text(response)
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == EXPORT_HEADER
    by_email = {row[1]: row for row in rows[1:]}
    assert set(by_email) == {"ada@acme.example", "bob@acme.example"}
    assert by_email["ada@acme.example"][0] == '\'=HYPERLINK("http://evil")'
    assert (
        by_email["ada@acme.example"][8] == "course-v1:ACME+DS101+1T1C2026 (enrolled, not started)"
    )
    assert by_email["ada@acme.example"][9:] == ["Not started", "", "", "0"]
    assert body == _text(client.get("/org/ACME/learners.csv"))  # the same CSV as the export


def test_the_link_is_nothing_for_anyone_else(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any, sent: Any
) -> None:
    _, path = sent
    hal = UserFactory(email="hal@acme.example")
    MembershipFactory(user=hal, organization=world.acme, manager=True)
    db.session.commit()
    login_as(hal)  # another Acme admin, with a forwarded link
    assert client.get(path).status_code == 404
    login_as(world.staff)
    assert client.get(path).status_code == 404
    login_as(world.gus)
    assert client.get(path).status_code == 404
    assert client.get(path.replace("/org/ACME/", "/org/GLOBEX/")).status_code == 404
    login_as(world.lee)
    assert client.get(path).status_code == 403


def test_the_link_is_refused_to_a_removed_admin(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any, sent: Any
) -> None:
    _, path = sent
    login_as(world.grace)
    assert client.get(path).status_code == 200
    # Grace now manages Globex only: Acme's link is a 404 for her, like any of Acme's pages.
    MembershipFactory(user=world.grace, organization=world.globex, manager=True)
    db.session.execute(
        update(Membership)
        .where(Membership.user_id == world.grace.id, Membership.organization_id == world.acme.id)
        .values(is_manager=False)
    )
    db.session.commit()
    login_as(world.grace)
    assert client.get(path).status_code == 404
    # And managing nothing at all, a 403.
    db.session.execute(delete(Membership).where(Membership.user_id == world.grace.id))
    db.session.commit()
    login_as(world.grace)
    assert client.get(path).status_code == 403


def test_an_expired_link_is_a_410_and_a_cancelled_one_too(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any, sent: Any
) -> None:
    subscription, path = sent
    login_as(world.grace)
    old = links.link_token(subscription, "2026-W50", now=utcnow() - dt.timedelta(days=8))
    expired = client.get(f"/org/ACME/reports/download/{old}")
    assert expired.status_code == 410
    assert "This report link expired on" in _text(expired) and "7 days" in _text(expired)
    fresh = links.link_token(subscription, "2026-W50", now=utcnow() - dt.timedelta(days=6))
    assert client.get(f"/org/ACME/reports/download/{fresh}").status_code == 200
    reports.unsubscribe(world.acme, world.grace)
    db.session.commit()
    cancelled = client.get(path)
    assert cancelled.status_code == 410 and "subscription was cancelled" in _text(cancelled)


def test_a_forged_or_tampered_link_is_a_404_never_a_500(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, app: Flask, sent: Any
) -> None:
    subscription, path = sent
    login_as(world.grace)
    token = path.rsplit("/", 1)[1]
    payload = {"s": subscription.id, "u": world.grace.id, "p": "2026-W50"}
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    other_key = URLSafeTimedSerializer("not-the-key", salt=links.LINK_SALT).dumps(payload)
    other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other").dumps(payload)
    bad_payload = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=links.LINK_SALT).dumps(
        {"s": "1 OR 1=1", "u": world.grace.id, "p": "x"}
    )
    for bad in (tampered, other_key, other_salt, bad_payload, "abc", "a.b.c", "é.ü", "x" * 4000):
        response = client.get(f"/org/ACME/reports/download/{bad}")
        assert response.status_code == 404, bad
        assert "Page not found" in _text(response)
