"""Which contracts a learner can use (b2b-rules section 3).

* ``auto``: every member of the organization (membership comes from SSO reconciliation).
* ``code``: whoever holds a seat from a redeemed code.
* ``managed``: a seat from a redeemed code AND a membership confirmed by the organization's own
  sign-in (source SSO, or a code membership whose *keep until seen* was cleared by the claim).

Dates and active flags (contract and organization) gate everything: ``Contract.is_live_at``, the
same rule the refusals of redeeming, enrolling and handing out codes give their reason from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
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


def _available_query() -> Select[Contract]:
    member = select(Membership.organization_id).where(Membership.user_id == bindparam("user_id"))
    sso_member = select(Membership.organization_id).where(
        Membership.user_id == bindparam("user_id"), Membership.through_sso
    )
    seated = select(Seat.contract_id).where(
        Seat.user_id == bindparam("user_id"), Seat.revoked_at.is_(None)
    )
    now: Any = bindparam("now")  # the datetime the statement is run for
    return (
        select(Contract)
        .join(Organization, Contract.organization_id == Organization.id)
        .where(
            Contract.is_live_at(now),
            or_(
                and_(
                    Contract.membership_type == MembershipType.AUTO,
                    Contract.organization_id.in_(member),
                ),
                and_(Contract.membership_type == MembershipType.CODE, Contract.id.in_(seated)),
                and_(
                    Contract.membership_type == MembershipType.MANAGED,
                    Contract.id.in_(seated),
                    Contract.organization_id.in_(sso_member),
                ),
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
