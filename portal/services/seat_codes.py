"""Seat codes (b2b-rules sections 1.5 and 5): a seat-limited code or managed (or any paid) contract
holds one one-time code per seat, an unlimited one a single multi-use code. ``seat_code_plan`` says
what bringing them in line would do (for previews), ``adjust_seat_codes`` does it, and
``deactivate_code`` stops a code and replaces an unused seat code at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask_babel import ngettext
from sqlalchemy import and_, delete, func, or_, select, update

from portal.core.domain_errors import Conflict, NotFound
from portal.core.text import group_code, plural
from portal.extensions import db
from portal.models import (
    CodeRedemption,
    Contract,
    EnrollmentCode,
    MembershipType,
    RedemptionType,
    Seat,
    utcnow,
)
from portal.services.audit import record_event
from portal.services.codes import INLINE_MAX, insert_codes

_UNSET: Any = object()


def needs_seat_codes(membership_type: MembershipType, paid: bool) -> bool:
    """Code and managed contracts, and any paid contract, are entered with codes (b2b-rules 1.5)."""
    return membership_type in (MembershipType.CODE, MembershipType.MANAGED) or paid


def _seat_codes(contract_id: int) -> Any:
    return and_(EnrollmentCode.contract_id == contract_id, EnrollmentCode.for_seat.is_(True))


def _live_one_time(contract_id: int) -> Any:
    """One-time seat codes that stand for a seat: usable ones, and used ones whose seat is still
    held. A used code whose seat was revoked stands for nothing, so the freed seat gets a new code."""
    seat_held = (
        select(Seat.id)
        .join(CodeRedemption, CodeRedemption.id == Seat.redemption_id)
        .where(CodeRedemption.code_id == EnrollmentCode.id, Seat.revoked_at.is_(None))
        .exists()
    )
    return and_(
        _seat_codes(contract_id),
        EnrollmentCode.redemption_type == RedemptionType.ONE_TIME,
        or_(
            and_(EnrollmentCode.deactivated_at.is_(None), EnrollmentCode.times_redeemed == 0),
            and_(EnrollmentCode.times_redeemed > 0, seat_held),
        ),
    )


def _removable(contract_id: int) -> Any:
    """Seat codes lowering the limit may remove: unused, unassigned and not deactivated."""
    return and_(
        _seat_codes(contract_id),
        EnrollmentCode.redemption_type == RedemptionType.ONE_TIME,
        EnrollmentCode.deactivated_at.is_(None),
        EnrollmentCode.times_redeemed == 0,
        EnrollmentCode.assigned_email.is_(None),
        ~select(CodeRedemption.id).where(CodeRedemption.code_id == EnrollmentCode.id).exists(),
    )


def _open_multi_use(contract_id: int) -> Any:
    return and_(
        _seat_codes(contract_id),
        EnrollmentCode.redemption_type == RedemptionType.MULTI_USE,
        EnrollmentCode.deactivated_at.is_(None),
    )


def _count(where: Any) -> int:
    return int(db.session.scalar(select(func.count(EnrollmentCode.id)).where(where)) or 0)


@dataclass
class SeatCodePlan:
    """What ``adjust_seat_codes`` would do to a contract's seat codes."""

    wants_codes: bool
    live: int = 0  # one-time seat codes standing for a seat
    target: int = 0
    to_add: int = 0
    to_remove: int = 0
    removable: int = 0
    unlimited_code_needed: bool = False
    multi_use_to_close: int = 0


def seat_code_plan(
    contract: Contract,
    *,
    membership_type: MembershipType | None = None,
    seat_limit: int | None = _UNSET,
    unlimited: bool | None = None,
    paid: bool | None = None,
) -> SeatCodePlan:
    """Seat codes for ``contract`` as it is, or with the given values changed (for previews).

    A seat-limited code/managed (or paid) contract holds one one-time code per seat; an unlimited
    one holds a single multi-use code. Contracts that need no codes keep the codes they have.
    """
    mtype = membership_type or contract.membership_type
    is_unlimited = contract.unlimited_seats if unlimited is None else unlimited
    limit = contract.seat_limit if seat_limit is _UNSET else seat_limit
    is_paid = contract.is_paid if paid is None else paid
    if not needs_seat_codes(mtype, is_paid):
        return SeatCodePlan(wants_codes=False)
    if is_unlimited:
        has_open = _count(_open_multi_use(contract.id)) > 0
        return SeatCodePlan(wants_codes=True, unlimited_code_needed=not has_open)
    live = _count(_live_one_time(contract.id))
    target = limit or 0
    to_remove = max(0, live - target)
    # A renewed contract's free seats belong to its next term: no new codes for them (the
    # renewal may have deactivated the unused ones on purpose).
    renewed = db.session.scalar(select(Contract.id).where(Contract.renewed_from_id == contract.id))
    return SeatCodePlan(
        wants_codes=True,
        live=live,
        target=target,
        to_add=0 if renewed is not None else max(0, target - live),
        to_remove=to_remove,
        removable=_count(_removable(contract.id)) if to_remove else 0,
        multi_use_to_close=_count(_open_multi_use(contract.id)),
    )


