"""Enrollment codes: generation (b2b-rules section 5)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, update

from portal.core.domain_errors import Conflict, DomainError, NotFound
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

# No 0/O, 1/I/L: codes are read aloud and typed from paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 20


def new_code() -> str:
    """A random code: 20 characters from a 31-letter alphabet (about 99 bits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str:
    """Codes are entered case-insensitively with surrounding space (and dashes people add) ignored."""
    return raw.strip().replace("-", "").replace(" ", "").upper()


def generate_codes(
    contract: Contract,
    count: int,
    *,
    redemption_type: RedemptionType = RedemptionType.ONE_TIME,
    max_uses: int | None = None,
    for_seat: bool = False,
    activates_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Insert ``count`` codes in bulk (one statement per 5,000) and return their batch id."""
    batch = uuid.uuid4().hex
    insert_codes(
        contract.id,
        count,
        batch=batch,
        redemption_type=redemption_type,
        max_uses=max_uses,
        for_seat=for_seat,
        activates_at=activates_at,
        expires_at=expires_at,
    )
    return batch


# --------------------------------------------------------------------------- staff administration
# Seat codes, extra batches, deactivation, search and export (b2b-rules section 5).

SEAT_CHUNK = 5000
INLINE_MAX = 1000  # more codes than this are made by the ``codes.generate`` job
MAX_BATCH = 100_000
EXPORT_CHUNK = 2000
EXPORT_HEADER = [
    "code",
    "redemption type",
    "uses",
    "max uses",
    "activates",
    "expires",
    "deactivated",
    "assigned email",
    "redeem link",
]
_UNSET: Any = object()


class BatchInvalid(DomainError):
    code = "batch_invalid"


def insert_codes(
    contract_id: int,
    count: int,
    *,
    batch: str,
    redemption_type: RedemptionType = RedemptionType.ONE_TIME,
    max_uses: int | None = None,
    for_seat: bool = False,
    activates_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> int:
    """Insert ``count`` codes into ``batch`` in bulk (one statement per 5,000); returns ``count``."""
    if redemption_type is RedemptionType.ONE_TIME:
        max_uses = 1
    elif redemption_type is RedemptionType.ONE_PER_LEARNER:
        max_uses = None
    now = utcnow()
    remaining = count
    while remaining > 0:
        chunk = min(remaining, SEAT_CHUNK)
        rows = [
            {
                "code": new_code(),
                "contract_id": contract_id,
                "redemption_type": redemption_type,
                "max_uses": max_uses,
                "times_redeemed": 0,
                "for_seat": for_seat,
                "batch": batch,
                "activates_at": activates_at,
                "expires_at": expires_at,
                "created_at": now,
            }
            for _ in range(chunk)
        ]
        db.session.execute(insert(EnrollmentCode), rows)
        remaining -= chunk
    return count


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
    return SeatCodePlan(
        wants_codes=True,
        live=live,
        target=target,
        to_add=max(0, target - live),
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
        batch = uuid.uuid4().hex
        insert_codes(
            contract.id, 1, batch=batch, redemption_type=RedemptionType.MULTI_USE, for_seat=True
        )
        change.added = 1
        change.unlimited_code = db.session.scalar(
            select(EnrollmentCode.code).where(EnrollmentCode.batch == batch)
        )
    if plan.multi_use_to_close and not contract.unlimited_seats:
        # A limited contract must not keep a code that opens any number of seats.
        result = db.session.execute(
            update(EnrollmentCode)
            .where(_open_multi_use(contract.id))
            .values(deactivated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        change.closed = int(getattr(result, "rowcount", 0) or 0)
    if plan.to_remove:
        change.removed = _remove_newest_unused(contract, plan.to_remove)
    if plan.to_add:
        now = plan.to_add if add_limit is None else min(plan.to_add, add_limit)
        if now:
            insert_codes(contract.id, now, batch=uuid.uuid4().hex, for_seat=True)
        change.added += now
        change.pending = plan.to_add - now
    if change.added or change.removed or change.closed:
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
    return change


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
            f"Only {removed} of the {count} seat codes to remove are still unused and unassigned "
            "(some were redeemed or assigned meanwhile); nothing was changed. Review and try again."
        )
    return removed


def validate_batch(
    count: int,
    redemption_type: RedemptionType,
    max_uses: int | None,
    activates_at: datetime | None,
    expires_at: datetime | None,
) -> None:
    if not 1 <= count <= MAX_BATCH:
        raise BatchInvalid(f"Generate between 1 and {MAX_BATCH:,} codes at a time.")
    if redemption_type is RedemptionType.MULTI_USE and max_uses is not None and max_uses < 1:
        raise BatchInvalid("A multi-use code needs at least 1 use (or leave uses empty: no limit).")
    if activates_at and expires_at and expires_at <= activates_at:
        raise BatchInvalid("Codes must expire after they become valid.")


def batch_payload(
    contract: Contract,
    count: int,
    redemption_type: RedemptionType,
    max_uses: int | None,
    activates_at: datetime | None,
    expires_at: datetime | None,
) -> dict[str, Any]:
    """The ``codes.generate`` job's payload: plain JSON, with the batch id fixed up front so the
    job can count what it already made and resume."""
    validate_batch(count, redemption_type, max_uses, activates_at, expires_at)
    return {
        "contract_id": contract.id,
        "batch": uuid.uuid4().hex,
        "count": count,
        "redemption_type": redemption_type.value,
        "max_uses": max_uses if redemption_type is RedemptionType.MULTI_USE else None,
        "activates_at": activates_at.isoformat() if activates_at else None,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def generate_batch(
    contract: Contract,
    count: int,
    redemption_type: RedemptionType,
    max_uses: int | None = None,
    activates_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Generate an extra batch of codes now (bulk insert) and audit it; returns the batch id."""
    validate_batch(count, redemption_type, max_uses, activates_at, expires_at)
    batch = uuid.uuid4().hex
    insert_codes(
        contract.id,
        count,
        batch=batch,
        redemption_type=redemption_type,
        max_uses=max_uses,
        activates_at=activates_at,
        expires_at=expires_at,
    )
    record_batch_event(contract, batch, count, redemption_type, max_uses, activates_at, expires_at)
    return batch


def record_batch_event(
    contract: Contract,
    batch: str,
    count: int,
    redemption_type: RedemptionType,
    max_uses: int | None,
    activates_at: datetime | None,
    expires_at: datetime | None,
    *,
    actor_kind: str | None = None,
) -> None:
    record_event(
        "codes.generated",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        after={
            "batch": batch,
            "count": count,
            "redemption_type": redemption_type.value,
            "max_uses": max_uses,
            "activates_at": activates_at.isoformat() if activates_at else None,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        actor_kind=actor_kind,
    )


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
        raise Conflict(f"Code {code.code} was already deactivated.")
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


def code_counts(contract: Contract) -> dict[str, int]:
    """Unused, used, assigned (not yet used) and deactivated codes, in one query."""
    off = EnrollmentCode.deactivated_at.is_not(None)
    used = and_(~off, EnrollmentCode.times_redeemed > 0)
    fresh = and_(~off, EnrollmentCode.times_redeemed == 0)
    row = db.session.execute(
        select(
            func.count(case((and_(fresh, EnrollmentCode.assigned_email.is_(None)), 1))),
            func.count(case((used, 1))),
            func.count(case((and_(fresh, EnrollmentCode.assigned_email.is_not(None)), 1))),
            func.count(case((off, 1))),
        ).where(EnrollmentCode.contract_id == contract.id)
    ).one()
    return dict(zip(("unused", "used", "assigned", "deactivated"), map(int, row), strict=True))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_codes(
    contract: Contract, q: str = "", *, page: int = 1, per_page: int = 50
) -> tuple[list[EnrollmentCode], bool]:
    """A page of the contract's codes, newest first, matching ``q`` against the code (as typed:
    any case, spaces and dashes ignored) or the assigned email. Returns (codes, has_next)."""
    query = select(EnrollmentCode).where(EnrollmentCode.contract_id == contract.id)
    q = (q or "").strip()[:320]
    if q:
        conditions = [EnrollmentCode.assigned_email.like(_like(q.lower()), escape="\\")]
        as_code = normalize_code(q)
        if as_code:
            conditions.append(EnrollmentCode.code.like(_like(as_code), escape="\\"))
        query = query.where(or_(*conditions))
    page = max(1, page)
    rows = db.session.scalars(
        query.order_by(EnrollmentCode.id.desc()).offset((page - 1) * per_page).limit(per_page + 1)
    ).all()
    return list(rows[:per_page]), len(rows) > per_page


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def iter_export_rows(contract: Contract, base_url: str) -> Iterator[list[str]]:
    """The header, then one row per code with its redeem link, read in chunks of 2,000 through a
    streaming cursor (a server-side cursor on PostgreSQL), so memory stays flat at any size.
    The contract's id is read now: the rows stream after the request's commit has expired it."""
    return _export_rows(contract.id, base_url)


def _export_rows(contract_id: int, base_url: str) -> Iterator[list[str]]:
    yield EXPORT_HEADER
    base = base_url.rstrip("/")
    query = (
        select(
            EnrollmentCode.code,
            EnrollmentCode.redemption_type,
            EnrollmentCode.times_redeemed,
            EnrollmentCode.max_uses,
            EnrollmentCode.activates_at,
            EnrollmentCode.expires_at,
            EnrollmentCode.deactivated_at,
            EnrollmentCode.assigned_email,
        )
        .where(EnrollmentCode.contract_id == contract_id)
        .order_by(EnrollmentCode.id)
        .execution_options(yield_per=EXPORT_CHUNK)
    )
    for chunk in db.session.execute(query).partitions():
        for code, rtype, uses, max_uses, activates, expires, deactivated, email in chunk:
            yield [
                csv_safe(code),
                csv_safe(rtype.value),
                csv_safe(uses),
                csv_safe(max_uses),
                csv_safe(activates),
                csv_safe(expires),
                csv_safe(deactivated),
                csv_safe(email),
                csv_safe(f"{base}/redeem/{code}"),
            ]
