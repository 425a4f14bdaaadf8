"""Seats (b2b-rules section 6): one row per (contract, learner), claimed only inside the contract's
row lock with the limit checked there, so N parallel claims for the last seat give exactly one."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, select

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import Contract, ContractSeatDay, Seat, SeatSource, User, utcnow
from portal.services.audit import record_event


class ContractFull(DomainError):
    code = "contract_full"
    status = 409


def active_seat(contract_id: int, user_id: int) -> Seat | None:
    return db.session.scalar(
        select(Seat).where(
            Seat.contract_id == contract_id, Seat.user_id == user_id, Seat.revoked_at.is_(None)
        )
    )


def held_seats() -> ColumnElement[int]:
    """Seats held now, summed over ``ContractSeatDay`` rows (group them by contract)."""
    return func.coalesce(func.sum(ContractSeatDay.claims - ContractSeatDay.revokes), 0)


def claimed_count(contract_id: int) -> int:
    """Seats held on the contract now, from the running totals the database keeps
    (``models.usage``): a few rows per contract, however many learners hold seats."""
    return int(
        db.session.scalar(select(held_seats()).where(ContractSeatDay.contract_id == contract_id))
        or 0
    )


def claimed_counts(contract_ids: list[int]) -> dict[int, int]:
    """``claimed_count`` of each of ``contract_ids`` in one query (contracts with none: absent)."""
    rows = db.session.execute(
        select(ContractSeatDay.contract_id, held_seats())
        .where(ContractSeatDay.contract_id.in_(contract_ids))
        .group_by(ContractSeatDay.contract_id)
    ).all()
    return {cid: int(n) for cid, n in rows}


def claim_seat(
    contract: Contract, user: User, source: SeatSource, *, redemption_id: int | None = None
) -> tuple[Seat, bool]:
    """Claim (or return) ``user``'s seat. ``contract`` must have been locked by the caller
    (``services.locks.lock_contract``). Returns (seat, newly_claimed)."""
    seat = db.session.scalar(
        select(Seat).where(Seat.contract_id == contract.id, Seat.user_id == user.id)
    )
    if seat is not None and seat.revoked_at is None:
        return seat, False
    if not contract.unlimited_seats and claimed_count(contract.id) >= (contract.seat_limit or 0):
        raise ContractFull(
            _(
                "%(contract)s has no seats left (%(limit)s of %(limit)s are taken). Ask your "
                "organization's admin for a seat.",
                contract=contract.name,
                limit=contract.seat_limit,
            )
        )
    if seat is None:
        seat = Seat(
            contract_id=contract.id, user_id=user.id, source=source, redemption_id=redemption_id
        )
        db.session.add(seat)
    else:  # a revoked seat comes back: same row, the unique constraint stays the guard
        seat.revoked_at = None
        seat.revoked_by_id = None
        seat.revoke_reason = None
        seat.source = source
        seat.redemption_id = redemption_id
        seat.claimed_at = utcnow()
    db.session.flush()
    record_event(
        "seat.claimed",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        after={"user_id": user.id, "source": source.value},
    )
    return seat, True
