"""Two organizations with contracts, admins, codes and learners, for the org admin tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from portal.models import (
    CodeRedemption,
    Contract,
    Course,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    EnrollmentCode,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    Seat,
    SeatSource,
    User,
    utcnow,
)
from portal.services import codes as code_service

# Many learners at once come from the same helper the benchmark uses.
from portal.services.demo_data import add_bulk_learners as bulk_learners


class OrgWorld:
    """ACME (admin Grace) with a 10-seat code contract, an auto contract and a managed one;
    GLOBEX (admin Gus) with its own code contract; Lee, a learner who manages nothing."""

    def __init__(self, db: Any) -> None:
        self.db = db
        s = db.session
        self.acme = Organization(
            name="Acme",
            key="ACME",
            keycloak_id="0a000000-0000-4000-8000-00000000ac01",
            keycloak_alias="acme",
        )
        self.globex = Organization(name="Globex", key="GLOBEX")
        s.add_all([self.acme, self.globex])
        s.flush()
        self.grace = User(email="grace@acme.example", name="Grace Admin")
        self.gus = User(email="gus@globex.example", name="Gus Admin")
        self.lee = User(email="lee@example.com", name="Lee Learner")
        self.staff = User(email="staff@portal.example", name="Sam Staff", is_staff=True)
        s.add_all([self.grace, self.gus, self.lee, self.staff])
        s.flush()
        s.add_all(
            [
                Membership(
                    user_id=self.grace.id,
                    organization_id=self.acme.id,
                    source=MembershipSource.STAFF,
                    is_manager=True,
                ),
                Membership(
                    user_id=self.gus.id,
                    organization_id=self.globex.id,
                    source=MembershipSource.STAFF,
                    is_manager=True,
                ),
            ]
        )
        self.seats = self.contract("Seats", self.acme, MembershipType.CODE, seat_limit=10)
        self.auto = self.contract("Auto", self.acme, MembershipType.AUTO, seat_limit=100)
        self.managed = self.contract("Managed", self.acme, MembershipType.MANAGED, seat_limit=5)
        self.other = self.contract("Globex Seats", self.globex, MembershipType.CODE, seat_limit=4)
        self.course = Course(key="B2B+DS101", number="DS101", title="Data Science 101")
        s.add(self.course)
        s.flush()
        self.run = CourseRun(
            course_id=self.course.id,
            course_key="course-v1:ACME+DS101+1T1C2026",
            title="Data Science 101",
            contract_id=self.seats.id,
            run_number=1,
            edx_state=EdxRunState.READY,
        )
        self.other_run = CourseRun(
            course_id=self.course.id,
            course_key="course-v1:GLOBEX+DS101+1T4C2026",
            title="Data Science 101 (Globex)",
            contract_id=self.other.id,
            run_number=1,
            edx_state=EdxRunState.READY,
        )
        s.add_all([self.run, self.other_run])
        s.commit()

    def contract(self, name: str, org: Organization, mtype: MembershipType, **kw: Any) -> Contract:
        contract = Contract(
            organization_id=org.id,
            name=name,
            slug=name.lower().replace(" ", "-"),
            membership_type=mtype,
            **kw,
        )
        self.db.session.add(contract)
        self.db.session.flush()
        code_service.adjust_seat_codes(contract)
        return contract

    def free_codes(self, contract: Contract) -> list[EnrollmentCode]:
        return list(
            self.db.session.scalars(
                select(EnrollmentCode)
                .where(
                    EnrollmentCode.contract_id == contract.id,
                    EnrollmentCode.times_redeemed == 0,
                    EnrollmentCode.assigned_email.is_(None),
                    EnrollmentCode.deactivated_at.is_(None),
                )
                .order_by(EnrollmentCode.id)
            )
        )

    def seat_learner(
        self,
        contract: Contract,
        email: str,
        name: str = "",
        *,
        claimed_at: dt.datetime | None = None,
        enroll: bool = True,
    ) -> tuple[User, Seat]:
        """A learner who redeemed one of ``contract``'s free codes (and enrolled in its run)."""
        user = User(email=email, name=name)
        self.db.session.add(user)
        self.db.session.flush()
        return user, self.seat_user(contract, user, claimed_at=claimed_at, enroll=enroll)

    def seat_user(
        self,
        contract: Contract,
        user: User,
        *,
        claimed_at: dt.datetime | None = None,
        enroll: bool = True,
    ) -> Seat:
        """``user`` redeems one of ``contract``'s free codes (and enrolls in its run)."""
        s = self.db.session
        code = self.free_codes(contract)[0]
        code.times_redeemed = 1
        redemption = CodeRedemption(code_id=code.id, user_id=user.id, contract_id=contract.id)
        s.add(redemption)
        s.flush()
        seat = Seat(
            contract_id=contract.id,
            user_id=user.id,
            source=SeatSource.CODE,
            redemption_id=redemption.id,
            claimed_at=claimed_at or utcnow(),
        )
        s.add(seat)
        run = self.run if contract.id == self.seats.id else self.other_run
        if enroll and run.contract_id == contract.id:
            s.add(
                Enrollment(
                    user_id=user.id,
                    course_run_id=run.id,
                    contract_id=contract.id,
                    edx_state=EdxSyncState.SYNCED,
                )
            )
        s.commit()
        return seat


__all__ = ["OrgWorld", "bulk_learners"]
