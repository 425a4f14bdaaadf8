"""Organizations (b2b-rules section 1.2): created and edited in the portal by staff, (de)activated,
and linked to an existing Keycloak organization. Each function flushes and audits with before/after;
the view commits.

Pulling organizations from Keycloak is ``services.organization_sync``; logos are
``services.organization_logos``; members added by hand are ``services.organization_members``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, union

from portal.core.domain_errors import Conflict, DomainError
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import (
    BackgroundJob,
    Contract,
    CourseRun,
    Membership,
    MembershipType,
    Organization,
    Seat,
)
from portal.services.audit import record_event
from portal.services.jobs import start_job
from portal.services.orders import close_pending_orders

# The staff console's pages call these through this module (``services.organizations``).

ORG_KEY_RE = re.compile(r"^[A-Z0-9_]{1,30}$")


def alias_for(org: Organization) -> str:
    """The Keycloak alias to use: the stored one, or the short key in lower case."""
    return org.keycloak_alias or org.key.lower()


@dataclass(frozen=True)
class OrganizationImpact:
    """What deactivating an organization takes away: its active contracts, and the learners who
    can use them now (members, for ``auto`` and ``managed`` contracts, and seat holders)."""

    contracts: int
    learners: int


def _org_state(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "key": org.key,
        "description": org.description,
        "keycloak_alias": org.keycloak_alias,
        "active": org.active,
    }


def key_locked(org: Organization) -> bool:
    """True once a contract of ``org`` has course runs: their edX keys embed the short key."""
    if org.id is None:
        return False
    return (
        db.session.scalar(
            select(CourseRun.id)
            .join(Contract, CourseRun.contract_id == Contract.id)
            .where(Contract.organization_id == org.id)
            .limit(1)
        )
        is not None
    )


def save_organization(org: Organization, values: dict[str, Any]) -> Organization:
    """Create (``org.id`` is None) or update an organization from validated form values.

    The short key never changes once contract runs use it (b2b-rules 1.2); the Keycloak alias
    never changes once the organization is linked (Keycloak refuses alias changes, keycloak.md 6.5)."""
    creating = org.id is None
    before = None if creating else _org_state(org)
    key = values["key"]
    if not ORG_KEY_RE.match(key):
        raise DomainError("Use 1 to 30 upper-case letters, digits or '_' for the key.")
    if not creating and key != org.key and key_locked(org):
        raise DomainError("This organization's contracts have course runs; its key can't change.")
    alias = values.get("keycloak_alias") or None
    if not creating and org.keycloak_id and alias != org.keycloak_alias:
        raise DomainError("This organization is linked to Keycloak; its alias can't change.")
    org.name = values["name"]
    org.key = key
    org.description = values.get("description") or ""
    org.keycloak_alias = alias
    org.active = bool(values.get("active", True))
    if creating:
        db.session.add(org)
    db.session.flush()
    after = _org_state(org)
    if creating or after != before:
        record_event(
            "organization.created" if creating else "organization.updated",
            "organization",
            org.id,
            organization_id=org.id,
            before=before,
            after=after,
        )
    return org


def deactivation_impact(org: Organization) -> OrganizationImpact:
    active_contracts = select(Contract.id).where(
        Contract.organization_id == org.id, Contract.active.is_(True)
    )
    contracts = db.session.scalar(select(func.count()).select_from(active_contracts.subquery()))
    seated = select(Seat.user_id).where(
        Seat.contract_id.in_(active_contracts), Seat.revoked_at.is_(None)
    )
    member_contracts = db.session.scalar(
        select(func.count(Contract.id)).where(
            Contract.organization_id == org.id,
            Contract.active.is_(True),
            Contract.membership_type.in_([MembershipType.AUTO, MembershipType.MANAGED]),
        )
    )
    members = select(Membership.user_id).where(Membership.organization_id == org.id)
    who = (union(seated, members) if member_contracts else union(seated)).subquery()
    learners = db.session.scalar(select(func.count(func.distinct(who.c.user_id))))
    return OrganizationImpact(contracts=contracts or 0, learners=learners or 0)


def set_active(org: Organization, active: bool) -> None:
    """Deactivating closes every contract of the organization to its learners (services.access);
    nothing is deleted, and reactivating restores it."""
    if org.active == active:
        return
    before = {"active": org.active}
    org.active = active
    db.session.flush()
    record_event(
        "organization.activated" if active else "organization.deactivated",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after={"active": active},
    )
    close_pending_orders(organization_id=org.id, when_not_live=True)  # b2b-rules 10


def request_keycloak_link(org: Organization, alias: str) -> BackgroundJob:
    """Record the job that links ``org`` to the existing Keycloak organization ``alias``."""
    if org.keycloak_id:
        raise Conflict(f"{org.name} is already linked to Keycloak ({org.keycloak_alias}).")
    other = db.session.scalar(
        select(Organization).where(Organization.keycloak_alias == alias, Organization.id != org.id)
    )
    if other is not None:
        raise Conflict(f"{other.name} ({other.key}) already uses the Keycloak alias {alias}.")
    return start_job(
        JobKind.KEYCLOAK_LINK_ORGANIZATION,
        {"organization_id": org.id, "alias": alias},
        about=("organization", org.id),
        organization_id=org.id,
    )


def link_to_keycloak(org: Organization, kc_id: str, alias: str, *, actor_kind: str) -> None:
    """Store the Keycloak id and alias of ``org`` (the link job, after finding it by alias)."""
    before = {"keycloak_id": org.keycloak_id, "keycloak_alias": org.keycloak_alias}
    org.keycloak_id = kc_id
    org.keycloak_alias = alias
    db.session.flush()
    record_event(
        "keycloak.organization_linked",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after={"keycloak_id": kc_id, "keycloak_alias": alias},
        actor_kind=actor_kind,
    )
