"""factory_boy factories for the portal's models: each makes a valid row with unique defaults.

``ThingFactory(**values)`` adds the row to the test's session and flushes it (so it has its id and
its constraints have been checked); the test commits when it is ready, as the services do.
``ThingFactory.build(**values)`` makes the object without touching the session, for the constraint
tests that add it themselves and expect the database to refuse it. ``create_batch(n)`` makes ``n``.

Give only what the test is about; everything else is made up, unique per run (``Sequence``).
Related rows are passed as objects (``ContractFactory(organization=acme)``); one left out is made
by its own factory. Rows that only name another by id (an enrollment's contract, an order's
contract) take it from the objects given (``EnrollmentFactory(course_run=run)`` is on the run's
contract; ``OrderFactory(contract=paid)``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory
from factory.alchemy import SQLAlchemyModelFactory

from portal.extensions import db
from portal.models import (
    RESTRICTION_B2B,
    BackgroundJob,
    CodeRedemption,
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    EdxRunState,
    Enrollment,
    EnrollmentCode,
    JobState,
    Membership,
    MembershipSource,
    MembershipType,
    Order,
    Organization,
    OutboxMessage,
    Program,
    ProgramCourse,
    RedemptionType,
    Seat,
    SeatSource,
    User,
)


def _session() -> Any:
    return db.session


def slug_of(name: str) -> str:
    """The slug a contract named ``name`` gets by default: ``"Globex Seats"`` is ``globex-seats``."""
    return name.lower().replace(" ", "-")


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = _session
        sqlalchemy_session_persistence = "flush"


# ----------------------------------------------------------------------------- people


class OrganizationFactory(BaseFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    key = factory.Sequence(lambda n: f"ORG{n}")


class UserFactory(BaseFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@factory.example")
    # As after a sign-in through a realm that verifies addresses; ``email_verified=False`` for the
    # cases where it matters (an assigned code is redeemed only from its verified address).
    email_verified = True

    class Params:
        staff = factory.Trait(is_staff=True)


class MembershipFactory(BaseFactory):
    """A member of an organization (added by staff unless ``source`` says otherwise);
    ``manager=True`` makes them its org admin."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    source = MembershipSource.STAFF

    class Params:
        manager = factory.Trait(is_manager=True)


# ----------------------------------------------------------------------------- contracts


class ContractFactory(BaseFactory):
    """A 10-seat code contract unless told otherwise; ``unlimited=True`` for unlimited seats."""

    class Meta:
        model = Contract

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Contract {n}")
    slug = factory.LazyAttribute(lambda o: slug_of(o.name))
    membership_type = MembershipType.CODE
    seat_limit = 10

    class Params:
        unlimited = factory.Trait(unlimited_seats=True, seat_limit=None)


class CourseFactory(BaseFactory):
    class Meta:
        model = Course

    number = factory.Sequence(lambda n: f"C{n}.1x")
    key = factory.LazyAttribute(lambda o: f"B2B+{o.number}")
    title = factory.LazyAttribute(lambda o: f"Course {o.number}")


class CourseRunFactory(BaseFactory):
    """A run of ``course`` with the course's title, ready in edX. Given a ``contract``, it is that
    contract's run (``contract_run=True`` also marks it B2B-restricted, as contract runs are)."""

    class Meta:
        model = CourseRun

    course = factory.SubFactory(CourseFactory)
    course_key = factory.Sequence(lambda n: f"course-v1:FACTORY+RUN+{n}")
    title = factory.SelfAttribute("course.title")
    contract = None
    edx_state = EdxRunState.READY

    class Params:
        contract_run = factory.Trait(restriction_type=RESTRICTION_B2B)


class ProgramFactory(BaseFactory):
    class Meta:
        model = Program

    key = factory.Sequence(lambda n: f"program-v1:FACTORY+P{n}")
    title = factory.Sequence(lambda n: f"Program {n}")


class ProgramCourseFactory(BaseFactory):
    class Meta:
        model = ProgramCourse

    program = factory.SubFactory(ProgramFactory)
    course = factory.SubFactory(CourseFactory)
    position = 0


class ContractProgramFactory(BaseFactory):
    class Meta:
        model = ContractProgram

    contract = factory.SubFactory(ContractFactory)
    program = factory.SubFactory(ProgramFactory)


# ----------------------------------------------------------------------------- codes and seats


def _max_uses(code: Any) -> int | None:
    return {RedemptionType.ONE_TIME: 1, RedemptionType.ONE_PER_LEARNER: None}.get(
        code.redemption_type, code.uses
    )


class EnrollmentCodeFactory(BaseFactory):
    """A one-time code unless told otherwise; ``max_uses`` follows the redemption type (a
    multi-use code takes ``uses``, unlimited when left out)."""

    class Meta:
        model = EnrollmentCode

    code = factory.Sequence(lambda n: f"FACTORY{n:06d}")
    contract = factory.SubFactory(ContractFactory)
    redemption_type = RedemptionType.ONE_TIME
    max_uses = factory.LazyAttribute(_max_uses)

    class Params:
        uses = None


class CodeRedemptionFactory(BaseFactory):
    class Meta:
        model = CodeRedemption

    code = factory.SubFactory(EnrollmentCodeFactory)
    user = factory.SubFactory(UserFactory)
    contract_id = factory.LazyAttribute(lambda o: o.code.contract_id)


class SeatFactory(BaseFactory):
    class Meta:
        model = Seat

    contract = factory.SubFactory(ContractFactory)
    user = factory.SubFactory(UserFactory)
    source = SeatSource.CODE


# ----------------------------------------------------------------------------- enrollments, orders


class EnrollmentFactory(BaseFactory):
    """``user`` enrolled in ``course_run``, on the run's contract."""

    class Meta:
        model = Enrollment

    user = factory.SubFactory(UserFactory)
    course_run = factory.SubFactory(CourseRunFactory)
    contract_id = factory.LazyAttribute(lambda o: o.course_run.contract_id)


class OrderFactory(BaseFactory):
    """A pending order of ``user`` on ``contract`` for the contract's price."""

    class Meta:
        model = Order

    reference = factory.Sequence(lambda n: f"ORD-FACTORY-{n}")
    user = factory.SubFactory(UserFactory)
    contract_id = factory.SelfAttribute("contract.id")
    total = factory.LazyAttribute(lambda o: o.contract.price_per_learner or Decimal("0"))

    class Params:
        contract = factory.SubFactory(ContractFactory)


# ----------------------------------------------------------------------------- jobs and mail


class BackgroundJobFactory(BaseFactory):
    """A pending ``system.ping`` job, recorded directly (nothing dispatches it)."""

    class Meta:
        model = BackgroundJob

    kind = "system.ping"
    payload = factory.LazyFunction(dict)
    state = JobState.PENDING


class OutboxMessageFactory(BaseFactory):
    class Meta:
        model = OutboxMessage

    to_email = factory.Sequence(lambda n: f"recipient{n}@factory.example")
    subject = factory.Sequence(lambda n: f"Message {n}")
    body_text = "Hello"


__all__ = [
    "BackgroundJobFactory",
    "CodeRedemptionFactory",
    "ContractFactory",
    "ContractProgramFactory",
    "CourseFactory",
    "CourseRunFactory",
    "EnrollmentCodeFactory",
    "EnrollmentFactory",
    "MembershipFactory",
    "OrderFactory",
    "OrganizationFactory",
    "OutboxMessageFactory",
    "ProgramCourseFactory",
    "ProgramFactory",
    "SeatFactory",
    "UserFactory",
    "slug_of",
]
