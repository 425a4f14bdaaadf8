"""The catalog JSON API and ADR 27 (openedx.md section 11): restricted runs, hidden runs, who may
include what, pagination and bad input, and a bounded number of queries."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from portal.models import ApiToken, Course, CourseRun, Pacing, Program, ProgramCourse, utcnow
from portal.models.courseware import RESTRICTION_B2B, RESTRICTION_B2C

B2B, B2C = RESTRICTION_B2B, RESTRICTION_B2C

PUBLIC = "course-v1:OpenU+CS.50x+2026_Fall"
SOURCE = "course-v1:OpenU+CS.50x+SOURCE"
B2B_RUN = "course-v1:ACME+CS.50x+1T1C2026"
B2C_RUN = "course-v1:OpenU+CS.50x+B2C_2026"
HIDDEN = "course-v1:OpenU+CS.50x+Hidden_2026"
HIDDEN_B2B = "course-v1:ACME+CS.50x+2T1C2026"
DS_SOURCE = "course-v1:B2B_SOURCE+DS.101x+SOURCE"
DS_B2B = "course-v1:GLOBEX+DS.101x+1T2C2026"

ALL_RUNS = {PUBLIC, SOURCE, B2B_RUN, B2C_RUN, HIDDEN, HIDDEN_B2B, DS_SOURCE, DS_B2B}
NEVER_LISTED = {SOURCE, DS_SOURCE, HIDDEN, HIDDEN_B2B}


@dataclass
class Catalog:
    cs: Course
    ds: Course
    program: Program
    hidden_program: Program


def _run(course: Course, key: str, **values: Any) -> CourseRun:
    values.setdefault("title", f"{course.title} {key.rsplit('+', 1)[-1]}")
    return CourseRun(course_id=course.id, course_key=key, **values)


def build_catalog(db: Any) -> Catalog:
    """Two courses, every kind of run, a program (DS then CS) and a hidden program."""
    cs = Course(key="OpenU+CS.50x", number="CS.50x", title="Intro to Computing")
    ds = Course(key="B2B_SOURCE+DS.101x", number="DS.101x", title="Foundations of Data Science")
    db.session.add_all([cs, ds])
    db.session.flush()
    start = dt.datetime(2026, 9, 1, 9, 30, tzinfo=dt.UTC)
    db.session.add_all(
        [
            _run(
                cs,
                PUBLIC,
                start_at=start,
                end_at=start + dt.timedelta(days=120),
                enrollment_start=start - dt.timedelta(days=30),
                pacing=Pacing.INSTRUCTOR,
            ),
            _run(cs, SOURCE, is_source_run=True),
            _run(cs, B2B_RUN, restriction_type=B2B, start_at=start + dt.timedelta(days=1)),
            _run(cs, B2C_RUN, restriction_type=B2C, start_at=start + dt.timedelta(days=2)),
            _run(cs, HIDDEN, hidden=True),
            _run(cs, HIDDEN_B2B, hidden=True, restriction_type=B2B),
            _run(ds, DS_SOURCE, is_source_run=True, restriction_type=None),
            _run(ds, DS_B2B, restriction_type=B2B),
        ]
    )
    program = Program(key="program-v1:B2B+DATA", title="Data Program")
    hidden_program = Program(key="program-v1:B2B+SECRET", title="Secret Program", hidden=True)
    db.session.add_all([program, hidden_program])
    db.session.flush()
    db.session.add_all(
        [
            ProgramCourse(program_id=program.id, course_id=ds.id, position=0),
            ProgramCourse(program_id=program.id, course_id=cs.id, position=1),
            ProgramCourse(program_id=hidden_program.id, course_id=cs.id, position=0),
        ]
    )
    db.session.commit()
    return Catalog(cs, ds, program, hidden_program)


def make_token(db: Any, types: str, *, revoked: bool = False) -> str:
    value = f"pct_test_{types or 'none'}_{revoked}"
    db.session.add(
        ApiToken(
            name=f"partner {types}",
            token_hash=hashlib.sha256(value.encode()).hexdigest(),
            allowed_restrictions=types,
            revoked_at=utcnow() if revoked else None,
        )
    )
    db.session.commit()
    return value


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def data(db: Any) -> Catalog:
    return build_catalog(db)


def forget_user_between_requests(app: Flask) -> None:
    """Tests share one app context, so Flask-Login would keep the first request's user in ``g``;
    in production every request has its own. Lets a test sign in as someone else midway."""

    def forget() -> None:
        g.pop("_login_user", None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget)


@pytest.fixture(autouse=True)
def _fresh_user(app: Flask) -> None:
    forget_user_between_requests(app)


def run_keys(client: FlaskClient, query: str = "", **kwargs: Any) -> set[str]:
    """Keys of every run the caller sees, through every listing that nests runs."""
    runs = client.get(f"/api/v1/course_runs/?page_size=100{query}", **kwargs)
    assert runs.status_code == 200, runs.get_json()
    listed = {r["key"] for r in runs.get_json()["results"]}

    courses = client.get(f"/api/v1/courses/?page_size=100{query}", **kwargs).get_json()
    nested = {r["key"] for c in courses["results"] for r in c["course_runs"]}
    derived = {k for c in courses["results"] for k in c["course_run_keys"]}
    assert listed == nested == derived

    detail_runs: set[str] = set()
    for key in ("OpenU+CS.50x", "B2B_SOURCE+DS.101x"):
        body = client.get(f"/api/v1/courses/{key}/{query.replace('&', '?', 1)}", **kwargs)
        assert body.status_code == 200  # the course itself is always returned (rule 5)
        course = body.get_json()
        assert [r["key"] for r in course["course_runs"]] == course["course_run_keys"]
        detail_runs |= set(course["course_run_keys"])
    assert detail_runs == listed

    program = client.get(
        f"/api/v1/programs/program-v1:B2B+DATA/{query.replace('&', '?', 1)}", **kwargs
    )
    in_program = {r["key"] for c in program.get_json()["courses"] for r in c["course_runs"]}
    assert in_program == listed  # the program holds both courses
    return listed


# --------------------------------------------------------------------------- ADR 27 rules


def test_default_lists_hold_no_restricted_run(client: FlaskClient, data: Catalog) -> None:
    """Rule 1, in the run list, nested course runs, derived keys, course details and programs."""
    assert run_keys(client) == {PUBLIC}


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        (B2B, {PUBLIC, B2B_RUN, DS_B2B}),
        (B2C, {PUBLIC, B2C_RUN}),
        (f"{B2C},{B2B}", {PUBLIC, B2B_RUN, B2C_RUN, DS_B2B}),
        (f"{B2B}, {B2C}", {PUBLIC, B2B_RUN, B2C_RUN, DS_B2B}),
        ("custom-b2b", {PUBLIC}),
        ("all", {PUBLIC}),
        ("nonsense,,", {PUBLIC}),
        (f"nonsense,{B2B}", {PUBLIC, B2B_RUN, DS_B2B}),
        ("", {PUBLIC}),
    ],
)
def test_include_restricted_for_staff(
    client: FlaskClient,
    login_as: Callable[..., Any],
    data: Catalog,
    include: str,
    expected: set[str],
) -> None:
    """Rule 2: each type alone, both, unknown values ignored, empty; never a hidden or source run."""
    login_as("staff")
    assert run_keys(client, f"&include_restricted={include}") == expected


@pytest.mark.parametrize("include", [B2B, B2C, f"{B2B},{B2C}"])
def test_include_restricted_is_ignored_for_the_public_and_learners(
    client: FlaskClient, login_as: Callable[..., Any], data: Catalog, include: str
) -> None:
    assert run_keys(client, f"&include_restricted={include}") == {PUBLIC}
    login_as("learner")
    assert run_keys(client, f"&include_restricted={include}") == {PUBLIC}


@pytest.mark.parametrize(
    ("allowed", "include", "expected"),
    [
        (B2B, B2B, {PUBLIC, B2B_RUN, DS_B2B}),
        (B2B, B2C, {PUBLIC}),
        (B2B, f"{B2B},{B2C}", {PUBLIC, B2B_RUN, DS_B2B}),
        (B2B, "", {PUBLIC}),
        (B2C, f"{B2B},{B2C}", {PUBLIC, B2C_RUN}),
        (f"{B2B},{B2C}", f"{B2C},{B2B}", {PUBLIC, B2B_RUN, B2C_RUN, DS_B2B}),
        ("", B2B, {PUBLIC}),
    ],
)
def test_a_token_includes_only_the_types_it_was_issued_for(
    client: FlaskClient, db: Any, data: Catalog, allowed: str, include: str, expected: set[str]
) -> None:
    token = make_token(db, allowed)
    assert run_keys(client, f"&include_restricted={include}", headers=bearer(token)) == expected


def test_a_token_is_looked_up_by_hash_and_marked_used(
    client: FlaskClient, db: Any, data: Catalog
) -> None:
    token = make_token(db, B2B)
    row = db.session.scalar(db.select(ApiToken))
    assert row.last_used_at is None and token not in row.token_hash
    assert client.get("/api/v1/course_runs/", headers=bearer(token)).status_code == 200
    db.session.refresh(row)
    assert row.last_used_at is not None
    assert (utcnow() - row.last_used_at).total_seconds() < 60


@pytest.mark.parametrize(
    "header",
    [
        "Bearer pct_not_a_token",
        "Bearer ",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "pct_test_custom-b2b-enterprise_False",
        "Token pct_test_custom-b2b-enterprise_False",
    ],
)
def test_unknown_or_malformed_token_is_401_json(
    client: FlaskClient, db: Any, data: Catalog, header: str
) -> None:
    make_token(db, B2B)
    for path in ["/api/v1/course_runs/", f"/api/v1/course_runs/{PUBLIC}/", "/api/v1/programs/"]:
        response = client.get(path, headers={"Authorization": header})
        assert response.status_code == 401
        assert response.is_json and response.get_json()["status"] == 401
        assert "Bearer" in response.headers["WWW-Authenticate"]


def test_revoked_token_is_401(client: FlaskClient, db: Any, data: Catalog) -> None:
    token = make_token(db, B2B, revoked=True)
    response = client.get(f"/api/v1/course_runs/?include_restricted={B2B}", headers=bearer(token))
    assert response.status_code == 401
    assert "revoked" in response.get_json()["detail"]


def test_restricted_detail_is_404_unless_included_for_an_allowed_caller(
    client: FlaskClient, db: Any, login_as: Callable[..., Any], data: Catalog
) -> None:
    """Rule 3."""
    url = f"/api/v1/course_runs/{B2B_RUN}/"
    assert client.get(url).status_code == 404
    assert client.get(f"{url}?include_restricted={B2B}").status_code == 404
    assert client.get(f"{url}?include_restricted={B2C}").status_code == 404
    token = make_token(db, B2B)
    assert client.get(url, headers=bearer(token)).status_code == 404
    assert client.get(f"{url}?include_restricted={B2C}", headers=bearer(token)).status_code == 404
    found = client.get(f"{url}?include_restricted={B2B}", headers=bearer(token))
    assert found.status_code == 200 and found.get_json()["key"] == B2B_RUN
    b2c_token = make_token(db, B2C)
    b2c_url = f"/api/v1/course_runs/{B2C_RUN}/?include_restricted={B2B},{B2C}"
    assert client.get(b2c_url, headers=bearer(b2c_token)).status_code == 200
    assert client.get(b2c_url, headers=bearer(token)).status_code == 404
    login_as("learner")
    assert client.get(f"{url}?include_restricted={B2B}").status_code == 404
    login_as("staff")
    assert client.get(url).status_code == 404
    assert client.get(f"{url}?include_restricted={B2B}").status_code == 200


def test_hidden_is_independent_of_include_restricted(
    client: FlaskClient, db: Any, login_as: Callable[..., Any], data: Catalog
) -> None:
    """Rule 4: hidden runs stay hidden whatever include_restricted says; restricted is not hidden."""
    both = f"{B2B},{B2C}"
    token = make_token(db, both)
    for key in (HIDDEN, HIDDEN_B2B):
        url = f"/api/v1/course_runs/{key}/?include_restricted={both}"
        assert client.get(url).status_code == 404
        assert client.get(url, headers=bearer(token)).status_code == 404
        assert client.get(f"{url}&include_hidden=1").status_code == 404
        assert client.get(f"{url}&include_hidden=1", headers=bearer(token)).status_code == 404
    listed = run_keys(client, f"&include_restricted={both}&include_hidden=1", headers=bearer(token))
    assert not listed & {HIDDEN, HIDDEN_B2B}
    included = client.get(
        f"/api/v1/course_runs/{B2B_RUN}/?include_restricted={B2B}", headers=bearer(token)
    )
    assert included.get_json()["hidden"] is False

    login_as("staff")
    assert HIDDEN_B2B not in run_keys(client, f"&include_restricted={both}")
    assert client.get(f"/api/v1/course_runs/{HIDDEN}/").status_code == 404
    # Staff may ask for hidden runs too; hidden + restricted needs both.
    assert run_keys(client, "&include_hidden=1") == {PUBLIC, HIDDEN}
    assert run_keys(client, f"&include_hidden=1&include_restricted={both}") == ALL_RUNS - {
        SOURCE,
        DS_SOURCE,
    }
    hidden = client.get(f"/api/v1/course_runs/{HIDDEN}/?include_hidden=true")
    assert hidden.status_code == 200 and hidden.get_json()["hidden"] is True


def test_source_runs_are_never_listed(
    client: FlaskClient, login_as: Callable[..., Any], data: Catalog
) -> None:
    login_as("staff")
    everything = f"&include_hidden=1&include_restricted={B2B},{B2C}"
    assert not run_keys(client, everything) & {SOURCE, DS_SOURCE}
    for key in (SOURCE, DS_SOURCE):
        assert client.get(f"/api/v1/course_runs/{key}/?{everything[1:]}").status_code == 404


def test_a_course_is_returned_with_its_runs_filtered(client: FlaskClient, data: Catalog) -> None:
    """Rule 5: a course whose runs are all restricted or internal is still returned."""
    body = client.get("/api/v1/courses/B2B_SOURCE+DS.101x/").get_json()
    assert body["key"] == "B2B_SOURCE+DS.101x" and body["title"] == "Foundations of Data Science"
    assert body["course_runs"] == [] and body["course_run_keys"] == []
    listed = client.get("/api/v1/courses/").get_json()
    assert {c["key"] for c in listed["results"]} == {"B2B_SOURCE+DS.101x", "OpenU+CS.50x"}
    assert client.get("/api/v1/courses/NOPE+X/").status_code == 404


# --------------------------------------------------------------------------- representations


def test_run_representation(client: FlaskClient, data: Catalog) -> None:
    body = client.get(f"/api/v1/course_runs/{PUBLIC}/").get_json()
    assert body == {
        "key": PUBLIC,
        "title": "Intro to Computing 2026_Fall",
        "start": "2026-09-01T09:30:00Z",
        "end": "2026-12-30T09:30:00Z",
        "enrollment_start": "2026-08-02T09:30:00Z",
        "enrollment_end": None,
        "pacing_type": "instructor_paced",
        "restriction_type": None,
        "hidden": False,
        "course": "OpenU+CS.50x",
    }
    # Keys may come percent-encoded too.
    encoded = client.get("/api/v1/course_runs/course-v1%3AOpenU%2BCS.50x%2B2026_Fall/")
    assert encoded.status_code == 200 and encoded.get_json()["key"] == PUBLIC


def test_program_lists_its_courses_in_order_with_filtered_runs(
    client: FlaskClient, db: Any, login_as: Callable[..., Any], data: Catalog
) -> None:
    body = client.get("/api/v1/programs/program-v1:B2B+DATA/").get_json()
    assert [c["key"] for c in body["courses"]] == ["B2B_SOURCE+DS.101x", "OpenU+CS.50x"]
    assert [c["course_run_keys"] for c in body["courses"]] == [[], [PUBLIC]]
    token = make_token(db, B2B)
    body = client.get(
        f"/api/v1/programs/program-v1:B2B+DATA/?include_restricted={B2B}", headers=bearer(token)
    ).get_json()
    assert [c["course_run_keys"] for c in body["courses"]] == [[DS_B2B], [PUBLIC, B2B_RUN]]

    listed = client.get("/api/v1/programs/").get_json()
    assert [p["key"] for p in listed["results"]] == ["program-v1:B2B+DATA"]
    assert client.get("/api/v1/programs/program-v1:B2B+SECRET/").status_code == 404
    assert (
        client.get(
            "/api/v1/programs/program-v1:B2B+SECRET/?include_hidden=1", headers=bearer(token)
        ).status_code
        == 404
    )
    login_as("staff")
    assert client.get("/api/v1/programs/program-v1:B2B+SECRET/").status_code == 404
    secret = client.get("/api/v1/programs/program-v1:B2B+SECRET/?include_hidden=1")
    assert secret.status_code == 200 and secret.get_json()["hidden"] is True
    assert len(client.get("/api/v1/programs/?include_hidden=1").get_json()["results"]) == 2


# --------------------------------------------------------------------------- pagination


def _many_public_runs(db: Any, course: Course, n: int, prefix: str = "R") -> None:
    db.session.add_all([_run(course, f"course-v1:OpenU+CS.50x+{prefix}{i:03d}") for i in range(n)])
    db.session.commit()


def test_pagination_with_absolute_links(client: FlaskClient, db: Any, data: Catalog) -> None:
    _many_public_runs(db, data.cs, 24)  # 25 public runs with PUBLIC
    first = client.get(f"/api/v1/course_runs/?page_size=10&include_restricted={B2B}").get_json()
    assert first["count"] == 25 and len(first["results"]) == 10 and first["previous"] is None
    assert first["next"].startswith("http://127.0.0.1:5000/api/v1/course_runs/?")
    assert "page=2" in first["next"] and "page_size=10" in first["next"]
    assert f"include_restricted={B2B}" in first["next"]
    second = client.get(first["next"].removeprefix("http://127.0.0.1:5000")).get_json()
    third = client.get(second["next"].removeprefix("http://127.0.0.1:5000")).get_json()
    assert len(third["results"]) == 5 and third["next"] is None
    assert "page=2" in third["previous"]
    keys = [r["key"] for page in (first, second, third) for r in page["results"]]
    assert len(set(keys)) == 25 and keys == sorted(keys)
    default = client.get("/api/v1/course_runs/").get_json()
    assert len(default["results"]) == 20
    assert len(client.get("/api/v1/course_runs/?page_size=100").get_json()["results"]) == 25


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=1.5", "page"),
        ("page=", "page"),
        ("page=99999999999999999999999999", "page"),
        ("page=%EF%BC%91", "page"),  # a full-width digit one
        ("page_size=-5", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page_size=abc", "page_size"),
        ("page_size=1e3", "page_size"),
        ("page_size=999999999999999999999", "page_size"),
        ("include_hidden=maybe", "include_hidden"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/course_runs/", "/api/v1/courses/", "/api/v1/programs/"])
def test_bad_query_values_are_400_json(
    client: FlaskClient, data: Catalog, path: str, query: str, named: str
) -> None:
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["status"] == 400 and named in body["detail"]


def test_page_past_the_end_is_404(client: FlaskClient, data: Catalog) -> None:
    response = client.get("/api/v1/course_runs/?page=2")
    assert response.status_code == 404 and "page" in response.get_json()["detail"]
    empty = client.get("/api/v1/programs/?page=1&include_restricted=x")
    assert empty.status_code == 200


def test_empty_catalog(client: FlaskClient) -> None:
    body = client.get("/api/v1/course_runs/").get_json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}
    assert client.get(f"/api/v1/course_runs/{PUBLIC}/").status_code == 404


# --------------------------------------------------------------------------- query bounds


def _grow(db: Any, data: Catalog) -> None:
    """Ten times the data: courses with every kind of run, in programs."""
    for i in range(10):
        course = Course(key=f"OpenU+X{i}", number=f"X{i}", title=f"Extra {i}")
        db.session.add(course)
        db.session.flush()
        db.session.add_all(
            [
                _run(course, f"course-v1:OpenU+X{i}+A"),
                _run(course, f"course-v1:OpenU+X{i}+B", restriction_type=B2B),
                _run(course, f"course-v1:OpenU+X{i}+C", hidden=True),
                _run(course, f"course-v1:OpenU+X{i}+SOURCE", is_source_run=True),
            ]
        )
        program = Program(key=f"program-v1:X+{i}", title=f"Program {i}")
        db.session.add(program)
        db.session.flush()
        db.session.add_all(
            [
                ProgramCourse(program_id=program.id, course_id=course.id, position=0),
                ProgramCourse(program_id=program.id, course_id=data.cs.id, position=1),
            ]
        )
    db.session.commit()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/course_runs/?page_size=100",
        "/api/v1/courses/?page_size=100",
        "/api/v1/programs/?page_size=100",
        "/api/v1/courses/OpenU+CS.50x/",
        "/api/v1/programs/program-v1:B2B+DATA/",
        f"/api/v1/course_runs/{PUBLIC}/",
    ],
)
@pytest.mark.parametrize("caller", ["anonymous", "staff", "token"])
def test_queries_are_bounded_whatever_the_data_size(
    client: FlaskClient,
    db: Any,
    login_as: Callable[..., Any],
    count_queries: Callable[[], Any],
    data: Catalog,
    path: str,
    caller: str,
) -> None:
    headers = {}
    if caller == "staff":
        login_as("staff")
    elif caller == "token":
        headers = bearer(make_token(db, B2B))
    url = f"{path}{'&' if '?' in path else '?'}include_restricted={B2B}&include_hidden=1"

    def measure() -> tuple[int, Any]:
        client.get(url, headers=headers)  # warm-up (connection set-up is not the view's)
        with count_queries() as counter:
            response = client.get(url, headers=headers)
        assert response.status_code == 200
        return counter.count, response.get_json()

    small, small_body = measure()
    _grow(db, data)
    large, large_body = measure()
    assert small == large, f"{small} queries for the small catalog, {large} for the larger one"
    assert small <= 6
    if "results" in small_body:
        assert large_body["count"] > small_body["count"]


def test_repeated_include_restricted_values_add_up(
    client: FlaskClient, login_as: Callable[..., Any], data: Catalog
) -> None:
    login_as("staff")
    query = f"&include_restricted={B2B}&include_restricted={B2C}"
    assert run_keys(client, query) == {PUBLIC, B2B_RUN, B2C_RUN, DS_B2B}


def test_a_token_header_wins_over_a_staff_session(
    client: FlaskClient, db: Any, login_as: Callable[..., Any], data: Catalog
) -> None:
    login_as("staff")
    token = make_token(db, B2C)
    url = f"/api/v1/course_runs/?include_restricted={B2B},{B2C}&include_hidden=1"
    assert client.get(url, headers=bearer("pct_wrong")).status_code == 401
    listed = client.get(url, headers=bearer(token)).get_json()
    assert {r["key"] for r in listed["results"]} == {PUBLIC, B2C_RUN}
