"""The database guards the domain's invariants itself: each constraint is tried and must refuse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from portal.models import (
    AuditEvent,
    CodeRedemption,
    Contract,
    CourseRun,
    EnrollmentCode,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    RedemptionType,
    SeatSource,
    utcnow,
)
from tests.support.factories import (
    ContractFactory,
    CourseFactory,
    EnrollmentCodeFactory,
    OrganizationFactory,
    SeatFactory,
    UserFactory,
)

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    org = OrganizationFactory(name="Acme", key="ACME")
    user = UserFactory(email="ada@acme.example", name="Ada")
    course = CourseFactory(key="ACME+DS.101x", number="DS.101x", title="Data")
    contract = ContractFactory(organization=org, name="Academy", seat_limit=10)
    db.session.commit()
    return {"org": org, "user": user, "course": course, "contract": contract}


def assert_refused(db: Any, *objects: Any) -> None:
    db.session.add_all(objects)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def code(contract: Contract, value: str = "ABCDEFGHJK", **kw: Any) -> EnrollmentCode:
    """A one-time code of ``contract``, not added to the session yet."""
    return EnrollmentCodeFactory.build(code=value, contract=contract, **kw)


def test_duplicate_code_is_refused(db: Any, world: dict[str, Any]) -> None:
    db.session.add(code(world["contract"]))
    db.session.commit()
    assert_refused(db, code(world["contract"]))


def test_duplicate_seat_is_refused(db: Any, world: dict[str, Any]) -> None:
    seat = dict(contract=world["contract"], user=world["user"], source=SeatSource.CODE)
    SeatFactory(**seat)
    db.session.commit()
    assert_refused(db, SeatFactory.build(**seat))


def test_duplicate_membership_is_refused(db: Any, world: dict[str, Any]) -> None:
    m = dict(user_id=world["user"].id, organization_id=world["org"].id, source=MembershipSource.SSO)
    db.session.add(Membership(**m))
    db.session.commit()
    assert_refused(db, Membership(**m))


def test_duplicate_course_key_is_refused(db: Any, world: dict[str, Any]) -> None:
    key = "course-v1:ACME+DS.101x+1T1C2026"
    db.session.add(CourseRun(course_id=world["course"].id, course_key=key, title="Run"))
    db.session.commit()
    assert_refused(db, CourseRun(course_id=world["course"].id, course_key=key, title="Again"))


def test_duplicate_code_redemption_is_refused(db: Any, world: dict[str, Any]) -> None:
    c = code(world["contract"])
    db.session.add(c)
    db.session.flush()
    r = dict(code_id=c.id, user_id=world["user"].id, contract_id=world["contract"].id)
    db.session.add(CodeRedemption(**r))
    db.session.commit()
    assert_refused(db, CodeRedemption(**r))


def test_only_one_source_run_per_course(db: Any, world: dict[str, Any]) -> None:
    cid = world["course"].id
    db.session.add(
        CourseRun(course_id=cid, course_key="course-v1:A+B+SOURCE", title="S", is_source_run=True)
    )
    db.session.add(CourseRun(course_id=cid, course_key="course-v1:A+B+2026", title="P"))
    db.session.commit()
    assert_refused(
        db,
        CourseRun(
            course_id=cid, course_key="course-v1:A+B+SOURCE2", title="S2", is_source_run=True
        ),
    )


def test_duplicate_organization_key_and_keycloak_id_are_refused(
    db: Any, world: dict[str, Any]
) -> None:
    assert_refused(db, OrganizationFactory.build(key="ACME"))
    OrganizationFactory(key="K1", keycloak_id="6f0c8f5e-0000-4000-8000-000000000001")
    db.session.commit()
    assert_refused(
        db, OrganizationFactory.build(key="K2", keycloak_id="6f0c8f5e-0000-4000-8000-000000000001")
    )


def test_several_organizations_without_keycloak_id_are_fine(db: Any, world: dict[str, Any]) -> None:
    OrganizationFactory(key="A"), OrganizationFactory(key="B")
    db.session.commit()
    assert (
        db.session.scalar(select(Organization).where(Organization.key == "B")).keycloak_id is None
    )


def test_organization_key_longer_than_30_is_refused(db: Any) -> None:
    with pytest.raises((IntegrityError, DBAPIError)):
        OrganizationFactory(key="K" * 31)
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(
    "values",
    [
        {"unlimited_seats": False, "seat_limit": None},  # limited needs a number
        {"unlimited_seats": True, "seat_limit": 5},  # unlimited has no number
        {"unlimited_seats": False, "seat_limit": -1},
        {"price_per_learner": Decimal("-1.00")},
        {"start_at": NOW, "end_at": NOW - dt.timedelta(days=1)},
        {"start_at": NOW, "end_at": NOW},
    ],
)
def test_contract_checks(db: Any, world: dict[str, Any], values: dict[str, Any]) -> None:
    base: dict[str, Any] = dict(name="C", membership_type=MembershipType.AUTO, seat_limit=1)
    assert_refused(db, ContractFactory.build(organization=world["org"], **(base | values)))


def test_contract_slug_unique_per_organization(db: Any, world: dict[str, Any]) -> None:
    assert_refused(
        db,
        ContractFactory.build(
            organization=world["org"],
            name="Again",
            slug="academy",
            membership_type=MembershipType.AUTO,
            unlimited=True,
        ),
    )


def test_zero_seats_is_a_real_limit_not_unlimited(db: Any, world: dict[str, Any]) -> None:
    c = ContractFactory(organization=world["org"], name="Z", seat_limit=0)
    db.session.commit()
    assert c.seat_limit == 0 and c.unlimited_seats is False


@pytest.mark.parametrize(
    "values",
    [
        {"code": "lowercase"},
        {"redemption_type": RedemptionType.ONE_TIME, "max_uses": 2},
        {"redemption_type": RedemptionType.MULTI_USE, "max_uses": 0},
        {"redemption_type": RedemptionType.ONE_PER_LEARNER, "max_uses": 3},
        {"times_redeemed": 2},  # beyond max_uses=1
        {"activates_at": NOW, "expires_at": NOW - dt.timedelta(hours=1)},
        {"discount_amount": Decimal("-5")},
        {"discount_percent": Decimal("0")},
        {"discount_percent": Decimal("100.5")},
        {"discount_percent": Decimal("10"), "discount_amount": Decimal("5")},
    ],
)
def test_code_checks(db: Any, world: dict[str, Any], values: dict[str, Any]) -> None:
    fields = {"code": "ABCDEFGHJK", **values}
    assert_refused(db, EnrollmentCodeFactory.build(contract=world["contract"], **fields))


def test_email_must_be_lowercase(db: Any) -> None:
    assert_refused(db, UserFactory.build(email="Ada@Example.com"))


def test_restriction_type_is_checked(db: Any, world: dict[str, Any]) -> None:
    assert_refused(
        db,
        CourseRun(
            course_id=world["course"].id,
            course_key="course-v1:X+Y+Z",
            title="R",
            restriction_type="made-up",
        ),
    )


def test_money_and_time_round_trip_exactly(db: Any, world: dict[str, Any]) -> None:
    contract = world["contract"]
    contract.price_per_learner = Decimal("149.99")
    contract.start_at = NOW
    db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Contract, contract.id)
    assert fresh.price_per_learner == Decimal("149.99")
    assert isinstance(fresh.price_per_learner, Decimal)
    assert fresh.start_at == NOW and fresh.start_at.tzinfo is not None


def test_naive_datetimes_are_refused(db: Any, world: dict[str, Any]) -> None:
    world["contract"].start_at = dt.datetime(2026, 1, 1)
    with pytest.raises(Exception, match="naive"):
        db.session.commit()
    db.session.rollback()


def test_audit_log_is_append_only(db: Any) -> None:
    db.session.add(AuditEvent(action="x.made", object_type="x", object_id="1", reason="first"))
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(update(AuditEvent).values(reason="rewritten"))
        db.session.commit()
    db.session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(delete(AuditEvent))
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.reason)) == "first"


def test_seat_count_per_contract_uses_index(db: Any, world: dict[str, Any]) -> None:
    # A smoke check that the seats table is queryable the way the services count it.
    SeatFactory(contract=world["contract"], user=world["user"], claimed_at=utcnow())
    db.session.commit()
    n = db.session.scalar(
        text("SELECT count(*) FROM seats WHERE contract_id = :c AND revoked_at IS NULL"),
        {"c": world["contract"].id},
    )
    assert n == 1
