"""Enrollment codes: making them (b2b-rules section 5): the alphabet, normalizing what people type,
bulk inserts, and extra batches (inline, or the ``codes.generate`` job's payload).

Seat codes (one per seat, kept in step with the seat limit) are ``services.seat_codes``; the codes
table, its counts and search ``services.code_listing``; the CSV ``services.code_export``.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import Contract, EnrollmentCode, RedemptionType, utcnow
from portal.services.audit import record_event
from portal.services.pricing import checked_discount, describe_discount

# No 0/O, 1/I/L: codes are read aloud and typed from paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 20

SEAT_CHUNK = 5000
INLINE_MAX = 1000  # more codes than this are made by the ``codes.generate`` job
MAX_BATCH = 100_000


class BatchInvalid(DomainError):
    code = "batch_invalid"


@dataclass(frozen=True)
class Discount:
    """The discount a batch of codes gives (``services.pricing``): a percentage or an amount."""

    percent: Decimal | None = None
    amount: Decimal | None = None

    @classmethod
    def checked(cls, percent: Decimal | None, amount: Decimal | None) -> Discount:
        return cls(*checked_discount(percent, amount))

    def as_payload(self) -> dict[str, str | None]:
        return {
            "discount_percent": None if self.percent is None else str(self.percent),
            "discount_amount": None if self.amount is None else str(self.amount),
        }

    def describe(self) -> str | None:
        return describe_discount(self.percent, self.amount) or None


NO_DISCOUNT = Discount()


def new_code() -> str:
    """A random code: 20 characters from a 31-letter alphabet (about 99 bits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# What people put between a code's groups, or a copy from an email or a PDF brings along: dashes
# of every kind and invisible spaces (whitespace itself is dropped by ``str.split``).
_SEPARATORS = str.maketrans("", "", "-\u2010\u2011\u2012\u2013\u2014\u2212\u200b\u2060\ufeff")


def normalize_code(raw: str) -> str:
    """A code as stored, from what someone typed, pasted or followed: case-insensitive, with any
    whitespace and dashes ignored, so the grouped form shown everywhere (``ABCD-EFGH-…``,
    ``core.text.group_code``) and the bare one are the same code. Every entry point uses it: the
    redeem form and link, and the codes and orders searches."""
    return "".join(raw.translate(_SEPARATORS).split()).upper()


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
    discount: Discount = NO_DISCOUNT,
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
                "discount_percent": discount.percent,
                "discount_amount": discount.amount,
                "created_at": now,
            }
            for _ in range(chunk)
        ]
        db.session.execute(insert(EnrollmentCode), rows)
        remaining -= chunk
    return count


# --------------------------------------------------------------------------- extra batches


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
    discount: Discount = NO_DISCOUNT,
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
        **discount.as_payload(),
    }


def generate_batch(
    contract: Contract,
    count: int,
    redemption_type: RedemptionType,
    max_uses: int | None = None,
    activates_at: datetime | None = None,
    expires_at: datetime | None = None,
    discount: Discount = NO_DISCOUNT,
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
        discount=discount,
    )
    record_batch_event(
        contract,
        batch,
        count,
        redemption_type,
        max_uses,
        activates_at,
        expires_at,
        discount=discount,
    )
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
    discount: Discount = NO_DISCOUNT,
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
            "discount": discount.describe(),
        },
        actor_kind=actor_kind,
    )
