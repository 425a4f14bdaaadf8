"""The composed world: a test's data built from the factories, and the blocks every folder's world
is made of.

``World`` keeps the session and what it made: organizations (Acme as the Keycloak emulator's demo
realm knows it), contracts with their seat codes, contract runs, and learners who redeemed one of a
contract's free codes (a code use, its redemption, the seat, and an enrollment in the contract's
run). The scenes are subclasses or short builders on top of it: ``OrgWorld`` (the org admin scene,
tests/support/org_world.py) and the security suite's ``SecurityWorld`` that extends it, the fault
kit's learner journey (tests/faults/conftest.py) and the redemption tests' world.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from portal.models import (
    Contract,
    CourseRun,
    EdxSyncState,
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
from portal.services import seat_codes as code_service
from tests.support.factories import (
    CodeRedemptionFactory,
    ContractFactory,
    EnrollmentFactory,
    MembershipFactory,
    OrganizationFactory,
    SeatFactory,
    UserFactory,
)

ACME_KEYCLOAK_ID = "0a000000-0000-4000-8000-00000000ac01"  # Acme in the emulator's demo realm


def acme(**values: Any) -> Organization:
    """Acme, linked to its organization in the Keycloak emulator's demo realm (``values`` may say
    otherwise, e.g. ``keycloak_id=None`` for a portal-only Acme)."""
    values = {"keycloak_id": ACME_KEYCLOAK_ID, **values}
    values.setdefault("keycloak_alias", "acme" if values["keycloak_id"] else None)
    return OrganizationFactory(**{"name": "Acme", "key": "ACME", **values})


def join(user: User, org: Organization, *, sso: bool = True) -> Membership:
    """``user`` a member of ``org``: signed in through the organization's own identity provider
    (``sso``), or joined by redeeming one of its codes (a code membership, kept until Keycloak
    names them)."""
    return MembershipFactory(
        user=user,
        organization=org,
        source=MembershipSource.SSO if sso else MembershipSource.CODE,
        keep_until_seen=not sso,
        managed_by_idp=sso,
    )


def redeem(code: EnrollmentCode, user: User, **seat: Any) -> Seat:
    """``user`` redeemed ``code``: one more use of it, the redemption, and the seat it gave them on
    the code's contract (``seat`` values such as ``claimed_at``)."""
    code.times_redeemed += 1
    redemption = CodeRedemptionFactory(code=code, user=user)
    return SeatFactory(
        contract=code.contract,
        user=user,
        source=SeatSource.CODE,
        redemption_id=redemption.id,
        **seat,
    )


class World:
    """A test's data, made through the factories on ``db``'s session."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.runs: list[CourseRun] = []  # the contract runs, where ``seat_user`` enrolls

    def contract(
        self, name: str, org: Organization, mtype: MembershipType = MembershipType.CODE, **kw: Any
    ) -> Contract:
        """A contract of ``org`` (its slug made from its name) with its seat codes: one one-time
        code per seat, as staff's contract form makes them."""
        contract = ContractFactory(organization=org, name=name, membership_type=mtype, **kw)
        code_service.adjust_seat_codes(contract)
        return contract

    def free_codes(self, contract: Contract) -> list[EnrollmentCode]:
        """``contract``'s codes nobody used or was assigned, oldest first."""
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
        user = UserFactory(email=email, name=name)
        return user, self.seat_user(contract, user, claimed_at=claimed_at, enroll=enroll)

    def seat_user(
        self,
        contract: Contract,
        user: User,
        *,
        claimed_at: dt.datetime | None = None,
        enroll: bool = True,
    ) -> Seat:
        """``user`` redeems one of ``contract``'s free codes (and enrolls in its run, if it has one
        among the world's runs)."""
        seat = redeem(self.free_codes(contract)[0], user, claimed_at=claimed_at or utcnow())
        run = next((r for r in self.runs if r.contract_id == contract.id), None)
        if enroll and run is not None:
            EnrollmentFactory(user=user, course_run=run, edx_state=EdxSyncState.SYNCED)
        self.db.session.commit()
        return seat


__all__ = ["ACME_KEYCLOAK_ID", "World", "acme", "join", "redeem"]
