"""The test kit's factories make valid rows: every one of them commits as it comes, related rows
included, and two of a kind never collide."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from portal.models import MembershipType, RedemptionType
from tests.support import factories as f

EVERY_FACTORY = [
    f.OrganizationFactory,
    f.UserFactory,
    f.MembershipFactory,
    f.ContractFactory,
    f.CourseFactory,
    f.CourseRunFactory,
    f.ProgramFactory,
    f.ProgramCourseFactory,
    f.ContractProgramFactory,
    f.EnrollmentCodeFactory,
    f.CodeRedemptionFactory,
    f.SeatFactory,
    f.EnrollmentFactory,
    f.OrderFactory,
    f.BackgroundJobFactory,
    f.OutboxMessageFactory,
]


@pytest.mark.parametrize("factory", EVERY_FACTORY, ids=lambda made: made.__name__)
def test_every_factory_makes_valid_unique_rows(db: Any, factory: Any) -> None:
    first, second = factory.create_batch(2)
    db.session.commit()
    assert first.id is not None and second.id is not None and first.id != second.id


def test_related_rows_are_the_ones_given(db: Any) -> None:
    acme = f.OrganizationFactory(name="Acme", key="ACME")
    paid = f.ContractFactory(
        organization=acme, name="Paid Seats", price_per_learner=Decimal("149.00")
    )
    run = f.CourseRunFactory(contract=paid, contract_run=True)
    enrollment = f.EnrollmentFactory(course_run=run)
    order = f.OrderFactory(contract=paid, user=enrollment.user)
    db.session.commit()
    assert (paid.organization_id, paid.slug, paid.membership_type) == (
        acme.id,
        "paid-seats",
        MembershipType.CODE,
    )
    assert run.contract_id == paid.id and run.restriction_type == "custom-b2b-enterprise"
    assert enrollment.contract_id == paid.id
    assert (order.contract_id, order.total) == (paid.id, Decimal("149.00"))


def test_code_uses_follow_the_redemption_type(db: Any) -> None:
    one_time = f.EnrollmentCodeFactory()
    per_learner = f.EnrollmentCodeFactory(redemption_type=RedemptionType.ONE_PER_LEARNER)
    multi = f.EnrollmentCodeFactory(redemption_type=RedemptionType.MULTI_USE, uses=3)
    db.session.commit()
    assert (one_time.max_uses, per_learner.max_uses, multi.max_uses) == (1, None, 3)


def test_build_leaves_the_session_alone(db: Any) -> None:
    built = f.ContractFactory.build(unlimited=True)
    assert built not in db.session and built.organization not in db.session
    assert (built.unlimited_seats, built.seat_limit) == (True, None)
