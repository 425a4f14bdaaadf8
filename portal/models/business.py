"""Running the business over time: the notices sent (once per threshold), org admins' report
subscriptions, and the periods the scheduler has run (once each, whatever the number of schedulers)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, str_enum, utcnow


class NoticeKind(enum.StrEnum):
    """Every notice the portal sends on its own; the values are stored and must never change."""

    CONTRACT_ENDING = "contract_ending"  # key: "30d:<end date>" or "7d:<end date>"
    CONTRACT_ENDED = "contract_ended"  # key: "<end date>"
    SEATS_USED = "seats_used"  # key: "75:<seat limit>" or "100:<seat limit>"
    UNREDEEMED_DIGEST = "unredeemed_digest"  # key: the ISO week, "2026-W49"
    CODE_REMINDER = "code_reminder"  # key: "d3:<assigned at>" (a new assignment starts again)
    SCHEDULED_REPORT = "scheduled_report"  # key: the period, "2026-W49" or "2026-12"


class Notice(Base):
    """One notice sent: the unique key makes "once per threshold" a database fact, so retries and
    several workers racing on the same threshold send it once. The email itself is in the outbox
    (``outbox_message_id``), recorded in the same transaction as this row."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("kind", "subject_type", "subject_id", "recipient", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind, "notice_kind"))
    # What the notice is about: ("contract", id), ("code", id), ("organization", id), ...
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int]
    # Who it went to: an email address (an org admin's, an invitee's).
    recipient: Mapped[str] = mapped_column(String(320))
    key: Mapped[str] = mapped_column(String(120))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    outbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReportFrequency(enum.StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class ReportSubscription(Base):
    """An org admin's standing order for the learners CSV of one organization by email."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    frequency: Mapped[ReportFrequency] = mapped_column(
        str_enum(ReportFrequency, "report_frequency")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The period of the last report sent ("2026-W49", "2026-12"), for the page.
    last_period: Mapped[str | None] = mapped_column(String(16))
    last_sent_at: Mapped[dt.datetime | None]


class ScheduledRun(Base):
    """One periodic task's run for one period. Every scheduler may fire a task; the first to
    insert its (name, period) row runs it and the others find the row and do nothing."""

    __tablename__ = "scheduled_runs"
    __table_args__ = (
        UniqueConstraint("name", "period_start"),
        Index("ix_scheduled_runs_name_started_at", "name", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    # What the run did, in a few words ("3 notices sent"), or its error.
    summary: Mapped[str | None] = mapped_column(String(500))
