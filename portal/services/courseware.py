"""Staff edits of courseware: courses, runs (one source run per course), programs' ordered courses,
and importing an existing edX run (b2b-rules 1.1). Each change writes an audit event. Also what
the staff courseware pages read."""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.core.domain_errors import Conflict, DomainError, NotFound
from portal.core.text import lazy_gettext as _l
from portal.extensions import db
from portal.integrations.openedx import OpenEdxError, edx_client
from portal.models import Course, CourseRun, Pacing, Program, ProgramCourse
from portal.services.audit import record_event
from portal.services.catalog import iso_z

T = TypeVar("T")


# --------------------------------------------------------------------------- courseware edits (staff)

# edX key parts (opaque-keys allows word characters, '-', '~' and '.'); keys keep their raw '+'.
KEY_PART = r"[A-Za-z0-9_.~-]+"
COURSE_KEY_RE = re.compile(rf"^({KEY_PART})\+({KEY_PART})$")
RUN_KEY_RE = re.compile(rf"^course-v1:({KEY_PART})\+({KEY_PART})\+({KEY_PART})$")
PROGRAM_KEY_RE = re.compile(r"^[A-Za-z0-9_.~:+-]+$")
SOURCE_RUN_PART = "SOURCE"

COURSE_FIELDS = ("key", "number", "title", "description")
RUN_FIELDS = (
    "course_key",
    "title",
    "start_at",
    "end_at",
    "enrollment_start",
    "enrollment_end",
    "pacing",
    "is_source_run",
    "hidden",
    "restriction_type",
)
PROGRAM_FIELDS = ("key", "title", "description", "hidden")


