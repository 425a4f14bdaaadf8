"""An ``auto`` contract with a price wants a code as well (b2b-rules section 3, issue 14): its members
do not walk straight into checkout; once they redeemed one of its codes they enroll and pay."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import AuditEvent, Contract, MembershipType, Order
from portal.services.access import available_contracts
from portal.services.contracts import membership_change_preview
from tests.support.factories import CourseRunFactory, MembershipFactory, UserFactory
from tests.support.org_world import OrgWorld


@pytest.fixture
def paid(world: OrgWorld, db: Any) -> tuple[Contract, Any]:
    contract = world.contract(
        "Paid Auto",
        world.acme,
        MembershipType.AUTO,
        seat_limit=3,
        price_per_learner=Decimal("120.00"),
    )
    run = CourseRunFactory(course=world.course, contract=contract, contract_run=True)
    db.session.commit()
    return contract, run


def test_a_member_without_a_code_is_told_to_enter_one(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any, paid: Any
) -> None:
    contract, run = paid
    member = UserFactory(email="member@acme.example")
    MembershipFactory(user=member, organization=world.acme)
    db.session.commit()
    assert contract not in available_contracts(member)
    # The free auto contract of the same organization still comes with membership alone.
    assert world.auto in available_contracts(member)

    login_as(member)
    response = client.post(f"/learner/runs/{run.id}/enroll", follow_redirects=True)
    assert "needs an enrollment code as well" in response.get_data(as_text=True)
    assert db.session.scalar(select(Order).where(Order.user_id == member.id)) is None
    refused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "enrollment.refused")
    ).one()
    assert (refused.after or {}).get("reason") == "code_needed"


def test_after_redeeming_a_code_the_member_goes_to_checkout(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any, paid: Any
) -> None:
    contract, run = paid
    member = UserFactory(email="member@acme.example")
    MembershipFactory(user=member, organization=world.acme)
    db.session.commit()
    [code, *_] = world.free_codes(contract)
    login_as(member)
    assert client.post("/learner/redeem", data={"code": code.code}).status_code == 302
    assert contract in available_contracts(member)
    response = client.post(f"/learner/runs/{run.id}/enroll")
    assert response.status_code == 302 and "/checkout/" in response.headers["Location"]


def test_the_type_change_preview_counts_the_same_rule(world: OrgWorld, db: Any, paid: Any) -> None:
    """A paid code contract switched to auto keeps its seat holders who are members, and gains
    no member who has no code."""
    contract, _ = paid
    contract.membership_type = MembershipType.CODE
    seated, _ = world.seat_learner(contract, "seated@acme.example", enroll=False)
    MembershipFactory(user=seated, organization=world.acme)
    bare = UserFactory(email="bare@acme.example")
    MembershipFactory(user=bare, organization=world.acme)
    db.session.commit()
    preview = membership_change_preview(contract, MembershipType.AUTO)
    assert (preview.gain.count, preview.lose.count) == (0, 0)
    contract.price_per_learner = None
    preview = membership_change_preview(contract, MembershipType.AUTO)
    assert preview.gain.count >= 1 and "bare@acme.example" in preview.gain.sample
