"""A learner's enrollment in a course run, and where it stands in edX (b2b-rules section 8)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from portal.models.courseware import CourseRun
    from portal.models.users import User


class EdxSyncState(enum.StrEnum):
    PENDING = "pending"  # recorded here, the edX call is queued
    SYNCED = "synced"  # edX agrees with `active`
    RETRYING = "retrying"  # a transient failure; the job retries with backoff
    FAILED = "failed"  # a permanent failure, visible to staff and retryable


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("user_id", "course_run_id"),
        # A learner's enrollments through one contract (their outcome in it, per seat).
        Index("ix_enrollments_user_contract", "user_id", "contract_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    course_run_id: Mapped[int] = mapped_column(ForeignKey("course_runs.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    mode: Mapped[str] = mapped_column(String(32), default="verified")
    active: Mapped[bool] = mapped_column(default=True)
    edx_state: Mapped[EdxSyncState] = mapped_column(
        str_enum(EdxSyncState, "edx_sync_state"), default=EdxSyncState.PENDING
    )
    edx_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    course_run: Mapped[CourseRun] = relationship()
