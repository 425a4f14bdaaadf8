"""Enrollment codes: generation (b2b-rules section 5)."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy import insert

from portal.extensions import db
from portal.models import Contract, EnrollmentCode, RedemptionType, utcnow

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
    if redemption_type is RedemptionType.ONE_TIME:
        max_uses = 1
    elif redemption_type is RedemptionType.ONE_PER_LEARNER:
        max_uses = None
    batch = uuid.uuid4().hex
    now = utcnow()
    remaining = count
    while remaining > 0:
        chunk = min(remaining, 5000)
        rows = [
            {
                "code": new_code(),
                "contract_id": contract.id,
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
    return batch
