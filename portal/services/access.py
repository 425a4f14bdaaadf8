"""Which contracts a learner can use (b2b-rules section 3).

* ``auto``: every member of the organization (membership comes from SSO reconciliation); with a
  price, a member who also redeemed a code.
* ``code``: whoever holds a seat from a redeemed code.
* ``managed``: a seat from a redeemed code AND a membership confirmed by the organization's own
  credentials as Keycloak records them (``Membership.through_sso``: the login came through an
  identity provider linked to the organization, or Keycloak lists the member as ``MANAGED``).

``holds_access`` is that table as one SQL condition, used for a learner's contracts here and for the
staff preview of a membership type change (``services.contracts``). Dates and active flags
(contract and organization) gate everything: ``Contract.is_live_at``, the
same rule the refusals of redeeming, enrolling and handing out codes give their reason from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import contains_eager

from portal.extensions import db
from portal.models import (
    Contract,
    Membership,
    MembershipType,
    Organization,
    Seat,
    User,
    utcnow,
)


def holds_access(
    user_id: Any, contract: Any, organization_id: Any, membership_type: Any, paid: Any
) -> ColumnElement[bool]:
    """The one SQL rule of who holds access by membership type (dates and active flags aside):
    whether the user ``user_id`` holds access to the contract ``contract`` (its id) of the
    organization ``organization_id``, a contract with a price when ``paid``. Each argument is a
    column or a value; a ``MembershipType`` value picks its own branch (what a contract *would*
    give under that type). An ``auto`` contract with a price wants a code as well (b2b-rules 3):
    its members hold access once they redeemed one (a seat)."""
    member = exists().where(
        Membership.user_id == user_id, Membership.organization_id == organization_id
    )
    sso_member = exists().where(
        Membership.user_id == user_id,
        Membership.organization_id == organization_id,
        Membership.through_sso,
    )
    seated = exists().where(
        Seat.user_id == user_id, Seat.contract_id == contract, Seat.revoked_at.is_(None)
    )
    branches: dict[MembershipType, ColumnElement[bool]] = {
        MembershipType.AUTO: and_(member, or_(~_as_condition(paid), seated)),
        MembershipType.CODE: seated,
        MembershipType.MANAGED: and_(seated, sso_member),
    }
    if isinstance(membership_type, MembershipType):
        return branches[membership_type]
    return or_(*(and_(membership_type == kind, rule) for kind, rule in branches.items()))


def _as_condition(value: Any) -> ColumnElement[bool]:
    return value if isinstance(value, ColumnElement) else (true() if value else false())


def paid_contract() -> ColumnElement[bool]:
    """``Contract.is_paid`` in SQL: a price above zero."""
    return func.coalesce(Contract.price_per_learner, 0) > 0


def _available_query() -> Select[Contract]:
    now: Any = bindparam("now")  # the datetime the statement is run for
    return (
        select(Contract)
        .join(Organization, Contract.organization_id == Organization.id)
        .where(
            Contract.is_live_at(now),
            holds_access(
                bindparam("user_id"),
                Contract.id,
                Contract.organization_id,
                Contract.membership_type,
                paid_contract(),
            ),
        )
        .options(contains_eager(Contract.organization))
        .order_by(Organization.name, Contract.name)
    )


# Built once: most signed-in pages ask, and building the statement cost more than running it.
_AVAILABLE = _available_query()


def available_contracts(user: User) -> list[Contract]:
    """Active, in-date contracts of active organizations that ``user`` may use now (one query)."""
    return list(db.session.scalars(_AVAILABLE, {"user_id": user.id, "now": utcnow()}))
