"""What the staff pages about organizations read: the list with member counts, an organization's
members page and its recent Keycloak jobs, and one membership. Plain queries, no writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload

from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.models import BackgroundJob, Contract, Membership, Organization, User
from portal.services.outcomes import OutcomeSummary, merged, summaries_by_contract

RECENT_KEYCLOAK_JOBS = 5


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def organizations_by_name() -> list[Organization]:
    return list(db.session.scalars(select(Organization).order_by(Organization.name)))


def organizations_page(q: str, page: int) -> Page[tuple[Organization, int]]:
    """Organizations by name with their member counts, matching ``q`` in the name or key (any
    case, ``%`` and ``_`` taken literally)."""
    members = (
        select(Membership.organization_id, func.count(Membership.id).label("members"))
        .group_by(Membership.organization_id)
        .subquery()
    )
    query = (
        select(Organization, func.coalesce(members.c.members, 0))
        .outerjoin(members, members.c.organization_id == Organization.id)
        .order_by(Organization.name, Organization.id)
    )
    if q:
        like = _like(q)
        query = query.where(
            or_(
                Organization.name.ilike(like, escape="\\"),
                Organization.key.ilike(like, escape="\\"),
            )
        )
    return paginate(cast("Select[Any]", query), page, args={"q": q})


@dataclass(frozen=True)
class OrganizationPage:
    members: Page[Membership]
    jobs: list[BackgroundJob]
    contracts: list[Contract]
    outcomes: dict[int, OutcomeSummary]  # by contract id

    @property
    def all_outcomes(self) -> OutcomeSummary:
        return merged(self.outcomes[c.id] for c in self.contracts)


def organization_page(org: Organization, page: int) -> OrganizationPage:
    """A page of the organization's members (by email) and its latest Keycloak jobs."""
    members = (
        select(Membership)
        .join(User, Membership.user_id == User.id)
        .options(joinedload(Membership.user))
        .where(Membership.organization_id == org.id)
        .order_by(User.email)
    )
    jobs = db.session.scalars(
        select(BackgroundJob)
        .where(BackgroundJob.organization_id == org.id, BackgroundJob.kind.like("keycloak.%"))
        .order_by(BackgroundJob.id.desc())
        .limit(RECENT_KEYCLOAK_JOBS)
    ).all()
    contracts = list(
        db.session.scalars(
            select(Contract).where(Contract.organization_id == org.id).order_by(Contract.name)
        )
    )
    return OrganizationPage(
        members=paginate(members, page, scalars=True),
        jobs=list(jobs),
        contracts=contracts,
        outcomes=summaries_by_contract(c.id for c in contracts),
    )


def find_membership(org: Organization, user_id: int) -> Membership | None:
    """The user's membership of ``org``, with the user loaded."""
    return db.session.scalar(
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.organization_id == org.id, Membership.user_id == user_id)
    )
