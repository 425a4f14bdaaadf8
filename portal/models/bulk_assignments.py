"""The rows of a bulk code assignment (an org admin's CSV of addresses), kept with their results.

The request that takes the upload writes one row per address, with no outcome yet, and records the
``codes.assign_bulk`` job; the job fills in the outcomes chunk by chunk, each chunk in the same
transaction as its assignments. So a retry carries on with the rows still without an outcome, and
the results page reads what each row became after the job is gone from memory.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class BulkAssignmentRow(Base):
    __tablename__ = "bulk_assignment_rows"
    __table_args__ = (UniqueConstraint("job_id", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("background_jobs.id", ondelete="CASCADE"), index=True
    )
    line: Mapped[int]  # the address's place in the upload, from 1
    given: Mapped[str] = mapped_column(String(320))  # as the file had it
    email: Mapped[str] = mapped_column(String(254), default="")  # normalized; "" when invalid
    # A services.code_assignment.AssignOutcome value; None until the job has handled the row.
    outcome: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(200), default="")
    code: Mapped[str] = mapped_column(String(64), default="")