@dataclass
class SeatCodeChange:
    added: int = 0
    removed: int = 0
    closed: int = 0
    pending: int = 0  # left for the ``codes.generate`` job
    unlimited_code: str | None = None


def adjust_seat_codes(contract: Contract, *, add_limit: int | None = None) -> SeatCodeChange:
    """Bring ``contract``'s seat codes in line with its seat limit (b2b-rules section 5).

    Raising seats adds one-time codes (at most ``add_limit`` now; the rest is ``pending``). Lowering
    removes unused, unassigned codes newest first and never touches used or assigned ones; if too
    few are removable it refuses with ``Conflict`` and removes nothing. Call it with the contract
    row locked (``lock_contract``).
    """
    plan = seat_code_plan(contract)
    change = SeatCodeChange()
    if not plan.wants_codes:
        return change
    if plan.unlimited_code_needed:
        change.unlimited_code = _add_unlimited_code(contract)
        change.added = 1
    if plan.multi_use_to_close and not contract.unlimited_seats:
        change.closed = _close_multi_use(contract)
    if plan.to_remove:
        change.removed = _remove_newest_unused(contract, plan.to_remove)
    if plan.to_add:
        now = plan.to_add if add_limit is None else min(plan.to_add, add_limit)
        if now:
            insert_codes(contract.id, now, batch=uuid.uuid4().hex, for_seat=True)
        change.added += now
        change.pending = plan.to_add - now
    if change.added or change.removed or change.closed:
        _record_adjusted(contract, plan, change)
    return change


def _add_unlimited_code(contract: Contract) -> str | None:
    """The unlimited contract's one multi-use seat code; returns it."""
    batch = uuid.uuid4().hex
    insert_codes(
        contract.id, 1, batch=batch, redemption_type=RedemptionType.MULTI_USE, for_seat=True
    )
    return db.session.scalar(select(EnrollmentCode.code).where(EnrollmentCode.batch == batch))


def _close_multi_use(contract: Contract) -> int:
    """A limited contract must not keep a code that opens any number of seats."""
    result = db.session.execute(
        update(EnrollmentCode)
        .where(_open_multi_use(contract.id))
        .values(deactivated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _record_adjusted(contract: Contract, plan: SeatCodePlan, change: SeatCodeChange) -> None:
    record_event(
        "codes.seat_codes_adjusted",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        before={"seat_codes": plan.live},
        after={
            "seat_limit": None if contract.unlimited_seats else contract.seat_limit,
            "added": change.added,
            "removed": change.removed,
            "multi_use_closed": change.closed,
            "pending": change.pending,
        },
    )


def _remove_newest_unused(contract: Contract, count: int) -> int:
    ids = list(
        db.session.scalars(
            select(EnrollmentCode.id)
            .where(_removable(contract.id))
            .order_by(EnrollmentCode.created_at.desc(), EnrollmentCode.id.desc())
            .limit(count)
            .with_for_update(skip_locked=True)
        )
    )
    removed = 0
    for start in range(0, len(ids), 1000):
        result = db.session.execute(
            delete(EnrollmentCode)
            .where(
                EnrollmentCode.id.in_(ids[start : start + 1000]),
                EnrollmentCode.times_redeemed == 0,
                EnrollmentCode.assigned_email.is_(None),
            )
            .execution_options(synchronize_session=False)
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    if removed < count:
        raise Conflict(
            ngettext(
                "Only %(num)s of the %(codes)s to remove is still unused and unassigned (some "
                "were redeemed or assigned meanwhile); nothing was changed. Review and try again.",
                "Only %(num)s of the %(codes)s to remove are still unused and unassigned (some "
                "were redeemed or assigned meanwhile); nothing was changed. Review and try again.",
                removed,
                codes=plural(count, "%(num)s seat code", "%(num)s seat codes"),
            )
        )
    return removed


def deactivate_code(contract: Contract, code_id: int) -> EnrollmentCode:
    """Stop a code from being redeemed (seats already claimed with it stay). An unused seat code
    is replaced at once, so a seat-limited contract keeps one usable code per free seat."""
    code = db.session.scalar(
        select(EnrollmentCode)
        .where(EnrollmentCode.id == code_id, EnrollmentCode.contract_id == contract.id)
        .with_for_update()
    )
    if code is None:
        raise NotFound("That code is not on this contract.")
    if code.deactivated_at is not None:
        raise Conflict(f"Code {group_code(code.code)} was already deactivated.")
    code.deactivated_at = utcnow()
    record_event(
        "code.deactivated",
        "enrollment_code",
        code.id,
        organization_id=contract.organization_id,
        before={"code": code.code, "deactivated_at": None},
        after={"code": code.code, "deactivated_at": code.deactivated_at.isoformat()},
    )
    db.session.flush()
    if code.for_seat and code.times_redeemed == 0:
        adjust_seat_codes(contract, add_limit=INLINE_MAX)
    return code
