"""The demo courses (matching the Open edX emulator's source runs), a public course, a program."""

from __future__ import annotations

import datetime as dt

from portal.demo.common import Created, get_or_create, tally
from portal.extensions import db
from portal.models import Course, CourseRun, Pacing, Program, ProgramCourse

COURSES = [
    ("B2B_SOURCE+DS.101x", "DS.101x", "Foundations of Data Science"),
    ("B2B_SOURCE+PY.110x", "PY.110x", "Python for Analysts"),
    ("B2B_SOURCE+LEAD.201x", "LEAD.201x", "Leading Teams"),
    ("B2B_SOURCE+ETH.150x", "ETH.150x", "Data Ethics"),
]
PUBLIC_COURSE = ("OpenU+CS.50x", "CS.50x", "Introduction to Computing", "2026_Fall")

PROGRAM = {
    "key": "program-v1:B2B+DATA-LEAD",
    "title": "Data Leadership Program",
    "courses": ["B2B_SOURCE+DS.101x", "B2B_SOURCE+PY.110x", "B2B_SOURCE+ETH.150x"],
}


def seed_source_courses(created: Created) -> dict[str, Course]:
    """The B2B courses, each with its hidden, self-paced source run; by course key."""
    courses = {}
    for key, number, title in COURSES:
        course, new = get_or_create(Course, {"key": key}, number=number, title=title)
        courses[key] = course
        tally(created, "courses", new)
        _, new = get_or_create(
            CourseRun,
            {"course_key": f"course-v1:{key}+SOURCE"},
            course_id=course.id,
            title=title,
            is_source_run=True,
            hidden=True,
            pacing=Pacing.SELF,
            enrollment_modes=["audit", "verified"],
        )
        tally(created, "course runs", new)
    return courses


def seed_public_course(created: Created) -> None:
    """An open course with one instructor-paced run, for the public catalog."""
    key, number, title, run = PUBLIC_COURSE
    public_course, new = get_or_create(
        Course,
        {"key": key},
        number=number,
        title=title,
        description="An open course anyone can take; shown in the public catalog.",
    )
    tally(created, "courses", new)
    _, new = get_or_create(
        CourseRun,
        {"course_key": f"course-v1:{key}+{run}"},
        course_id=public_course.id,
        title=title,
        start_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
        end_at=dt.datetime(2027, 1, 31, tzinfo=dt.UTC),
        pacing=Pacing.INSTRUCTOR,
    )
    tally(created, "course runs", new)


def seed_program(created: Created, courses: dict[str, Course]) -> None:
    """The program and, when it is new, its courses in order."""
    program, new = get_or_create(
        Program,
        {"key": PROGRAM["key"]},
        title=PROGRAM["title"],
        description="Three courses that take a team from data basics to responsible practice.",
    )
    tally(created, "programs", new)
    if new:
        for position, course_key in enumerate(PROGRAM["courses"]):
            db.session.add(
                ProgramCourse(
                    program_id=program.id, course_id=courses[course_key].id, position=position
                )
            )
