"""Members added, removed and made org admins by hand (b2b-rules sections 2 and 9).

Each function flushes and audits with before/after; the view commits. When the organization is
linked to Keycloak, a job makes the same change there, so the next sign-in agrees with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from portal.core.domain_errors import Conflict
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import (
    Contract,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    Seat,
    User,
    normalize_email,
)
from portal.services.audit import record_event


@dataclass(frozen=True)
class MemberImpact:
    """What removing a member takes away: access to the organization's active ``auto`` contracts
    and the SSO half of ``managed`` ones (b2b-rules 3). Code seats and enrollments are kept."""

    contracts: int
    seats_kept: int


def _member_state(membership: Membership) -> dict[str, Any]:
    return {
        "user_id": membership.user_id,
        "email": membership.user.email,
        "source": membership.source.value,
        "keep_until_seen": membership.keep_until_seen,
        "is_manager": membership.is_manager,
    }


def add_member(org: Organization, email: str, *, is_manager: bool = False) -> Membership:
    """Add a person to ``org`` by email (b2b-rules 2: staff add members by hand).

    The user is created if needed (normalized email); the membership is STAFF and *keep until
    seen*, so sign-in reconciliation keeps it until Keycloak lists the organization. When the
    organization is linked, a ``keycloak.push_member`` job puts the person in Keycloak too."""
    address = normalize_email(email)
    user = db.session.scalar(select(User).where(User.email == address))
    if user is None:
        user = User(email=address)
        db.session.add(user)
        db.session.flush()
        record_event("user.created", "user", user.id, after={"email": address, "by": "staff"})
    existing = db.session.scalar(
        select(Membership).where(
            Membership.organization_id == org.id, Membership.user_id == user.id
        )
    )
    if existing is not None:
        raise Conflict(f"{address} is already a member of {org.name}.")
    membership = Membership(
        user=user,
        organization=org,
        source=MembershipSource.STAFF,
        keep_until_seen=True,
        is_manager=is_manager,
    )
    db.session.add(membership)
    db.session.flush()
    record_event(
        "organization.member_added",
        "organization",
        org.id,
        organization_id=org.id,
        after=_member_state(membership),
    )
    if org.keycloak_id:
        record_job(
            JobKind.KEYCLOAK_PUSH_MEMBER,
            {"user_id": user.id, "organization_id": org.id},
            object_type="organization",
            object_id=org.id,
            organization_id=org.id,
        )
    return membership


def member_removal_impact(membership: Membership) -> MemberImpact:
    org_id = membership.organization_id
    contracts = db.session.scalar(
        select(func.count(Contract.id)).where(
            Contract.organization_id == org_id,
            Contract.active.is_(True),
            Contract.membership_type.in_([MembershipType.AUTO, MembershipType.MANAGED]),
        )
    )
    seats = db.session.scalar(
        select(func.count(Seat.id))
        .join(Contract, Seat.contract_id == Contract.id)
        .where(
            Contract.organization_id == org_id,
            Seat.user_id == membership.user_id,
            Seat.revoked_at.is_(None),
        )
    )
    return MemberImpact(contracts=contracts or 0, seats_kept=seats or 0)


def remove_member(membership: Membership) -> None:
    """Remove a membership; when the organization is linked, a ``keycloak.remove_member`` job
    takes the person out of the Keycloak organization too (otherwise their next sign-in would
    bring the membership back). Code seats and enrollments are kept (b2b-rules 2)."""
    org = membership.organization
    before = _member_state(membership)
    user_id = membership.user_id
    db.session.delete(membership)
    db.session.flush()
    record_event(
        "organization.member_removed",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
    )
    if org.keycloak_id:
        record_job(
            JobKind.KEYCLOAK_REMOVE_MEMBER,
            {"user_id": user_id, "organization_id": org.id},
            object_type="organization",
            object_id=org.id,
            organization_id=org.id,
        )


def set_manager(membership: Membership, is_manager: bool) -> bool:
    """Mark or unmark an org admin (b2b-rules 9). Returns whether anything changed."""
    if membership.is_manager == is_manager:
        return False
    before = _member_state(membership)
    membership.is_manager = is_manager
    db.session.flush()
    record_event(
        "organization.admin_granted" if is_manager else "organization.admin_revoked",
        "organization",
        membership.organization_id,
        organization_id=membership.organization_id,
        before=before,
        after=_member_state(membership),
    )
    return True
