"""What the staff pages about organizations read (the list itself: ``staff_listing``): an
organization's members page and its recent Keycloak jobs, and one membership. Plain queries, no writes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.models import BackgroundJob, Contract, Membership, Organization, User
from portal.services.outcomes import OutcomeSummary, merged, summaries_by_contract

RECENT_KEYCLOAK_JOBS = 5


def organizations_by_name() -> list[Organization]:
    return list(db.session.scalars(select(Organization).order_by(Organization.name)))


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
