"""The emulator's records: LMS users, Studio course runs, LMS course modes and enrollments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .keys import CourseKey, parse_course_key


@dataclass
class User:
    """An LMS account. ``is_staff`` is Django's global staff flag."""

    id: int
    username: str
    email: str
    name: str
    password_hash: str
    is_staff: bool
    is_active: bool
    date_joined: datetime
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class TeamMember:
    """A course-team role (``CourseAccessRole``): ``instructor`` or ``staff``."""

    user: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {"user": self.user, "role": self.role}


@dataclass
class CourseRun:
    """A Studio course run. ``overview_at`` is when the LMS ``CourseOverview`` exists (enrollable)."""

    key: str
    title: str
    start: datetime | None
    end: datetime | None
    enrollment_start: datetime | None
    enrollment_end: datetime | None
    self_paced: bool
    team: list[TeamMember]
    created: datetime
    overview_at: datetime | None = None
    invite_only: bool = False
    max_enrollments: int | None = None

    @property
    def course_key(self) -> CourseKey:
        parsed = parse_course_key(self.key)
        if parsed is None:  # pragma: no cover - keys are validated before they are stored
            raise ValueError(self.key)
        return parsed

    @property
    def pacing_type(self) -> str:
        return "self_paced" if self.self_paced else "instructor_paced"


@dataclass
class CourseMode:
    """An LMS ``CourseMode`` row."""

    id: int
    course_key: str
    mode_slug: str
    mode_display_name: str
    min_price: int
    currency: str
    expiration_datetime: datetime | None
    expiration_datetime_is_explicit: bool
    description: str | None
    sku: str | None
    bulk_sku: str | None
    suggested_prices: str = ""


@dataclass
class Enrollment:
    """A ``CourseEnrollment`` row (one per user and course, active or not)."""

    id: int
    user_id: int
    username: str
    course_key: str
    mode: str
    is_active: bool
    created: datetime
