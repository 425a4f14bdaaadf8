"""Staff courseware pages: courses, runs, programs and API tokens. Validation, authorization,
audit events, and nothing half-written when the input is bad."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.models import (
    ApiToken,
    AuditEvent,
    Course,
    CourseRun,
    MembershipType,
    Pacing,
    Program,
    ProgramCourse,
)
from portal.models.courseware import RESTRICTION_B2B, RESTRICTION_B2C
from tests.portal.test_catalog_api import forget_user_between_requests
from tests.support.factories import ContractFactory, CourseRunFactory, OrganizationFactory
from tests.support.pages import inline_scripts
from tests.support.sessions import csrf_token_of


@pytest.fixture(autouse=True)
def _fresh_user(app: Flask) -> None:
    forget_user_between_requests(app)


@pytest.fixture
def staff(login_as: Callable[..., Any]) -> Any:
    return login_as("staff")


@pytest.fixture
def course(db: Any) -> Course:
    course = Course(key="OpenU+CS.50x", number="CS.50x", title="Intro to Computing")
    db.session.add(course)
    db.session.commit()
    return course


def count(db: Any, model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)))


def events(db: Any, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def text(response: Any) -> str:
    return response.get_data(as_text=True)


RUN_FORM = {
    "course_key": "course-v1:OpenU+CS.50x+2026_Fall",
    "title": "Intro, fall 2026",
    "start_at": "2026-09-01T09:00",
    "end_at": "2027-01-31T17:00",
    "enrollment_start": "",
    "enrollment_end": "",
    "pacing": "instructor_paced",
    "restriction_type": "",
}


# --------------------------------------------------------------------------- authorization

ROUTES = [
    ("GET", "/staff/courseware"),
    ("GET", "/staff/courseware/courses/new"),
    ("POST", "/staff/courseware/courses/new"),
    ("GET", "/staff/courseware/courses/{course}"),
    ("POST", "/staff/courseware/courses/{course}"),
    ("GET", "/staff/courseware/courses/{course}/runs/new"),
    ("POST", "/staff/courseware/courses/{course}/runs/new"),
    ("GET", "/staff/courseware/runs/{run}"),
    ("POST", "/staff/courseware/runs/{run}"),
    ("GET", "/staff/courseware/import"),
    ("POST", "/staff/courseware/import"),
    ("GET", "/staff/courseware/programs/new"),
    ("POST", "/staff/courseware/programs/new"),
    ("GET", "/staff/courseware/programs/{program}"),
    ("POST", "/staff/courseware/programs/{program}"),
    ("POST", "/staff/courseware/programs/{program}/courses"),
    ("POST", "/staff/courseware/programs/{program}/courses/{link}/up"),
    ("POST", "/staff/courseware/programs/{program}/courses/{link}/down"),
    ("POST", "/staff/courseware/programs/{program}/courses/{link}/remove"),
    ("GET", "/staff/api-tokens"),
    ("GET", "/staff/api-tokens/new"),
    ("POST", "/staff/api-tokens/new"),
    ("GET", "/staff/api-tokens/{token}/revoke"),
    ("POST", "/staff/api-tokens/{token}/revoke"),
]


@pytest.fixture
def objects(db: Any, course: Course) -> dict[str, int]:
    run = CourseRun(course_id=course.id, course_key="course-v1:OpenU+CS.50x+R1", title="R1")
    program = Program(key="program-v1:P", title="P")
    token = ApiToken(name="t", token_hash="0" * 64, allowed_restrictions=RESTRICTION_B2B)
    db.session.add_all([run, program, token])
    db.session.flush()
    link = ProgramCourse(program_id=program.id, course_id=course.id, position=0)
    db.session.add(link)
    db.session.commit()
    return {
        "course": course.id,
        "run": run.id,
        "program": program.id,
        "link": link.id,
        "token": token.id,
    }


def _snapshot(db: Any) -> tuple[Any, ...]:
    """Row counts, revoked tokens and program order: anything a refused request might change."""
    db.session.expire_all()
    models = (Course, CourseRun, Program, ProgramCourse, ApiToken, AuditEvent)
    return (
        *(count(db, m) for m in models),
        int(db.session.scalar(select(func.count()).where(ApiToken.revoked_at.is_not(None)))),
        *db.session.execute(
            select(ProgramCourse.course_id, ProgramCourse.position).order_by(ProgramCourse.id)
        ).all(),
    )


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_learner_gets_403_and_nothing_changes(
    client: FlaskClient,
    db: Any,
    login_as: Callable[..., Any],
    objects: dict[str, int],
    method: str,
    path: str,
) -> None:
    login_as("learner")
    before = _snapshot(db)
    form = {"key": "OpenU+NEW", "title": "x", "name": "x", "confirm": "y", "course_id": "1"}
    response = client.open(path.format(**objects), method=method, data=form)
    assert response.status_code == 403
    assert _snapshot(db) == before


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_is_sent_to_sign_in(
    client: FlaskClient, db: Any, objects: dict[str, int], method: str, path: str
) -> None:
    before = _snapshot(db)
    response = client.open(path.format(**objects), method=method, data={"confirm": "y"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")
    assert _snapshot(db) == before


def test_staff_pages_render(client: FlaskClient, staff: Any, objects: dict[str, int]) -> None:
    for method, path in ROUTES:
        if method == "GET":
            response = client.get(path.format(**objects))
            assert response.status_code == 200, path
            html = text(response)
            assert inline_scripts(html) == [] and not re.search(r"\sstyle\s*=", html)
    overview = text(client.get("/staff/courseware"))
    assert "course-v1:OpenU+CS.50x+R1" in overview and "program-v1:P" in overview


def test_courseware_overview_queries_are_bounded(
    client: FlaskClient,
    db: Any,
    staff: Any,
    objects: dict[str, int],
    count_queries: Callable[[], Any],
) -> None:
    def measure() -> int:
        client.get("/staff/courseware")
        with count_queries() as counter:
            assert client.get("/staff/courseware").status_code == 200
        return counter.count

    small = measure()
    for i in range(8):
        c = Course(key=f"X+C{i}", number=f"C{i}", title=f"C{i}")
        p = Program(key=f"program-v1:X{i}", title=f"X{i}")
        db.session.add_all([c, p])
        db.session.flush()
        db.session.add_all(
            [
                CourseRun(course_id=c.id, course_key=f"course-v1:X+C{i}+R", title="R"),
                ProgramCourse(program_id=p.id, course_id=c.id, position=0),
            ]
        )
    db.session.commit()
    assert measure() == small


# --------------------------------------------------------------------------- courses


def test_create_course_with_audit_event(client: FlaskClient, db: Any, staff: Any) -> None:
    response = client.post(
        "/staff/courseware/courses/new",
        data={"key": " B2B_SOURCE+DS.101x ", "number": "", "title": "Data", "description": "D"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/staff/courseware"
    course = db.session.scalar(select(Course))
    assert (course.key, course.number, course.title) == ("B2B_SOURCE+DS.101x", "DS.101x", "Data")
    (event,) = events(db, "course.created")
    assert event.actor_id == staff.id and event.object_id == str(course.id)
    assert event.before is None and event.after["key"] == "B2B_SOURCE+DS.101x"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"key": "", "title": "T"}, "Enter the course key."),
        ({"key": "NOPLUS", "title": "T"}, "Use ORG+NUMBER"),
        ({"key": "A+B+C", "title": "T"}, "Use ORG+NUMBER"),
        ({"key": "A B+C", "title": "T"}, "Use ORG+NUMBER"),
        ({"key": "Ünï+C", "title": "T"}, "Use ORG+NUMBER"),
        ({"key": "A+" + "x" * 300, "title": "T"}, "200"),
        ({"key": "A+B", "title": ""}, "Enter a title."),
        ({"key": "A+B", "title": "bad\x07title"}, "control characters"),  # NUL: refused earlier
        ({"key": "A+B", "number": "C", "title": "T"}, "The number must be"),
        ({"title": "T"}, "Enter the course key."),
    ],
)
def test_course_form_validation(
    client: FlaskClient, db: Any, staff: Any, form: dict[str, str], message: str
) -> None:
    response = client.post("/staff/courseware/courses/new", data=form)
    assert response.status_code == 400
    assert message in text(response)
    assert count(db, Course) == 0 and count(db, AuditEvent) == 0


def test_duplicate_course_key_is_a_form_error(
    client: FlaskClient, db: Any, staff: Any, course: Course
) -> None:
    response = client.post(
        "/staff/courseware/courses/new", data={"key": course.key, "title": "Another"}
    )
    assert response.status_code == 409
    assert "A course with this key already exists." in text(response)
    assert count(db, Course) == 1 and count(db, AuditEvent) == 0


def test_edit_course_records_before_and_after(
    client: FlaskClient, db: Any, staff: Any, course: Course
) -> None:
    response = client.post(
        f"/staff/courseware/courses/{course.id}",
        data={"key": course.key, "title": "Computing, renamed", "description": "New"},
    )
    assert response.status_code == 302
    db.session.refresh(course)
    assert course.title == "Computing, renamed"
    (event,) = events(db, "course.updated")
    assert event.before["title"] == "Intro to Computing"
    assert event.after["title"] == "Computing, renamed"


def test_course_key_is_fixed_once_it_has_runs(
    client: FlaskClient, db: Any, staff: Any, course: Course
) -> None:
    db.session.add(CourseRun(course_id=course.id, course_key="course-v1:OpenU+CS.50x+R", title="R"))
    db.session.commit()
    response = client.post(
        f"/staff/courseware/courses/{course.id}", data={"key": "OpenU+CS.51x", "title": "T"}
    )
    assert response.status_code == 400 and "key can&#39;t change" in text(response)
    db.session.refresh(course)
    assert course.key == "OpenU+CS.50x"


def test_unknown_ids_are_404(client: FlaskClient, staff: Any) -> None:
    for path in [
        "/staff/courseware/courses/999",
        "/staff/courseware/courses/999/runs/new",
        "/staff/courseware/runs/999",
        "/staff/courseware/programs/999",
        "/staff/api-tokens/999/revoke",
    ]:
        assert client.get(path).status_code == 404
    assert client.post("/staff/courseware/programs/999/courses/1/up").status_code == 404


# --------------------------------------------------------------------------- runs


def test_create_run(client: FlaskClient, db: Any, staff: Any, course: Course) -> None:
    form = {**RUN_FORM, "restriction_type": RESTRICTION_B2C, "hidden": "y"}
    response = client.post(f"/staff/courseware/courses/{course.id}/runs/new", data=form)
    assert response.status_code == 302
    run = db.session.scalar(select(CourseRun))
    assert run.course_id == course.id and run.title == "Intro, fall 2026"
    assert run.start_at == dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)
    assert run.end_at == dt.datetime(2027, 1, 31, 17, tzinfo=dt.UTC)
    assert run.enrollment_start is None and run.pacing is Pacing.INSTRUCTOR
    assert run.restriction_type == RESTRICTION_B2C and run.hidden and not run.is_source_run
    (event,) = events(db, "course_run.created")
    assert event.after["start_at"] == "2026-09-01T09:00:00Z"
    assert event.after["restriction_type"] == RESTRICTION_B2C


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"course_key": "course-v1:Other+CS.50x+X"}, "has a key course-v1:OpenU+CS.50x+RUN"),
        ({"course_key": "OpenU+CS.50x+X"}, "Use course-v1:ORG+NUMBER+RUN"),
        ({"course_key": "course-v1:OpenU+CS.50x+bad run"}, "Use course-v1:ORG+NUMBER+RUN"),
        ({"course_key": ""}, "Enter the course run key."),
        ({"title": ""}, "Enter a title."),
        ({"end_at": "2026-08-01T00:00"}, "The run must end after it starts."),
        ({"end_at": "2026-09-01T09:00"}, "The run must end after it starts."),
        (
            {"enrollment_start": "2026-08-01T00:00", "enrollment_end": "2026-07-01T00:00"},
            "Enrollment must close after it opens.",
        ),
        ({"start_at": "tomorrow"}, "Enter a date and time like"),
        ({"start_at": "2026-13-45T99:99"}, "Enter a date and time like"),
        ({"pacing": "fast"}, "Not a valid choice"),
        ({"restriction_type": "custom-b2b"}, "Not a valid choice"),
        ({"restriction_type": "None"}, "Not a valid choice"),
    ],
)
def test_run_form_validation(
    client: FlaskClient,
    db: Any,
    staff: Any,
    course: Course,
    changes: dict[str, str],
    message: str,
) -> None:
    response = client.post(
        f"/staff/courseware/courses/{course.id}/runs/new", data={**RUN_FORM, **changes}
    )
    assert response.status_code == 400
    assert message in text(response)
    assert count(db, CourseRun) == 0 and count(db, AuditEvent) == 0


def test_duplicate_run_key_is_a_form_error(
    client: FlaskClient, db: Any, staff: Any, course: Course
) -> None:
    db.session.add(CourseRun(course_id=course.id, course_key=RUN_FORM["course_key"], title="x"))
    db.session.commit()
    response = client.post(f"/staff/courseware/courses/{course.id}/runs/new", data=RUN_FORM)
    assert response.status_code == 409
    assert "A course run with this key already exists." in text(response)
    assert count(db, CourseRun) == 1 and count(db, AuditEvent) == 0


def test_a_new_source_run_unflags_the_old_one(
    client: FlaskClient, db: Any, staff: Any, course: Course
) -> None:
    old = CourseRun(
        course_id=course.id,
        course_key="course-v1:OpenU+CS.50x+SOURCE",
        title="S",
        is_source_run=True,
    )
    db.session.add(old)
    db.session.commit()
    form = {**RUN_FORM, "course_key": "course-v1:OpenU+CS.50x+SOURCE2", "is_source_run": "y"}
    response = client.post(
        f"/staff/courseware/courses/{course.id}/runs/new", data=form, follow_redirects=True
    )
    assert response.status_code == 200
    assert "course-v1:OpenU+CS.50x+SOURCE is no longer the course&#39;s source run" in text(
        response
    )
    sources = db.session.scalars(
        select(CourseRun.course_key).where(CourseRun.is_source_run.is_(True))
    ).all()
    assert sources == ["course-v1:OpenU+CS.50x+SOURCE2"]
    (unflagged,) = events(db, "course_run.updated")
    assert unflagged.object_id == str(old.id)
    assert unflagged.before["is_source_run"] is True and unflagged.after["is_source_run"] is False
    (created,) = events(db, "course_run.created")
    assert created.after["course_key"].endswith("SOURCE2")


def test_edit_run(client: FlaskClient, db: Any, staff: Any, course: Course) -> None:
    run = CourseRun(course_id=course.id, course_key=RUN_FORM["course_key"], title="Old")
    db.session.add(run)
    db.session.commit()
    page = text(client.get(f"/staff/courseware/runs/{run.id}"))
    assert 'value="Old"' in page
    response = client.post(
        f"/staff/courseware/runs/{run.id}",
        data={**RUN_FORM, "restriction_type": RESTRICTION_B2B, "is_source_run": "y"},
    )
    assert response.status_code == 302
    db.session.refresh(run)
    assert run.restriction_type == RESTRICTION_B2B and run.is_source_run and not run.hidden
    (event,) = [e for e in events(db, "course_run.updated") if e.after["is_source_run"]]
    assert event.before["restriction_type"] is None and event.before["title"] == "Old"
    # Unflagging the source run and clearing the restriction.
    response = client.post(f"/staff/courseware/runs/{run.id}", data=RUN_FORM)
    db.session.refresh(run)
    assert not run.is_source_run and run.restriction_type is None


def test_a_contract_run_keeps_its_key_and_restriction(
    client: FlaskClient, db: Any, staff: Any, course: Course
) -> None:
    contract = ContractFactory(
        organization=OrganizationFactory(name="Acme", key="ACME"),
        name="C",
        slug="c",
        membership_type=MembershipType.AUTO,
        unlimited=True,
    )
    run = CourseRunFactory(
        course=course,
        course_key="course-v1:ACME+CS.50x+1T1C2026",
        title="Acme run",
        contract=contract,
        run_number=1,
        contract_run=True,
    )
    db.session.commit()
    form = {**RUN_FORM, "course_key": run.course_key, "restriction_type": ""}
    response = client.post(f"/staff/courseware/runs/{run.id}", data=form)
    assert response.status_code == 400 and "Contract runs are restricted" in text(response)
    form = {
        **RUN_FORM,
        "course_key": "course-v1:ACME+CS.50x+9T9C2026",
        "restriction_type": RESTRICTION_B2B,
    }
    response = client.post(f"/staff/courseware/runs/{run.id}", data=form)
    assert response.status_code == 400 and "its key is fixed" in text(response)
    form = {**RUN_FORM, "course_key": run.course_key, "restriction_type": RESTRICTION_B2B}
    assert client.post(f"/staff/courseware/runs/{run.id}", data=form).status_code == 302
    db.session.refresh(run)
    assert run.title == RUN_FORM["title"] and run.restriction_type == RESTRICTION_B2B


# --------------------------------------------------------------------------- programs


def _course(db: Any, key: str) -> Course:
    course = Course(key=key, number=key.split("+")[1], title=f"Course {key}")
    db.session.add(course)
    db.session.commit()
    return course


def _order(db: Any, program: Program) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Course.key)
            .join(ProgramCourse, ProgramCourse.course_id == Course.id)
            .where(ProgramCourse.program_id == program.id)
            .order_by(ProgramCourse.position)
        )
    )


def test_program_lifecycle(client: FlaskClient, db: Any, staff: Any) -> None:
    a, b, c = (_course(db, f"X+{n}") for n in "ABC")
    response = client.post(
        "/staff/courseware/programs/new",
        data={"key": "program-v1:X+ALL", "title": "All", "description": "Everything"},
    )
    program = db.session.scalar(select(Program))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/courseware/programs/{program.id}"
    base = f"/staff/courseware/programs/{program.id}"
    for course in (a, b, c):
        assert client.post(f"{base}/courses", data={"course_id": course.id}).status_code == 302
    assert _order(db, program) == ["X+A", "X+B", "X+C"]
    links = {link.course_id: link.id for link in db.session.scalars(select(ProgramCourse))}

    assert client.post(f"{base}/courses/{links[c.id]}/up").status_code == 302
    assert _order(db, program) == ["X+A", "X+C", "X+B"]
    client.post(f"{base}/courses/{links[a.id]}/down")
    assert _order(db, program) == ["X+C", "X+A", "X+B"]
    # At either end nothing moves.
    moved = client.post(f"{base}/courses/{links[c.id]}/up", follow_redirects=True)
    assert "already first" in text(moved)
    client.post(f"{base}/courses/{links[b.id]}/down")
    assert _order(db, program) == ["X+C", "X+A", "X+B"]

    assert client.post(f"{base}/courses/{links[c.id]}/remove").status_code == 302
    assert _order(db, program) == ["X+A", "X+B"]
    positions = db.session.scalars(select(ProgramCourse.position).order_by(ProgramCourse.position))
    assert list(positions) == [0, 1]
    assert client.post(f"{base}/courses", data={"course_id": c.id}).status_code == 302
    assert _order(db, program) == ["X+A", "X+B", "X+C"]

    page = text(client.get(base))
    listed = page[page.index('<ol class="ordered-courses">') :]
    assert listed.index("Course X+A") < listed.index("Course X+B") < listed.index("Course X+C")
    assert [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))] == [
        "program.created",
        "program.course_added",
        "program.course_added",
        "program.course_added",
        "program.course_moved",
        "program.course_moved",
        "program.course_removed",
        "program.course_added",
    ]
    moved_event = events(db, "program.course_moved")[0]
    assert moved_event.before == {"courses": ["X+A", "X+B", "X+C"]}
    assert moved_event.after == {"courses": ["X+A", "X+C", "X+B"]}


def test_program_validation(client: FlaskClient, db: Any, staff: Any) -> None:
    course = _course(db, "X+A")
    program = Program(key="program-v1:TAKEN", title="Taken")
    db.session.add(program)
    db.session.commit()
    response = client.post(
        "/staff/courseware/programs/new", data={"key": "program-v1:TAKEN", "title": "Again"}
    )
    assert response.status_code == 409 and "A program with this key already exists." in text(
        response
    )
    response = client.post("/staff/courseware/programs/new", data={"key": "bad key", "title": "T"})
    assert response.status_code == 400 and "Use letters, digits" in text(response)
    base = f"/staff/courseware/programs/{program.id}"
    for value in ["abc", "", "999", "-1"]:
        response = client.post(f"{base}/courses", data={"course_id": value})
        assert response.status_code == 400, value
    assert client.post(f"{base}/courses", data={"course_id": course.id}).status_code == 302
    again = client.post(f"{base}/courses", data={"course_id": course.id})
    assert again.status_code == 400 and "a course that isn&#39;t in this program yet" in text(again)
    assert count(db, ProgramCourse) == 1
    assert client.post(f"{base}/courses/999/up").status_code == 404
    assert client.post(f"{base}/courses/1/sideways").status_code == 404


def test_edit_program_and_hide_it(client: FlaskClient, db: Any, staff: Any) -> None:
    program = Program(key="program-v1:P", title="P")
    db.session.add(program)
    db.session.commit()
    response = client.post(
        f"/staff/courseware/programs/{program.id}",
        data={"key": "program-v1:P", "title": "P2", "hidden": "y"},
    )
    assert response.status_code == 302
    db.session.refresh(program)
    assert program.hidden and program.title == "P2"
    (event,) = events(db, "program.updated")
    assert event.before["hidden"] is False and event.after["hidden"] is True
    assert client.get("/catalog/programs/program-v1:P").status_code == 404


# --------------------------------------------------------------------------- API tokens


def test_token_is_shown_once_and_stored_hashed(client: FlaskClient, db: Any, staff: Any) -> None:
    response = client.post(
        "/staff/api-tokens/new",
        data={"name": "Acme catalog", "allowed_restrictions": [RESTRICTION_B2B]},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    value = re.search(r'<code id="token-value">([^<]+)</code>', text(response)).group(1)
    assert value.startswith("pct_") and len(value) > 40
    token = db.session.scalar(select(ApiToken))
    assert token.token_hash == hashlib.sha256(value.encode()).hexdigest()
    assert token.allowed_restrictions == RESTRICTION_B2B and token.created_by_id == staff.id
    assert value not in token.token_hash and value not in token.name
    (event,) = events(db, "api_token.issued")
    assert value not in str(event.after) and token.token_hash not in str(event.after)
    # Never shown again.
    listing = text(client.get("/staff/api-tokens"))
    assert "Acme catalog" in listing and value not in listing
    assert value not in text(client.get(f"/staff/api-tokens/{token.id}/revoke"))
    # And it works.
    api = client.get(
        f"/api/v1/course_runs/?include_restricted={RESTRICTION_B2B}",
        headers={"Authorization": f"Bearer {value}"},
    )
    assert api.status_code == 200


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "allowed_restrictions": [RESTRICTION_B2B]}, "Name the token"),
        ({"name": "x"}, "Choose at least one restriction type."),
        ({"name": "x", "allowed_restrictions": ["everything"]}, "is not a valid choice"),
    ],
)
def test_token_form_validation(
    client: FlaskClient, db: Any, staff: Any, form: dict[str, Any], message: str
) -> None:
    response = client.post("/staff/api-tokens/new", data=form)
    assert response.status_code == 400 and message in text(response)
    assert count(db, ApiToken) == 0


def test_both_types_token(client: FlaskClient, db: Any, staff: Any) -> None:
    client.post(
        "/staff/api-tokens/new",
        data={"name": "x", "allowed_restrictions": [RESTRICTION_B2C, RESTRICTION_B2B]},
    )
    token = db.session.scalar(select(ApiToken))
    assert token.allowed_restrictions == f"{RESTRICTION_B2B},{RESTRICTION_B2C}"


def test_revoke_needs_confirmation(client: FlaskClient, db: Any, staff: Any) -> None:
    response = client.post(
        "/staff/api-tokens/new", data={"name": "x", "allowed_restrictions": [RESTRICTION_B2B]}
    )
    value = re.search(r'<code id="token-value">([^<]+)</code>', text(response)).group(1)
    token = db.session.scalar(select(ApiToken))
    url = f"/staff/api-tokens/{token.id}/revoke"
    refused = client.post(url, data={})
    assert refused.status_code == 400 and "Tick the box to confirm." in text(refused)
    db.session.refresh(token)
    assert token.revoked_at is None
    assert client.post(url, data={"confirm": "y"}).status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None
    (event,) = events(db, "api_token.revoked")
    assert event.before["revoked_at"] is None and event.after["revoked_at"]
    again = client.post(url, data={"confirm": "y"}, follow_redirects=True)
    assert "already revoked" in text(again) and len(events(db, "api_token.revoked")) == 1
    api = client.get("/api/v1/course_runs/", headers={"Authorization": f"Bearer {value}"})
    assert api.status_code == 401


def test_forms_work_with_csrf_on(db: Any, csrf_staff_client: FlaskClient) -> None:
    """CSRF is global: every staff form carries the token, and a POST without it changes nothing."""
    client = csrf_staff_client
    form = client.get("/staff/courseware/courses/new").get_data(as_text=True)
    token = csrf_token_of(form)
    data = {"key": "OpenU+CSRF", "title": "CSRF"}
    refused = client.post("/staff/courseware/courses/new", data=data)
    assert refused.status_code == 400 and "This form has expired" in text(refused)
    assert count(db, Course) == 0
    done = client.post("/staff/courseware/courses/new", data={**data, "csrf_token": token})
    assert done.status_code == 302 and count(db, Course) == 1
