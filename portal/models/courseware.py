"""Courses, their runs (source runs and contract runs) and programs (b2b-rules sections 1.1 and 4)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from portal.models.contracts import Contract

# Restriction types of Course Discovery ADR 27; contract runs carry the B2B one.
RESTRICTION_B2B = "custom-b2b-enterprise"
RESTRICTION_B2C = "custom-b2c"
RESTRICTION_TYPES = (RESTRICTION_B2B, RESTRICTION_B2C)


class Pacing(enum.StrEnum):
    SELF = "self_paced"
    INSTRUCTOR = "instructor_paced"


class EdxRunState(enum.StrEnum):
    """Where a run stands in edX; contract runs move through these in their creation job."""

    PENDING = "pending"
    CLONING = "cloning"
    CONFIGURING = "configuring"
    READY = "ready"
    FAILED = "failed"


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    # edX's course identity without the run, e.g. "B2B_SOURCE+DS.101x"; number e.g. "DS.101x".
    key: Mapped[str] = mapped_column(String(200), unique=True)
    number: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    runs: Mapped[list[CourseRun]] = relationship(back_populates="course", order_by="CourseRun.id")


class CourseRun(Base):
    __tablename__ = "course_runs"
    __table_args__ = (
        # One source run per course (b2b-rules 1.1).
        Index(
            "uq_course_runs_one_source_per_course",
            "course_id",
            unique=True,
            postgresql_where=text("is_source_run"),
            sqlite_where=text("is_source_run"),
        ),
        UniqueConstraint("contract_id", "course_id", "run_number"),
        CheckConstraint("end_at IS NULL OR start_at IS NULL OR end_at > start_at", name="dates"),
        CheckConstraint(
            "restriction_type IS NULL OR restriction_type IN ('custom-b2b-enterprise', 'custom-b2c')",
            name="restriction_type",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    # Full edX key with its raw '+', e.g. course-v1:ACME+DS.101x+1T7C2026.
    course_key: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    start_at: Mapped[dt.datetime | None]
    end_at: Mapped[dt.datetime | None]
    enrollment_start: Mapped[dt.datetime | None]
    enrollment_end: Mapped[dt.datetime | None]
    pacing: Mapped[Pacing] = mapped_column(str_enum(Pacing, "pacing"), default=Pacing.SELF)
    is_source_run: Mapped[bool] = mapped_column(default=False)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), index=True)
    run_number: Mapped[int | None]
    restriction_type: Mapped[str | None] = mapped_column(String(64))
    hidden: Mapped[bool] = mapped_column(default=False)
    enrollment_modes: Mapped[list[Any]] = mapped_column(JSON, default=lambda: ["audit", "verified"])
    edx_state: Mapped[EdxRunState] = mapped_column(
        str_enum(EdxRunState, "edx_run_state"), default=EdxRunState.READY
    )
    edx_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship(back_populates="runs")
    contract: Mapped[Contract | None] = relationship()

    def enrollment_open(self, at: dt.datetime) -> bool:
        return (self.enrollment_start is None or self.enrollment_start <= at) and (
            self.enrollment_end is None or at < self.enrollment_end
        )


class Program(Base):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    hidden: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    course_links: Mapped[list[ProgramCourse]] = relationship(
        back_populates="program", order_by="ProgramCourse.position", cascade="all, delete-orphan"
    )


class ProgramCourse(Base):
    """A program's courses, in order."""

    __tablename__ = "program_courses"
    __table_args__ = (
        UniqueConstraint("program_id", "course_id"),
        UniqueConstraint("program_id", "position"),
        CheckConstraint("position >= 0", name="position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    position: Mapped[int]

    program: Mapped[Program] = relationship(back_populates="course_links")
    course: Mapped[Course] = relationship()
