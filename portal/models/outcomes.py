"""What learners achieve in edX, as the portal last read it: grades, progress and certificates per
learner and course run, and the state of each course run's sync. Pages read these tables only; they
never call edX (the outcome sync jobs in ``portal/tasks/outcomes.py`` write them)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    case,
    false,
    func,
    or_,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class OutcomeStatus(enum.StrEnum):
    NOT_STARTED = "not_started"  # no grade and no progress yet (or nothing synced yet)
    IN_PROGRESS = "in_progress"  # some grade or some progress, not passed
    PASSED = "passed"  # edX says the learner passed the course run


# A certificate edX lets the learner download (certificates API status ``downloadable``).
CERTIFICATE_EARNED = "downloadable"


def outcome_status_of(passed: Any, percent: Any, progress: Any) -> Any:
    """The one rule for a learner's status in a course run, as SQL; columns may be NULL (an outer
    join with no outcome row yet), which reads as not started."""
    return case(
        (passed.is_(True), OutcomeStatus.PASSED.value),
        (
            or_(func.coalesce(percent, 0) > 0, func.coalesce(progress, 0) > 0),
            OutcomeStatus.IN_PROGRESS.value,
        ),
        else_=OutcomeStatus.NOT_STARTED.value,
    )


class LearningOutcome(Base):
    """One learner in one course run. ``completed_at`` is when the learner passed: the certificate's
    date when edX issued one, else the sync that first saw the pass."""

    __tablename__ = "learning_outcomes"
    __table_args__ = (
        UniqueConstraint("course_run_id", "user_id"),
        Index("ix_learning_outcomes_run_completed", "course_run_id", "completed_at"),
        CheckConstraint("percent IS NULL OR (percent >= 0 AND percent <= 1)", name="percent"),
        CheckConstraint("progress IS NULL OR (progress >= 0 AND progress <= 1)", name="progress"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_run_id: Mapped[int] = mapped_column(ForeignKey("course_runs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    percent: Mapped[float | None]
    letter_grade: Mapped[str | None] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(default=False, server_default=false())
    progress: Mapped[float | None]
    certificate_status: Mapped[str | None] = mapped_column(String(32))
    certificate_type: Mapped[str | None] = mapped_column(String(32))
    certificate_url: Mapped[str | None] = mapped_column(String(1000))
    certificate_created_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    synced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @hybrid_property
    def status(self) -> str:
        if self.passed:
            return OutcomeStatus.PASSED.value
        if (self.percent or 0) > 0 or (self.progress or 0) > 0:
            return OutcomeStatus.IN_PROGRESS.value
        return OutcomeStatus.NOT_STARTED.value

    @status.inplace.expression
    @classmethod
    def _status_expression(cls) -> ColumnElement[str]:
        return outcome_status_of(cls.passed, cls.percent, cls.progress)

    @property
    def has_certificate(self) -> bool:
        return self.certificate_status == CERTIFICATE_EARNED and bool(self.certificate_url)


class OutcomeSyncState(enum.StrEnum):
    NEVER = "never"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class OutcomeSync(Base):
    """The outcome sync of one course run: when it last ran, what it found, and the run's totals at
    that sync (what the summary pages show, so they need no aggregate over every learner)."""

    __tablename__ = "outcome_syncs"

    course_run_id: Mapped[int] = mapped_column(
        ForeignKey("course_runs.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16), default=OutcomeSyncState.NEVER.value)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("background_jobs.id", ondelete="SET NULL")
    )
    # Claimed with a conditional UPDATE when the scheduler records a sync, so several schedulers
    # record one job per period.
    requested_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the last sync read and wrote: grades, updated, unknown (edX learners the portal does
    # not know), certificates_checked, progress (rows read, or null when edX offers none).
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The run's totals over its active enrollments at the last sync: learners, started, passed,
    # certificates, progress_sum.
    totals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
