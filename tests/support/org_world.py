"""Two organizations with contracts, admins, codes and learners, for the org admin tests."""

from __future__ import annotations

from typing import Any

# Many learners at once come from the same helper the benchmark uses.
from portal.demo import add_bulk_learners as bulk_learners
from portal.models import MembershipType
from tests.support.factories import (
    CourseFactory,
    CourseRunFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.support.world import World, acme


class OrgWorld(World):
    """ACME (admin Grace) with a 10-seat code contract, an auto contract and a managed one;
    GLOBEX (admin Gus) with its own code contract; Lee, a learner who manages nothing."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.acme = acme()
        self.globex = OrganizationFactory(name="Globex", key="GLOBEX")
        self.grace = UserFactory(email="grace@acme.example", name="Grace Admin")
        self.gus = UserFactory(email="gus@globex.example", name="Gus Admin")
        self.lee = UserFactory(email="lee@example.com", name="Lee Learner")
        self.staff = UserFactory(email="staff@portal.example", name="Sam Staff", staff=True)
        MembershipFactory(user=self.grace, organization=self.acme, manager=True)
        MembershipFactory(user=self.gus, organization=self.globex, manager=True)
        self.seats = self.contract("Seats", self.acme, MembershipType.CODE, seat_limit=10)
        self.auto = self.contract("Auto", self.acme, MembershipType.AUTO, seat_limit=100)
        self.managed = self.contract("Managed", self.acme, MembershipType.MANAGED, seat_limit=5)
        self.other = self.contract("Globex Seats", self.globex, MembershipType.CODE, seat_limit=4)
        self.course = CourseFactory(key="B2B+DS101", number="DS101", title="Data Science 101")
        self.run = CourseRunFactory(
            course=self.course,
            course_key="course-v1:ACME+DS101+1T1C2026",
            contract=self.seats,
            run_number=1,
        )
        self.other_run = CourseRunFactory(
            course=self.course,
            course_key="course-v1:GLOBEX+DS101+1T4C2026",
            title="Data Science 101 (Globex)",
            contract=self.other,
            run_number=1,
        )
        self.runs = [self.run, self.other_run]
        db.session.commit()


__all__ = ["OrgWorld", "bulk_learners"]
