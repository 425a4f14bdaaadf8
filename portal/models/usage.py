"""Running totals of seats and enrollments per contract, kept by the database itself.

Triggers on ``seats`` and ``enrollments`` (migration ``f4a7c2e9b1d3``) keep these rows in step with
every write, whatever makes it (the ORM, bulk inserts, SQL by hand), in the same transaction. They
let the seat limit check and the org admin's overview read a handful of rows instead of counting
every learner: the cost of those reads no longer grows with the number of learners.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class ContractSeatDay(Base):
    """Seats of a contract claimed and revoked on one UTC day (by ``claimed_at``/``revoked_at``).

    Seats held now = sum(claims) - sum(revokes) over all the contract's days."""

    __tablename__ = "contract_seat_days"

    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    claims: Mapped[int] = mapped_column(default=0)
    revokes: Mapped[int] = mapped_column(default=0)


class ContractRunEnrollments(Base):
    """Active enrollments made through a contract, per course run."""

    __tablename__ = "contract_run_enrollments"

    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True
    )
    course_run_id: Mapped[int] = mapped_column(
        ForeignKey("course_runs.id", ondelete="CASCADE"), primary_key=True
    )
    active: Mapped[int] = mapped_column(default=0)
