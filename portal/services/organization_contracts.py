"""What an organization's admins may open: the organizations they manage, and each one's contracts
and codes. A lookup outside the organization is ``NotFound``, the same answer as no such row, so
nobody learns what another organization holds."""

from __future__ import annotations

from sqlalchemy import select

from portal.core.access import managed_organization_ids
from portal.core.domain_errors import NotFound
from portal.extensions import db
from portal.models import Contract, EnrollmentCode, Organization, User


def managed_organizations(user: User) -> list[Organization]:
    """The organizations ``user`` manages, by name; every organization for staff."""
    query = select(Organization).order_by(Organization.name)
    if not user.is_staff:
        query = query.where(Organization.id.in_(managed_organization_ids(user)))
    return list(db.session.scalars(query))


def organization_contracts(organization: Organization) -> list[Contract]:
    """The organization's contracts, active ones first, then by name."""
    return list(
        db.session.scalars(
            select(Contract)
            .where(Contract.organization_id == organization.id)
            .order_by(Contract.active.desc(), Contract.name, Contract.id)
        )
    )


def organization_contract(organization: Organization, contract_id: int) -> Contract:
    contract = db.session.scalar(
        select(Contract).where(
            Contract.id == contract_id, Contract.organization_id == organization.id
        )
    )
    if contract is None:
        raise NotFound("This organization has no such contract.")
    return contract


def contract_code(contract: Contract, code_id: int) -> EnrollmentCode:
    code = db.session.get(EnrollmentCode, code_id)
    if code is None or code.contract_id != contract.id:
        raise NotFound("This contract has no such code.")
    return code
