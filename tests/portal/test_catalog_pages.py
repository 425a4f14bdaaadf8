"""The public catalog pages: the same ADR 27 rules as the API (staff only may include restricted
or hidden runs), program pages, bad input, no inline scripts or styles, bounded queries."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.portal.test_catalog_api import (
    B2B,
    B2B_RUN,
    B2C,
    B2C_RUN,
    DS_B2B,
    DS_SOURCE,
    HIDDEN,
    HIDDEN_B2B,
    PUBLIC,
    SOURCE,
    Catalog,
    bearer,
    build_catalog,
    forget_user_between_requests,
    make_token,
)
from tests.support.pages import inline_scripts

RESTRICTED = {B2B_RUN, B2C_RUN, DS_B2B}
NEVER = {SOURCE, DS_SOURCE, HIDDEN, HIDDEN_B2B}
EVERY_RUN = {PUBLIC} | RESTRICTED | NEVER
# The catalog's list pages and a page of each kind (a program's, a course's).
CATALOG_PAGES = [
    "/catalog/",
    "/catalog/programs/",
    "/catalog/programs/program-v1:B2B+DATA",
    "/catalog/courses/OpenU+CS.50x",
]


@pytest.fixture(autouse=True)
def _fresh_user(app: Flask) -> None:
    forget_user_between_requests(app)


@pytest.fixture
def data(db: Any) -> Catalog:
    return build_catalog(db)


def page(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, path
    return response.get_data(as_text=True)


def shown(html: str) -> set[str]:
    return {key for key in EVERY_RUN if key in html}


def test_index_lists_public_runs_only(client: FlaskClient, data: Catalog) -> None:
    html = page(client, "/catalog/")
    assert shown(html) == {PUBLIC}
    # A course is listed with its visible runs; one whose runs are all restricted (or hidden) has
    # nothing to enroll in and is not listed (issue 14). Staff asking for them see it.
    assert "Intro to Computing" in html and "Foundations of Data Science" not in html
    assert "offered to organizations" not in html


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        (B2B, {PUBLIC, B2B_RUN, DS_B2B}),
        (B2C, {PUBLIC, B2C_RUN}),
        (f"{B2B},{B2C}", {PUBLIC} | RESTRICTED),
        ("unknown", {PUBLIC}),
        ("", {PUBLIC}),
    ],
)
def test_staff_may_include_restricted_runs(
    client: FlaskClient,
    login_as: Callable[..., Any],
    data: Catalog,
    include: str,
    expected: set[str],
) -> None:
    login_as("staff")
    assert shown(page(client, f"/catalog/?include_restricted={include}")) == expected
    course = page(client, f"/catalog/courses/OpenU+CS.50x?include_restricted={include}")
    assert shown(course) == expected - {DS_B2B}
    program = page(client, f"/catalog/programs/program-v1:B2B+DATA?include_restricted={include}")
    assert shown(program) == expected


def test_include_restricted_is_ignored_for_everyone_else(
    client: FlaskClient, db: Any, login_as: Callable[..., Any], data: Catalog
) -> None:
    both = f"{B2B},{B2C}"
    token = make_token(db, both)
    assert shown(page(client, f"/catalog/?include_restricted={both}&include_hidden=1")) == {PUBLIC}
    # API tokens are for the API; the pages go by the session only.
    html = client.get(f"/catalog/?include_restricted={both}", headers=bearer(token))
    assert shown(html.get_data(as_text=True)) == {PUBLIC}
    login_as("learner")
    assert shown(page(client, f"/catalog/?include_restricted={both}")) == {PUBLIC}
    assert "Staff view" not in page(client, "/catalog/")


def test_staff_filter_links_keep_the_choice(
    client: FlaskClient, login_as: Callable[..., Any], data: Catalog
) -> None:
    login_as("staff")
    html = page(client, f"/catalog/?include_restricted={B2B}")
    assert "Staff view" in html
    # Links to course and run pages carry the filter, so restricted runs stay reachable.
    assert f"/catalog/runs/{B2B_RUN}?include_restricted={B2B}" in html
    assert f"/catalog/courses/OpenU+CS.50x?include_restricted={B2B}" in html


def test_run_page_rules(client: FlaskClient, login_as: Callable[..., Any], data: Catalog) -> None:
    both = f"{B2B},{B2C}"
    html = page(client, f"/catalog/runs/{PUBLIC}")
    assert "Intro to Computing" in html and "01 Sep 2026" in html and "Instructor-paced" in html
    for key in RESTRICTED | NEVER:
        page(client, f"/catalog/runs/{key}", 404)
        page(client, f"/catalog/runs/{key}?include_restricted={both}&include_hidden=1", 404)
    page(client, "/catalog/runs/course-v1:No+Such+Run", 404)

    login_as("learner")
    page(client, f"/catalog/runs/{B2B_RUN}?include_restricted={B2B}", 404)

    login_as("staff")
    page(client, f"/catalog/runs/{B2B_RUN}", 404)
    page(client, f"/catalog/runs/{B2B_RUN}?include_restricted={B2C}", 404)
    assert "B2B enterprise" in page(client, f"/catalog/runs/{B2B_RUN}?include_restricted={B2B}")
    # Hidden stays hidden whatever include_restricted says; staff may ask for hidden runs.
    page(client, f"/catalog/runs/{HIDDEN_B2B}?include_restricted={B2B}", 404)
    page(client, f"/catalog/runs/{HIDDEN}?include_restricted={both}", 404)
    page(client, f"/catalog/runs/{HIDDEN}?include_hidden=1")
    page(client, f"/catalog/runs/{HIDDEN_B2B}?include_hidden=1", 404)
    page(client, f"/catalog/runs/{HIDDEN_B2B}?include_hidden=1&include_restricted={B2B}")
    for key in (SOURCE, DS_SOURCE):
        page(client, f"/catalog/runs/{key}?include_hidden=1&include_restricted={both}", 404)


def test_course_page(client: FlaskClient, data: Catalog) -> None:
    html = page(client, "/catalog/courses/OpenU+CS.50x")
    assert shown(html) == {PUBLIC}
    ds = page(client, "/catalog/courses/B2B_SOURCE+DS.101x")
    assert "Foundations of Data Science" in ds and shown(ds) == set()
    page(client, "/catalog/courses/NOPE+X", 404)


def test_program_pages(client: FlaskClient, login_as: Callable[..., Any], data: Catalog) -> None:
    listing = page(client, "/catalog/programs/")
    assert "Data Program" in listing and "Secret Program" not in listing
    html = page(client, "/catalog/programs/program-v1:B2B+DATA")
    # Courses in the program's order, each with its visible runs only.
    assert html.index("Foundations of Data Science") < html.index("Intro to Computing")
    assert shown(html) == {PUBLIC}
    page(client, "/catalog/programs/program-v1:B2B+SECRET", 404)
    page(client, "/catalog/programs/program-v1:B2B+SECRET?include_hidden=1", 404)
    login_as("staff")
    page(client, "/catalog/programs/program-v1:B2B+SECRET", 404)
    assert "Secret Program" in page(
        client, "/catalog/programs/program-v1:B2B+SECRET?include_hidden=1"
    )
    assert "Secret Program" in page(client, "/catalog/programs/?include_hidden=1")


@pytest.mark.parametrize(
    "query",
    [
        "page=abc",
        "page=0",
        "page=-3",
        "page=99999999999999999999",
        "page_size=500",
        "include_hidden=x",
    ],
)
def test_bad_query_values_are_400_pages(client: FlaskClient, data: Catalog, query: str) -> None:
    for path in ("/catalog/", "/catalog/programs/"):
        html = page(client, f"{path}?{query}", 400)
        assert "That address isn&#39;t valid" in html and " must be " in html


def test_pagination_of_courses(client: FlaskClient, db: Any, data: Catalog) -> None:
    from portal.models import Course

    db.session.add_all(
        [
            Course(key=f"OpenU+P{i:02d}", number=f"P{i:02d}", title=f"Course P{i:02d}")
            for i in range(30)
        ]
    )
    db.session.commit()
    first = page(client, "/catalog/")
    assert "Page 1 of 2" in first and "/catalog/?page=2" in first
    second = page(client, "/catalog/?page=2")
    assert "Previous" in second
    page(client, "/catalog/?page=3", 404)


@pytest.mark.parametrize("path", [*CATALOG_PAGES, f"/catalog/runs/{PUBLIC}"])
def test_pages_have_no_inline_scripts_or_styles(
    client: FlaskClient, login_as: Callable[..., Any], data: Catalog, path: str
) -> None:
    for who in (None, "staff"):
        if who:
            login_as(who)
        html = page(client, f"{path}{'&' if '?' in path else '?'}include_restricted={B2B}")
        assert inline_scripts(html) == []
        assert not re.search(r"\sstyle\s*=", html) and "<style" not in html


def test_stylesheet_has_catalog_rules(client: FlaskClient) -> None:
    with client.get("/static/portal.css") as response:
        css = response.get_data(as_text=True)
    assert ".run-list" in css and ".catalog-filter" in css and ".ordered-courses" in css


def _grow(db: Any) -> None:
    from portal.models import Course, CourseRun, Program, ProgramCourse

    for i in range(12):
        course = Course(key=f"OpenU+G{i}", number=f"G{i}", title=f"Grown {i}")
        program = Program(key=f"program-v1:G+{i}", title=f"Grown program {i}")
        db.session.add_all([course, program])
        db.session.flush()
        db.session.add_all(
            [
                CourseRun(course_id=course.id, course_key=f"course-v1:OpenU+G{i}+A", title="A"),
                CourseRun(
                    course_id=course.id,
                    course_key=f"course-v1:OpenU+G{i}+B",
                    title="B",
                    restriction_type=B2B,
                ),
                ProgramCourse(program_id=program.id, course_id=course.id, position=0),
            ]
        )
    db.session.commit()


@pytest.mark.parametrize("path", CATALOG_PAGES)
@pytest.mark.parametrize("who", [None, "staff"])
def test_page_queries_are_bounded(
    client: FlaskClient,
    db: Any,
    login_as: Callable[..., Any],
    count_queries: Callable[[], Any],
    data: Catalog,
    path: str,
    who: str | None,
) -> None:
    if who:
        login_as(who)
    url = f"{path}?include_restricted={B2B}"

    def measure() -> int:
        client.get(url)
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    small = measure()
    _grow(db)
    assert measure() == small


def test_a_course_without_runs_yet_is_listed_one_with_only_restricted_runs_is_not(
    client: FlaskClient, login_as: Callable[..., Any], data: Catalog, db: Any
) -> None:
    from tests.support.factories import CourseFactory

    CourseFactory(key="OpenU+SOON", number="SOON", title="Coming Soon Course")
    db.session.commit()
    html = page(client, "/catalog/")
    assert "Coming Soon Course" in html and "Foundations of Data Science" not in html
    # Its own page stays, for the programs that link to it.
    assert "Foundations of Data Science" in page(client, "/catalog/courses/B2B_SOURCE+DS.101x")
    login_as("staff")
    assert "Foundations of Data Science" in page(client, f"/catalog/?include_restricted={B2B}")
