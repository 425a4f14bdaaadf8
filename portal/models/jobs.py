"""Background job records: the database's promise that a side effect will happen.

A row is written in the same transaction as the change that needs the job and handed to RQ only after
commit; the sweeper re-sends rows that never reached Redis, so a Redis outage loses nothing.

A long job also reports its progress on the row (``progress_done`` of ``progress_total``
``progress_unit``, written by ``JobContext.progress`` in its own short transaction), so the pages
can show a bar while it runs; each attempt starts it again.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, str_enum, utcnow


class JobState(enum.StrEnum):
    PENDING = "pending"  # committed, not yet confirmed in Redis (or waiting for a retry)
    QUEUED = "queued"  # handed to RQ
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up; staff can retry
    CANCELLED = "cancelled"


ACTIVE_JOB_STATES = (JobState.PENDING, JobState.QUEUED, JobState.RUNNING)


class BackgroundJob(Base):
    __tablename__ = "background_jobs"
    __table_args__ = (
        Index("ix_background_jobs_state_run_after", "state", "run_after"),
        Index("ix_background_jobs_object", "object_type", "object_id"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts"),
        CheckConstraint("progress_done >= 0 AND progress_total >= 0", name="progress"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[JobState] = mapped_column(
        str_enum(JobState, "job_state"), default=JobState.PENDING
    )
    step: Mapped[str] = mapped_column(String(64), default="")  # jobs.registry.STEP_LENGTH
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the job is about, for the staff pages (e.g. "course_run", "42").
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    organization_id: Mapped[int | None] = mapped_column(index=True)
    # How far the current attempt is: None until its handler reports (jobs.registry.JobContext).
    progress_done: Mapped[int | None]
    progress_total: Mapped[int | None]
    progress_unit: Mapped[str] = mapped_column(String(32), default="")
    progress_at: Mapped[dt.datetime | None]
    run_after: Mapped[dt.datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