def split_run_key(key: str) -> tuple[str, str, str] | None:
    """``course-v1:ORG+NUMBER+RUN`` → (org, number, run), or None when it is not such a key."""
    match = RUN_KEY_RE.match(key)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def snapshot(obj: object, fields: Sequence[str]) -> dict[str, Any]:
    """The audit log's before/after view of an object: plain JSON values."""
    values: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, dt.datetime):
            value = iso_z(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        values[name] = value
    return values


SavedT = TypeVar("SavedT", Course, CourseRun, Program)


def save(obj: SavedT, values: Mapping[str, Any]) -> SavedT:
    """Create or update a course, run or program from validated values, with its audit event."""
    object_type, fields = {
        Course: ("course", COURSE_FIELDS),
        CourseRun: ("course_run", RUN_FIELDS),
        Program: ("program", PROGRAM_FIELDS),
    }[type(obj)]
    is_new = obj.id is None
    before = None if is_new else snapshot(obj, fields)
    for name, value in values.items():
        setattr(obj, name, value)
    if is_new:
        db.session.add(obj)
    db.session.flush()
    after = snapshot(obj, fields)
    if before != after:
        action = "created" if is_new else "updated"
        record_event(f"{object_type}.{action}", object_type, obj.id, before=before, after=after)
    return obj


def save_run(run: CourseRun, values: Mapping[str, Any], *, source: bool) -> CourseRun | None:
    """Save a run; with ``source`` it becomes its course's only source run (b2b-rules 1.1): the
    previous source run, returned, is unflagged and flushed first, so the partial unique index
    never sees two. A concurrent claim still fails on that index, as an IntegrityError."""
    previous: CourseRun | None = None
    if source and not run.is_source_run:
        others = [CourseRun.course_id == values.get("course_id", run.course_id)]
        if run.id is not None:
            others.append(CourseRun.id != run.id)
        previous = db.session.scalar(
            select(CourseRun).where(*others, CourseRun.is_source_run.is_(True)).with_for_update()
        )
        if previous is not None:
            save(previous, {"is_source_run": False})
    save(run, {**values, "is_source_run": source})
    return previous


# --------------------------------------------------------------------------- reads (staff pages)


@dataclass(frozen=True)
class CoursewareOverview:
    courses: list[Course]  # with their runs
    programs: list[Program]  # with their courses


def courseware_overview() -> CoursewareOverview:
    courses = db.session.scalars(
        select(Course).options(selectinload(Course.runs)).order_by(Course.key)
    ).all()
    programs = db.session.scalars(
        select(Program)
        .options(selectinload(Program.course_links).joinedload(ProgramCourse.course))
        .order_by(Program.key)
    ).all()
    return CoursewareOverview(courses=list(courses), programs=list(programs))


def program_with_courses(program_id: int, *, lock: bool = False) -> Program | None:
    """The program with its ordered courses; with ``lock``, its row locked for a change of them."""
    return db.session.get(
        Program,
        program_id,
        options=[selectinload(Program.course_links).joinedload(ProgramCourse.course)],
        with_for_update=True if lock else None,
    )


def courses_outside(program: Program) -> list[Course]:
    """The courses that could be added to the program, by title."""
    taken = {link.course_id for link in program.course_links}
    courses = db.session.scalars(select(Course).order_by(Course.title))
    return [c for c in courses if c.id not in taken]


# --------------------------------------------------------------------------- programs (staff)


def append_program_course(program: Program, course: Course) -> ProgramCourse:
    """Add a course at the end of the program. A course already in it fails on the unique
    constraint (an IntegrityError for the caller to turn into a message)."""
    last = db.session.scalar(
        select(func.max(ProgramCourse.position)).where(ProgramCourse.program_id == program.id)
    )
    link = ProgramCourse(course_id=course.id, position=(last + 1) if last is not None else 0)
    program.course_links.append(link)
    db.session.flush()
    record_event(
        "program.course_added",
        "program",
        program.id,
        after={"course": course.key, "position": link.position},
    )
    return link


def _course_keys(program: Program) -> list[str]:
    return [link.course.key for link in sorted(program.course_links, key=lambda x: x.position)]


def move_program_course(program: Program, link: ProgramCourse, offset: int) -> bool:
    """Swap a course with its neighbour (offset -1 up, +1 down); False at either end."""
    links = sorted(program.course_links, key=lambda x: x.position)
    index = links.index(link)
    target = index + offset
    if offset not in (-1, 1) or not 0 <= target < len(links):
        return False
    before = _course_keys(program)
    other = links[target]
    mine, theirs = link.position, other.position
    # Positions are unique per program: park this one past the end, then swap (one flush each).
    link.position = links[-1].position + 1
    db.session.flush()
    other.position = mine
    db.session.flush()
    link.position = theirs
    db.session.flush()
    record_event(
        "program.course_moved",
        "program",
        program.id,
        before={"courses": before},
        after={"courses": _course_keys(program)},
    )
    return True


def remove_program_course(program: Program, link: ProgramCourse) -> None:
    """Take a course out of the program and close the gap in the order."""
    before = _course_keys(program)
    later = sorted(
        (x for x in program.course_links if x.position > link.position), key=lambda x: x.position
    )
    program.course_links.remove(link)
    db.session.flush()
    for item in later:
        item.position -= 1
        db.session.flush()
    record_event(
        "program.course_removed",
        "program",
        program.id,
        before={"courses": before},
        after={"courses": _course_keys(program)},
    )


# --------------------------------------------------------------------------- importing from edX


@dataclass(frozen=True)
class EdxRunFields:
    title: str
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    enrollment_start: dt.datetime | None
    enrollment_end: dt.datetime | None
    pacing: Pacing


# Which of Studio's dates is not one, in "edX's answer can't be used: its start date ... is not
# a date." (the French "sa date de début ...").
DATE_NAMES = {
    "start": _l("start"),
    "end": _l("end"),
    "enrollment_start": _l("enrollment start"),
    "enrollment_end": _l("enrollment end"),
}


def _edx_date(value: Any, name: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(
            _("its %(name)s date %(value)s is not a date", name=DATE_NAMES[name], value=repr(value))
        ) from exc
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def edx_run_fields(data: Mapping[str, Any]) -> EdxRunFields:
    """Title, dates and pacing from Studio's course-run representation (openedx.md 4.2)."""
    schedule = data.get("schedule") or {}
    if not isinstance(schedule, Mapping):
        raise ValueError(_("its schedule is not an object"))
    title = str(data.get("title") or "").strip()[:300]
    if not title:
        raise ValueError(_("it has no title"))
    fields = EdxRunFields(
        title=title,
        start_at=_edx_date(schedule.get("start"), "start"),
        end_at=_edx_date(schedule.get("end"), "end"),
        enrollment_start=_edx_date(schedule.get("enrollment_start"), "enrollment_start"),
        enrollment_end=_edx_date(schedule.get("enrollment_end"), "enrollment_end"),
        pacing=Pacing.SELF if data.get("pacing_type") == "self_paced" else Pacing.INSTRUCTOR,
    )
    if fields.start_at and fields.end_at and fields.end_at <= fields.start_at:
        raise ValueError(_("it ends before it starts"))
    return fields


@dataclass(frozen=True)
class ImportResult:
    run: CourseRun
    course_created: bool
    flagged_source: bool


ALREADY_IMPORTED = _l(
    "That run is already in the portal; edit it from the courseware list instead."
)


class EdxUnavailable(DomainError):
    """edX did not answer, or answered with an error that may pass: try again later."""

    code = "edx_unavailable"
    status = 503


class EdxRefused(DomainError):
    """edX refused the portal, or answered with something the portal can't use."""

    code = "edx_refused"
    status = 502


def import_run_from_edx(key: str) -> ImportResult:
    """Import the edX run ``key`` from what Studio says about it; nothing is written unless edX
    answered with a usable run. Refusals: ``Conflict`` (the portal has it already, checked before
    asking edX), ``EdxUnavailable``, ``EdxRefused``, ``NotFound`` (edX has no such run). An import
    that races another one fails on the unique key (IntegrityError)."""
    if db.session.scalar(select(CourseRun.id).where(CourseRun.course_key == key)) is not None:
        raise Conflict(str(ALREADY_IMPORTED))
    try:
        data = edx_client().get_course_run(key)
    except OpenEdxError as exc:
        if exc.transient:
            raise EdxUnavailable(
                _("edX is unavailable right now, so nothing was imported. Try again in a moment.")
            ) from exc
        raise EdxRefused(
            _("edX refused to show this run (HTTP %(status)s).", status=exc.status)
        ) from exc
    if data is None:
        raise NotFound(_("edX has no course run with that key."))
    try:
        return import_edx_run(key, data)
    except ValueError as exc:
        raise EdxRefused(_("edX's answer can't be used: %(reason)s.", reason=exc)) from exc


def import_edx_run(key: str, data: Mapping[str, Any]) -> ImportResult:
    """Create the run (and its course when missing) from what Studio says about ``key``.

    The course key is the run key's ORG+NUMBER and takes the run's title when it is created. A run
    whose run part is ``SOURCE`` (the b2b-rules 1.1 convention) becomes the course's source run if
    the course has none yet. Raises ValueError when Studio's answer is unusable; an already
    imported run fails on the unique key (IntegrityError)."""
    parts = split_run_key(key)
    if parts is None:
        raise ValueError(_("it is not a course-v1:ORG+NUMBER+RUN key"))
    org, number, run_part = parts
    fields = edx_run_fields(data)
    course = db.session.scalar(select(Course).where(Course.key == f"{org}+{number}"))
    created = course is None
    if course is None:
        course = Course(key=f"{org}+{number}", number=number, title=fields.title)
        save(course, {})
    has_source = db.session.scalar(
        select(func.count(CourseRun.id)).where(
            CourseRun.course_id == course.id, CourseRun.is_source_run.is_(True)
        )
    )
    flag = run_part.upper() == SOURCE_RUN_PART and not has_source
    run = CourseRun(course_id=course.id, course_key=key, is_source_run=flag, hidden=False)
    save(
        run,
        {
            "title": fields.title,
            "start_at": fields.start_at,
            "end_at": fields.end_at,
            "enrollment_start": fields.enrollment_start,
            "enrollment_end": fields.enrollment_end,
            "pacing": fields.pacing,
        },
    )
    return ImportResult(run, created, flag)
