"""One definition of "the contract is live" and of "a managed contract needs SSO" (b2b-rules 3).

Dates and the active flags gate everything: before start, after end, or inactive (contract or
organization) means no new access, no new enrollment and no codes handed out, with that reason.
These are the cases where the copies of the rule used to disagree: redeeming, enrolling, assigning
codes and the SQL of ``available_contracts`` must give the same answer, to the second.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.models import Contract, EnrollmentCode, Membership, OutboxMessage, User, utcnow
from portal.models.contracts import NotLive
from portal.services.access import available_contracts
from portal.services.code_assignment import AssignRefused, assign_codes, check_assignable
from portal.services.enrollment import enroll
from portal.services.redemption import RedemptionRefused, contract_gate, redeem
from tests.support.factories import UserFactory
from tests.support.org_world import OrgWorld
from tests.support.world import join

DAY = dt.timedelta(days=1)
BASE_URL = "http://portal.example"


@pytest.fixture
def world(db: Any) -> OrgWorld:
    return OrgWorld(db)


def _assign(world: OrgWorld, contract: Contract, email: str = "new@acme.example") -> Any:
    return assign_codes(contract.id, [email], actor=world.grace, base_url=BASE_URL)


def _assigned(db: Any, contract: Contract) -> int:
    return int(
        db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(
                EnrollmentCode.contract_id == contract.id,
                EnrollmentCode.assigned_email.is_not(None),
            )
        )
        or 0
    )


def _available(user: User) -> set[int]:
    return {c.id for c in available_contracts(user)}


# ----------------------------------------------------------------------------- not started


def test_handing_out_codes_before_the_start_is_refused_with_the_start_date(
    world: OrgWorld, db: Any
) -> None:
    start = (utcnow() + 30 * DAY).replace(microsecond=0)
    world.seats.start_at = start
    db.session.commit()
    expected = f"Seats starts on {start:%d %B %Y}, so its codes cannot be handed out yet."
    with pytest.raises(AssignRefused) as refused:
        _assign(world, world.seats)
    assert refused.value.message == expected
    assert refused.value.status == 409
    db.session.rollback()
    assert _assigned(db, world.seats) == 0
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_the_org_admin_page_says_when_codes_can_be_handed_out(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    start = dt.datetime(2031, 1, 1, 9, 0, tzinfo=dt.UTC)
    world.seats.start_at = start
    db.session.commit()
    login_as(world.grace)
    url = f"/org/ACME/contracts/{world.seats.id}/codes"
    page = client.get(url).get_data(as_text=True)
    assert "Seats starts on 01 January 2031, so its codes cannot be handed out yet." in page
    response = client.post(f"{url}/assign", data={"email": "x@acme.example"})
    assert response.status_code == 409
    assert _assigned(db, world.seats) == 0


# ----------------------------------------------------------------------------- every path agrees


STATES: dict[str, tuple[Callable[[Contract], None], str, str]] = {
    "not started": (
        lambda c: setattr(c, "start_at", utcnow() + 30 * DAY),
        "contract_not_started",
        "starts on",
    ),
    "ended": (
        lambda c: setattr(c, "end_at", utcnow() - DAY),
        "contract_ended",
        "has ended, so its codes cannot be handed out.",
    ),
    "inactive": (
        lambda c: setattr(c, "active", False),
        "contract_inactive",
        "is not active, so its codes cannot be handed out.",
    ),
    "organization inactive": (
        lambda c: setattr(c.organization, "active", False),
        "organization_inactive",
        "is not active, so its codes cannot be handed out.",
    ),
}


@pytest.mark.parametrize("state", list(STATES))
def test_a_contract_that_is_not_live_is_refused_the_same_way_everywhere(
    world: OrgWorld, db: Any, state: str
) -> None:
    make, reason, assign_message = STATES[state]
    seated, _ = world.seat_learner(world.seats, "seated@acme.example", enroll=False)
    newcomer = UserFactory(email="newcomer@acme.example")
    code = world.free_codes(world.seats)[0].code
    assert world.seats.id in _available(seated)  # live until now
    make(world.seats)
    db.session.commit()

    assert world.seats.not_live_reason(utcnow()) is NotLive(reason)
    assert world.seats.id not in _available(seated)
    with pytest.raises(RedemptionRefused) as refused:
        redeem(newcomer, code)
    assert refused.value.code == reason and refused.value.status == 403
    db.session.rollback()
    with pytest.raises(RedemptionRefused) as refused:
        enroll(seated, world.run.id)
    assert refused.value.code == reason
    db.session.rollback()
    with pytest.raises(AssignRefused) as assigning:
        _assign(world, world.seats)
    assert assign_message in assigning.value.message
    assert assigning.value.message.startswith("Seats ")


def test_a_live_contract_lets_every_path_through(world: OrgWorld, db: Any, app: Flask) -> None:
    """The same contract, in dates and active: the checks above refuse nothing else."""
    world.seats.start_at = utcnow() - DAY
    world.seats.end_at = utcnow() + DAY
    seated, _ = world.seat_learner(world.seats, "seated@acme.example", enroll=False)
    newcomer = UserFactory(email="newcomer@acme.example")
    db.session.commit()
    assert world.seats.id in _available(seated)
    assert not redeem(newcomer, world.free_codes(world.seats)[0].code).already_had
    assert enroll(seated, world.run.id).enrollments
    with app.test_request_context():  # the invitation is rendered with the page's globals
        [result] = _assign(world, world.seats)
    assert result.outcome.value == "assigned"


# ----------------------------------------------------------------------------- the boundaries


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dt.datetime], None]]:
    """Set "now" for the SQL of ``available_contracts`` and for the Python gates."""
    modules = {
        sys.modules[f.__module__] for f in (available_contracts, contract_gate, check_assignable)
    }

    def freeze(at: dt.datetime) -> None:
        for module in modules:
            monkeypatch.setattr(module, "utcnow", lambda: at)

    yield freeze


@pytest.mark.parametrize(
    ("edge", "live"),
    [("start", True), ("end", False)],
    ids=["starting exactly now is live", "ending exactly now is over"],
)
def test_the_sql_and_the_python_check_agree_on_the_boundaries(
    world: OrgWorld, db: Any, frozen: Callable[[dt.datetime], None], edge: str, live: bool
) -> None:
    now = utcnow().replace(microsecond=0)
    seated, _ = world.seat_learner(world.seats, "seated@acme.example", enroll=False)
    world.seats.start_at = now if edge == "start" else now - DAY
    world.seats.end_at = now + DAY if edge == "start" else now
    db.session.commit()
    frozen(now)

    in_sql = db.session.scalar(
        select(func.count(Contract.id)).where(
            Contract.id == world.seats.id, Contract.is_live_at(now)
        )
    )
    assert bool(in_sql) is live
    assert world.seats.is_live_at(now) is live
    assert (world.seats.id in _available(seated)) is live
    if live:
        contract_gate(world.seats, world.acme)
        check_assignable(world.seats, world.acme)
        # a second earlier it had not started, in both
        assert not world.seats.is_live_at(now - dt.timedelta(seconds=1))
        assert not db.session.scalar(
            select(func.count(Contract.id)).where(
                Contract.id == world.seats.id,
                Contract.is_live_at(now - dt.timedelta(seconds=1)),
            )
        )
    else:
        with pytest.raises(RedemptionRefused, match="ended on"):
            contract_gate(world.seats, world.acme)
        with pytest.raises(AssignRefused, match="has ended"):
            check_assignable(world.seats, world.acme)


# ----------------------------------------------------------------------------- managed needs SSO


def test_a_code_redeemer_gets_no_managed_access_nor_redemption_an_sso_member_does(
    world: OrgWorld, db: Any
) -> None:
    redeemer = UserFactory(email="redeemer@acme.example")
    join(redeemer, world.acme, sso=False)  # kept until Keycloak names them
    world.seat_user(world.managed, redeemer, enroll=False)
    member = UserFactory(email="member@acme.example")
    join(member, world.acme, sso=True)
    world.seat_user(world.managed, member, enroll=False)
    db.session.commit()

    assert world.managed.id not in _available(redeemer)
    assert world.managed.id in _available(member)

    waiting = UserFactory(email="waiting@acme.example")
    join(waiting, world.acme, sso=False)
    signed_in = UserFactory(email="signed-in@acme.example")
    join(signed_in, world.acme, sso=True)
    db.session.commit()
    with pytest.raises(RedemptionRefused) as refused:
        redeem(waiting, world.free_codes(world.managed)[0].code)
    assert refused.value.code == "managed_needs_sso"
    db.session.rollback()
    assert not redeem(signed_in, world.free_codes(world.managed)[0].code).already_had
    assert world.managed.id in _available(signed_in)


def test_through_sso_is_the_same_rule_in_python_and_sql(world: OrgWorld, db: Any) -> None:
    waiting = UserFactory(email="waiting@acme.example")
    kept = join(waiting, world.acme, sso=False)
    member = UserFactory(email="member@acme.example")
    sso = join(member, world.acme, sso=True)
    db.session.commit()
    assert (kept.through_sso, sso.through_sso) == (False, True)
    in_sql = set(
        db.session.scalars(
            select(Membership.id).where(
                Membership.through_sso, Membership.id.in_([kept.id, sso.id])
            )
        )
    )
    assert in_sql == {sso.id}
