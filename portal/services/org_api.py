"""What the organization API (``/api/org/v1``) reads: one organization's contracts, seats,
learners with their outcomes, and codes, as plain rows, a page at a time.

Every query is scoped to the organization in SQL (through ``contracts.organization_id``), so no
row of another organization can come back, and a contract of another organization is
``NotFound`` exactly like a contract that does not exist. A page is two statements whatever the
number of rows (the total, then the page's rows with everything they show joined in); seats in
use and active enrollments come from the running totals the database keeps (``models.usage``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, case, func, select

from portal.core.domain_errors import NotFound
from portal.extensions import db
from portal.models import (
    CERTIFICATE_EARNED,
    Contract,
    ContractRunEnrollments,
    ContractSeatDay,
    CourseRun,
    Enrollment,
    EnrollmentCode,
    LearningOutcome,
    Organization,
    Seat,
    User,
    utcnow,
)
from portal.models.codes import CodeStatus
from portal.models.contracts import NotLive
from portal.models.outcomes import OutcomeStatus
from portal.services.seats import held_seats

SEAT_STATUSES = ("active", "revoked", "all")
OUTCOME_STATUSES = tuple(status.value for status in OutcomeStatus)
CODE_STATUSES = tuple(status.value for status in CodeStatus)

__all__ = [
    "CODE_STATUSES",
    "OUTCOME_STATUSES",
    "SEAT_STATUSES",
    "ContractRow",
    "Rows",
    "codes",
    "contract",
    "contracts",
    "learners",
    "seats",
]


@dataclass(frozen=True)
class Rows:
    """One page of a listing: its rows and the number of rows in the whole listing."""

    rows: list[Any]
    total: int


@dataclass(frozen=True)
class ContractRow:
    contract: Contract
    seats_used: int
    active_enrollments: int
    not_live_reason: NotLive | None

    @property
    def live(self) -> bool:
        return self.not_live_reason is None

    @property
    def seats_remaining(self) -> int | None:
        if self.contract.unlimited_seats:
            return None
        return max(0, int(self.contract.seat_limit or 0) - self.seats_used)


def _page(query: Select[*tuple[Any, ...]], page: int, size: int) -> Rows:
    """The total, then the rows of page ``page`` (from 1) of ``size`` rows: two statements."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = list(db.session.execute(query.limit(size).offset((page - 1) * size)).all())
    return Rows(rows, int(total or 0))


def _org_contract_ids(organization: Organization) -> Select[*tuple[Any, ...]]:
    return select(Contract.id).where(Contract.organization_id == organization.id)


# --------------------------------------------------------------------------- contracts


def _contracts_query(organization: Organization) -> Select[*tuple[Any, ...]]:
    """The organization's contracts with seats held now and active enrollments (from the running
    totals, aggregated over this organization's contracts only), by id."""
    ids = _org_contract_ids(organization)
    seats = (
        select(ContractSeatDay.contract_id, held_seats().label("seats_used"))
        .where(ContractSeatDay.contract_id.in_(ids))
        .group_by(ContractSeatDay.contract_id)
        .subquery()
    )
    enrolled = (
        select(
            ContractRunEnrollments.contract_id,
            func.sum(ContractRunEnrollments.active).label("active_enrollments"),
        )
        .where(ContractRunEnrollments.contract_id.in_(ids))
        .group_by(ContractRunEnrollments.contract_id)
        .subquery()
    )
    return (
        select(
            Contract,
            func.coalesce(seats.c.seats_used, 0),
            func.coalesce(enrolled.c.active_enrollments, 0),
        )
        .outerjoin(seats, seats.c.contract_id == Contract.id)
        .outerjoin(enrolled, enrolled.c.contract_id == Contract.id)
        .where(Contract.organization_id == organization.id)
        .order_by(Contract.id)
    )


def _contract_row(organization: Organization, row: Any, now: dt.datetime) -> ContractRow:
    contract, seats_used, enrolled = row
    return ContractRow(
        contract=contract,
        seats_used=int(seats_used or 0),
        active_enrollments=int(enrolled or 0),
        not_live_reason=contract.not_live_reason(now, organization),
    )


def contracts(organization: Organization, page: int, size: int) -> Rows:
    found = _page(_contracts_query(organization), page, size)
    now = utcnow()
    return Rows([_contract_row(organization, row, now) for row in found.rows], found.total)


