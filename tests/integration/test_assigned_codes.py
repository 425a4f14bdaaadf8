"""An assigned code is its invitee's (b2b-rules section 10, issue 14): over real HTTP, an org admin
assigns a code to an address; another account is refused with its own reason and the code stays
unused; the invitee redeems it (their address verified, in any case); revoking frees the seat for a
new assignment; the invitation says what the code does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, EnrollmentCode, OutboxMessage, Seat, SeatSource
from tests.support.factories import UserFactory
from tests.support.live_server import live_server
from tests.support.org_world import OrgWorld
from tests.support.sessions import session_cookie

INVITEE = "newcomer@example.com"


@pytest.fixture
def portal(app: Flask) -> Iterator[tuple[Flask, str, OrgWorld]]:
    world = OrgWorld(db)
    with live_server(app) as url:
        yield app, url, world


def post(app: Flask, url: str, user_id: int, path: str, **data: Any) -> requests.Response:
    return requests.post(
        f"{url}{path}",
        data=data,
        cookies=session_cookie(app, user_id),
        allow_redirects=False,
        timeout=30,
    )


def assign(app: Flask, url: str, world: OrgWorld, email: str) -> EnrollmentCode:
    path = f"/org/ACME/contracts/{world.seats.id}/codes/assign"
    assert post(app, url, world.grace.id, path, email=email).status_code == 302
    db.session.expire_all()
    return db.session.scalars(
        select(EnrollmentCode).where(EnrollmentCode.assigned_email == email.strip().lower())
    ).one()


def refusals(user_id: int) -> list[str]:
    db.session.expire_all()
    events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "code.refused", AuditEvent.object_id == str(user_id)
        )
    )
    return [str((e.after or {}).get("reason")) for e in events]


def test_another_account_is_refused_and_the_invitee_then_redeems(
    portal: tuple[Flask, str, OrgWorld],
) -> None:
    app, url, world = portal
    code = assign(app, url, world, "  NewComer@Example.com ")
    assert code.assigned_email == INVITEE

    response = post(app, url, world.lee.id, "/learner/redeem", code=code.code)
    assert response.status_code == 403
    assert "sent to someone else" in response.text and INVITEE not in response.text
    assert refusals(world.lee.id) == ["code_assigned_to_other"]
    db.session.expire_all()
    assert db.session.get(EnrollmentCode, code.id).times_redeemed == 0
    assert db.session.scalar(select(Seat).where(Seat.user_id == world.lee.id)) is None

    newcomer = UserFactory(email=INVITEE)
    db.session.commit()
    response = post(app, url, newcomer.id, "/learner/redeem", code=code.code.lower())
    assert response.status_code == 302
    seat = db.session.scalars(select(Seat).where(Seat.user_id == newcomer.id)).one()
    assert seat.source is SeatSource.ASSIGNED and seat.contract_id == world.seats.id


def test_the_invitee_needs_a_verified_address(portal: tuple[Flask, str, OrgWorld]) -> None:
    app, url, world = portal
    code = assign(app, url, world, INVITEE)
    newcomer = UserFactory(email=INVITEE, email_verified=False)
    db.session.commit()
    response = post(app, url, newcomer.id, "/learner/redeem", code=code.code)
    assert response.status_code == 403 and "not confirmed" in response.text
    assert refusals(newcomer.id) == ["code_assigned_email_unverified"]
    db.session.expire_all()
    assert db.session.get(EnrollmentCode, code.id).times_redeemed == 0


def test_revoking_the_assignment_frees_the_seat_for_someone_else(
    portal: tuple[Flask, str, OrgWorld],
) -> None:
    app, url, world = portal
    code = assign(app, url, world, INVITEE)
    revoke = f"/org/ACME/contracts/{world.seats.id}/codes/{code.id}/revoke-assignment"
    assert post(app, url, world.grace.id, revoke).status_code == 302
    lees = assign(app, url, world, world.lee.email)
    assert post(app, url, world.lee.id, "/learner/redeem", code=lees.code).status_code == 302
    # The revoked code is dead for everyone, its invitee included.
    newcomer = UserFactory(email=INVITEE)
    db.session.commit()
    assert post(app, url, newcomer.id, "/learner/redeem", code=code.code).status_code == 410


def test_an_unassigned_code_is_a_bearer_code(portal: tuple[Flask, str, OrgWorld]) -> None:
    app, url, world = portal
    code = db.session.scalars(
        select(EnrollmentCode).where(
            EnrollmentCode.contract_id == world.seats.id, EnrollmentCode.assigned_email.is_(None)
        )
    ).first()
    assert code is not None
    assert post(app, url, world.lee.id, "/learner/redeem", code=code.code).status_code == 302


def test_the_invitation_says_the_code_is_bound_to_the_address(
    portal: tuple[Flask, str, OrgWorld],
) -> None:
    app, url, world = portal
    assign(app, url, world, INVITEE)
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_email == INVITEE)
    ).one()
    assert f"works only for the account with the email address {INVITEE}" in message.body_text
