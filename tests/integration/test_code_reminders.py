"""Reminders to the invitee of an assigned code, on their schedule (days 3, 10 and 19), through the
scheduler's task, a real RQ worker and a live portal: they stop once the invitee redeems the code
over HTTP, and once an org admin takes the assignment back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.core.unit_of_work import transaction
from portal.extensions import db
from portal.models import (
    EnrollmentCode,
    Membership,
    MembershipSource,
    MembershipType,
    Notice,
    NoticeKind,
    Organization,
    OutboxMessage,
    User,
    utcnow,
)
from portal.services.scheduling import fire
from tests.conftest import JobRunner
from tests.support.browser import Browser
from tests.support.factories import ContractFactory, OrganizationFactory, UserFactory
from tests.support.live_server import live_server


@pytest.fixture
def portal(rq_app_factory: Callable[..., Flask]) -> Iterator[tuple[Flask, str]]:
    app = rq_app_factory(
        KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS=0, OPENEDX_OUTCOME_SYNC_INTERVAL_SECONDS=0
    )
    with live_server(app) as url, app.app_context():
        yield app, url


def _assigned(email: str, days_ago: int) -> EnrollmentCode:
    org = db.session.scalar(select(Organization).where(Organization.key == "UMBRELLA"))
    if org is None:
        org = OrganizationFactory(name="Umbrella", key="UMBRELLA")
        admin = UserFactory(email="admin@umbrella.example")
        db.session.add(
            Membership(user=admin, organization=org, source=MembershipSource.STAFF, is_manager=True)
        )
    contract = ContractFactory(
        organization=org, membership_type=MembershipType.CODE, seat_limit=10, name=f"For {email}"
    )
    db.session.flush()
    code = db.session.scalars(
        select(EnrollmentCode).where(EnrollmentCode.contract_id == contract.id)
    ).first()
    if code is None:
        from portal.services.codes import generate_codes

        generate_codes(contract, 1)
        code = db.session.scalars(
            select(EnrollmentCode).where(EnrollmentCode.contract_id == contract.id)
        ).one()
    code.assigned_email = email
    code.assigned_at = utcnow() - dt.timedelta(days=days_ago)
    db.session.commit()
    return code


def _reminders_on(day: dt.datetime, runner: JobRunner) -> None:
    """The scheduler's code-reminders tick on ``day`` (a period of its own), run by a worker."""
    with transaction():
        assert fire("code-reminders", day) is not None
    runner.run()


def _reminded(email: str) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notice.key)
            .where(Notice.kind == NoticeKind.CODE_REMINDER, Notice.recipient == email)
            .order_by(Notice.id)
        )
    )


def test_reminders_follow_their_schedule_and_stop_on_redemption_and_revocation(
    portal: tuple[Flask, str], job_runner_for: Callable[[Flask], JobRunner]
) -> None:
    app, url = portal
    runner = job_runner_for(app)
    redeemer = _assigned("ruth@umbrella.example", days_ago=3)
    taken_back = _assigned("tom@umbrella.example", days_ago=3)
    today = utcnow()

    _reminders_on(today, runner)
    assert [k.split(":")[0] for k in _reminded("ruth@umbrella.example")] == ["d3"]
    assert [k.split(":")[0] for k in _reminded("tom@umbrella.example")] == ["d3"]
    mail = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_email == "ruth@umbrella.example")
    ).one()
    assert mail.sent_at is not None and redeemer.code in mail.body_text  # the invitation again

    # Ruth redeems her code over HTTP; Tom's assignment is taken back.
    ruth = User(email="ruth@umbrella.example", name="Ruth", email_verified=True)
    db.session.add(ruth)
    db.session.commit()
    browser = _signed_in(app, ruth)
    token = browser.csrf_token(f"{url}/learner/redeem")
    answer = browser.post(
        f"{url}/learner/redeem", data={"csrf_token": token, "code": redeemer.code}
    )
    assert answer.status_code == 200, answer.text[:500]
    from portal.services.code_assignment import revoke_assignment

    with transaction():
        revoke_assignment(taken_back.contract_id, taken_back.id)

    # Day 10 and day 19 come: neither gets another reminder.
    _reminders_on(today + dt.timedelta(days=7, hours=1), runner)
    _reminders_on(today + dt.timedelta(days=16, hours=1), runner)
    assert [k.split(":")[0] for k in _reminded("ruth@umbrella.example")] == ["d3"]
    assert [k.split(":")[0] for k in _reminded("tom@umbrella.example")] == ["d3"]


def test_an_unanswered_invitation_gets_each_reminder_once(
    portal: tuple[Flask, str], job_runner_for: Callable[[Flask], JobRunner]
) -> None:
    app, _url = portal
    runner = job_runner_for(app)
    _assigned("uma@umbrella.example", days_ago=3)
    today = utcnow()
    # The task runs daily: each tick is a day apart, so each claims a period of its own (half a
    # day apart, two ticks can share one period, and the second then never runs). The day after
    # each reminder day must not send it again.
    for offset in (0, 1, 7, 8, 16, 17):
        _reminders_on(today + dt.timedelta(days=offset), runner)
    assert [k.split(":")[0] for k in _reminded("uma@umbrella.example")] == ["d3", "d10", "d19"]
    db.session.expire_all()
    sent = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_email == "uma@umbrella.example")
    ).all()
    assert len(sent) == 3 and all(m.sent_at is not None and m.body_text for m in sent)


def _signed_in(app: Flask, user: Any) -> Browser:
    browser = Browser()
    cookie = app.session_interface.get_signing_serializer(app).dumps(  # type: ignore[attr-defined]
        {"_user_id": str(user.id), "_fresh": True}
    )
    browser.http.cookies.set(
        app.config["SESSION_COOKIE_NAME"], cookie, domain="127.0.0.1", path="/"
    )
    return browser