def contract(organization: Organization, contract_id: int) -> ContractRow:
    """One contract of the organization; ``NotFound`` for any other id (one statement)."""
    row = db.session.execute(
        _contracts_query(organization).where(Contract.id == contract_id)
    ).first()
    if row is None:
        raise NotFound("This organization has no such contract.")
    return _contract_row(organization, row, utcnow())


# --------------------------------------------------------------------------- seats


def seats(contract: Contract, status: str, page: int, size: int) -> Rows:
    """The contract's seats (``active``: held now, ``revoked``, or ``all``), newest claim first
    (the (contract, claimed_at) index serves the order)."""
    query = (
        select(
            Seat.id,
            User.email,
            User.name,
            Seat.source,
            Seat.claimed_at,
            Seat.revoked_at,
        )
        .join(User, User.id == Seat.user_id)
        .where(Seat.contract_id == contract.id)
        .order_by(Seat.claimed_at.desc(), Seat.id.desc())
    )
    if status == "active":
        query = query.where(Seat.revoked_at.is_(None))
    elif status == "revoked":
        query = query.where(Seat.revoked_at.is_not(None))
    return _page(query, page, size)


# --------------------------------------------------------------------------- learners


def learners(
    organization: Organization,
    contract: Contract | None,
    status: str | None,
    page: int,
    size: int,
) -> Rows:
    """Every enrollment made through the organization's contracts (or ``contract``'s), one row
    per learner and course run, with the outcome the sync last read (none yet reads as not
    started: ``LearningOutcome.status`` over the outer join), by enrollment id. ``status`` is one
    of ``OUTCOME_STATUSES`` or None for all."""
    outcome_status = LearningOutcome.status
    query = (
        select(
            Enrollment.id,
            User.id.label("user_id"),
            User.email,
            User.name,
            Enrollment.contract_id,
            Contract.name.label("contract_name"),
            CourseRun.course_key,
            CourseRun.title,
            Enrollment.active,
            Enrollment.created_at,
            LearningOutcome.percent,
            LearningOutcome.letter_grade,
            LearningOutcome.passed,
            LearningOutcome.progress,
            outcome_status.label("status"),
            case(
                (
                    LearningOutcome.certificate_status == CERTIFICATE_EARNED,
                    LearningOutcome.certificate_url,
                ),
                else_=None,
            ).label("certificate_url"),
            LearningOutcome.completed_at,
            LearningOutcome.synced_at,
        )
        .join(Contract, Contract.id == Enrollment.contract_id)
        .join(User, User.id == Enrollment.user_id)
        .join(CourseRun, CourseRun.id == Enrollment.course_run_id)
        .outerjoin(
            LearningOutcome,
            and_(
                LearningOutcome.course_run_id == Enrollment.course_run_id,
                LearningOutcome.user_id == Enrollment.user_id,
            ),
        )
        .where(Contract.organization_id == organization.id)
        .order_by(Enrollment.id)
    )
    if contract is not None:
        query = query.where(Enrollment.contract_id == contract.id)
    if status is not None:
        query = query.where(outcome_status == status)
    return _page(query, page, size)


# --------------------------------------------------------------------------- codes


def codes(
    organization: Organization,
    contract: Contract | None,
    status: str | None,
    page: int,
    size: int,
) -> Rows:
    """The organization's enrollment codes (or ``contract``'s), newest first, with their status
    (``EnrollmentCode.status``, one of ``CODE_STATUSES``; None for all)."""
    code_status = EnrollmentCode.status
    query = (
        select(
            EnrollmentCode.id,
            EnrollmentCode.code,
            EnrollmentCode.contract_id,
            code_status.label("status"),
            EnrollmentCode.redemption_type,
            EnrollmentCode.max_uses,
            EnrollmentCode.times_redeemed,
            EnrollmentCode.assigned_email,
            EnrollmentCode.assigned_at,
            EnrollmentCode.activates_at,
            EnrollmentCode.expires_at,
            EnrollmentCode.deactivated_at,
            EnrollmentCode.created_at,
        )
        .join(Contract, Contract.id == EnrollmentCode.contract_id)
        .where(Contract.organization_id == organization.id)
        .order_by(EnrollmentCode.id.desc())
    )
    if contract is not None:
        query = query.where(EnrollmentCode.contract_id == contract.id)
    if status is not None:
        query = query.where(code_status == status)
    return _page(query, page, size)
