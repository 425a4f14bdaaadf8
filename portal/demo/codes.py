"""Sample codes for the redeem page in demo mode."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Contract, EnrollmentCode


def sample_codes(per_contract: int = 2) -> list[tuple[str, str, str]]:
    """Demo mode only: a few unused codes per contract, so a visitor can try each journey.
    Returns (contract name, membership type, code)."""
    rows: list[tuple[str, str, str]] = []
    for contract in db.session.scalars(select(Contract).order_by(Contract.name)):
        codes = db.session.scalars(
            select(EnrollmentCode.code)
            .where(
                EnrollmentCode.contract_id == contract.id,
                EnrollmentCode.times_redeemed == 0,
                EnrollmentCode.deactivated_at.is_(None),
            )
            .order_by(EnrollmentCode.id)
            .limit(per_contract)
        )
        rows.extend((contract.name, contract.membership_type.value, code) for code in codes)
    return rows
