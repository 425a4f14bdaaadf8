"""The CSV of a contract's codes with their redeem links (b2b-rules section 5), streamed in chunks
so memory stays flat at 100,000 codes."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from portal.core.csv_export import csv_safe
from portal.extensions import db
from portal.models import Contract, EnrollmentCode

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
