"""Inputs that crashed the portal (500) until they were fixed, one test per place: huge ids in URLs
(a bounded ``int`` converter), Unicode digits and huge ids in forms and query strings
(``portal.core.params.parse_id``), a huge page number (``page_number``), and a file posted in place of
a text field (``portal.core.forms.PortalForm``). Found by ``test_fuzz.py``.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.conftest import (
    SecurityWorld,
    all_routes,
    build_url,
    role_for,
    route_methods,
    sign_in,
)


def finding(reason: str) -> Any:
    """Names the finding a test guards (it was a 500 before the fix)."""

    def mark(test: Any) -> Any:
        test.finding = reason
        return test

    return mark


# ----------------------------------------------------------------------------- finding 1


def _int_routes() -> list[tuple[str, str]]:
    return sorted({(e, m) for e, r, m in all_routes() if "<int:" in r})


@finding(
    "an <int:...> URL argument of 2**63 or more answers 500 on every route that takes one: "
    "SQLite's driver raises OverflowError binding it (e.g. GET /staff/contracts/9223372036854775808); "
    "fix: register a bounded int converter (max 2**63-1, or the id column's range) in create_app"
)
def test_ids_beyond_64_bits_are_not_found(
    app: Flask, client: FlaskClient, world: SecurityWorld
) -> None:
    crashed = []
    for endpoint, method in _int_routes():
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        for value in (2**63, 10**30):
            override = {name: value for name in rule.arguments if name.endswith("_id")}
            sign_in(client, world.user_for(role_for(endpoint)))
            url = build_url(app, endpoint, world, **override)
            with client.open(url, method=method) as response:
                if response.status_code >= 500:
                    crashed.append(f"{method} {url}")
    assert crashed == []


def test_ids_up_to_64_bits_are_simply_not_found(
    app: Flask, client: FlaskClient, world: SecurityWorld
) -> None:
    """The largest id SQLite can store is fine today: a plain 404."""
    sign_in(client, world.staff)
    assert client.get(f"/staff/contracts/{2**63 - 1}").status_code == 404
    assert len(_int_routes()) >= 40
    assert {m for _e, _r, m in route_methods(app)} == {"GET", "POST"}


# ----------------------------------------------------------------------------- finding 2

DIGITS = (
    "value.isdigit() then int(value): '\u00b2' (superscript two) passes isdigit() but int() raises "
    "ValueError, and a 20-digit id overflows SQLite; fix: accept ASCII digits only "
    "(value.isascii() and value.isdigit(), or a regex) and bound the number"
)


@pytest.mark.parametrize(
    ("role", "method", "path", "form"),
    [
        pytest.param(
            "staff", "GET", "/staff/contracts/new?organization_id=\u00b2", None, id="contract_new"
        ),
        pytest.param("own_admin", "GET", "/org/ACME/learners?contract=\u00b2", None, id="learners"),
        pytest.param(
            "own_admin", "GET", "/org/ACME/learners.csv?contract=\u00b2", None, id="learners.csv"
        ),
        pytest.param(
            "staff",
            "POST",
            "/staff/contracts/{c}/courses",
            {"course_id": "\u00b2"},
            id="add_course",
        ),
        pytest.param(
            "staff",
            "POST",
            "/staff/contracts/{c}/courses",
            {"course_id": str(2**63)},
            id="add_course-big",
        ),
        pytest.param(
            "staff",
            "POST",
            "/staff/contracts/{c}/programs",
            {"program_id": str(2**63)},
            id="add_program-big",
        ),
        pytest.param(
            "staff", "POST", "/staff/contracts/{c}/runs", {"run_id": "\u00b2"}, id="add_run"
        ),
    ],
)
@finding(DIGITS)
def test_unicode_digits_and_huge_ids_are_refused_plainly(
    client: FlaskClient, world: SecurityWorld, role: str, method: str, path: str, form: Any
) -> None:
    sign_in(client, world.user_for(role))
    with client.open(path.format(c=world.seats.id), method=method, data=form) as response:
        response.get_data()
        assert response.status_code < 500


# ----------------------------------------------------------------------------- finding 3


@finding(
    "GET /staff/users?page=99999999999999999999 answers 500: unlike every other list, its page has "
    "no upper bound and the OFFSET overflows; fix: clamp it like staff/organizations.py (MAX_PAGE)"
)
def test_a_huge_users_page_is_just_empty(client: FlaskClient, world: SecurityWorld) -> None:
    sign_in(client, world.staff)
    assert client.get(f"/staff/users?page={10**20}").status_code == 200


def test_every_other_page_parameter_is_clamped(client: FlaskClient, world: SecurityWorld) -> None:
    huge = 10**20
    cases = {
        "staff": [
            f"/staff/organizations?page={huge}",
            f"/staff/organizations/{world.acme.id}?page={huge}",
            f"/staff/jobs?page={huge}",
            f"/staff/audit?page={huge}",
            f"/staff/contracts/{world.seats.id}?codes_page={huge}&learners_page={huge}",
            f"/outbox/?page={huge}",
        ],
        "own_admin": [
            f"/org/ACME/learners?page={huge}",
            f"/org/ACME/contracts/{world.seats.id}/codes?page={huge}",
        ],
    }
    for role, paths in cases.items():
        sign_in(client, world.user_for(role))
        for path in paths:
            assert client.get(path).status_code == 200, path


# ----------------------------------------------------------------------------- finding 4

FILE_AS_TEXT = (
    "a multipart request with a file where a text field is expected answers 500: Flask-WTF reads "
    "fields from request.files too, and Length/IntegerField get a FileStorage (TypeError); fix: a "
    "base form whose text fields ignore non-str input (or wrap_formdata using request.form for "
    "forms without FileFields)"
)


@pytest.mark.parametrize(
    ("role", "path", "field", "rest"),
    [
        pytest.param(
            "own_admin", "/org/ACME/contracts/{c}/codes/assign", "email", {}, id="assign-email"
        ),
        pytest.param(
            "staff", "/staff/organizations/new", "name", {"key": "FILEKEY"}, id="org-name"
        ),
        pytest.param(
            "staff",
            "/staff/courseware/courses/new",
            "title",
            {"key": "OpenU+F.1x"},
            id="course-title",
        ),
        pytest.param(
            "staff",
            "/staff/api-tokens/new",
            "name",
            {"allowed_restrictions": "custom-b2c"},
            id="token-name",
        ),
    ],
)
@finding(FILE_AS_TEXT)
def test_a_file_in_place_of_a_text_field_is_a_form_error(
    client: FlaskClient, world: SecurityWorld, role: str, path: str, field: str, rest: dict
) -> None:
    sign_in(client, world.user_for(role))
    data = {**rest, field: (io.BytesIO(b"x@acme.example"), "x.txt")}
    response = client.post(
        path.format(c=world.seats.id), data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 400


# ----------------------------------------------------------------------------- finding 5 (PostgreSQL)


@finding(
    "a NUL character in a query parameter or form field answered 500 on PostgreSQL, whose text "
    "columns cannot hold or compare one (SQLite accepted it): refused up front with a 400"
)
def test_a_nul_character_is_refused_plainly(client: FlaskClient, world: SecurityWorld) -> None:
    sign_in(client, world.staff)
    for url in ("/staff/organizations?q=a%00b", "/staff/audit?object_id=%00", "/org/AC%00ME/"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "NUL" in response.get_data(as_text=True)
    response = client.post("/staff/api-tokens/new", data={"name": "token\x00name"})
    assert response.status_code == 400
