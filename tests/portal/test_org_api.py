"""The organization API (``/api/org/v1``): bearer tokens of one organization, every endpoint's
shape (checked against the served OpenAPI document), pagination, filters, strict parameters, the
rate limit, ``last_used_at`` at most once a minute, and a fixed number of SQL statements per
request whatever the number of rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import insert, select

from portal.models import (
    CERTIFICATE_EARNED,
    CourseRun,
    Enrollment,
    LearningOutcome,
    OrganizationApiToken,
    Seat,
    utcnow,
)
from portal.services import org_api_tokens
from portal.services import seat_codes as code_service
from tests.support.factories import CourseRunFactory, EnrollmentFactory
from tests.support.org_world import OrgWorld, bulk_learners
from tests.support.snapshots import changes, snapshot

API = "/api/org/v1"


@pytest.fixture
def token(world: OrgWorld, db: Any) -> str:
    """The value of a token of Acme's."""
    _, value = org_api_tokens.issue_token(world.acme, "tests", created_by_id=world.grace.id)
    db.session.commit()
    return value


def _get(client: FlaskClient, value: str | None, path: str, **query: Any) -> Any:
    headers = {"Authorization": f"Bearer {value}"} if value is not None else {}
    return client.get(API + path, query_string=query, headers=headers)


def _ok(client: FlaskClient, value: str, path: str, schema: str, **query: Any) -> Any:
    """The JSON of a 200 answer, checked against its schema in the served OpenAPI document."""
    response = _get(client, value, path, **query)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    _validator(client, schema).validate(body)
    return body


_DOCUMENT: dict[str, Any] = {}


def _validator(client: FlaskClient, schema: str) -> Draft202012Validator:
    if not _DOCUMENT:
        _DOCUMENT.update(client.get(f"{API}/openapi.json").get_json())
    registry = Registry().with_resource(
        "urn:org-api", Resource(contents=_DOCUMENT, specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"urn:org-api#/components/schemas/{schema}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _error(response: Any, status: int, client: FlaskClient) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    _validator(client, "Error").validate(body)
    assert body["status"] == status
    return body


def _outcome(user: Any, run: CourseRun, **values: Any) -> LearningOutcome:
    from portal.extensions import db

    outcome = LearningOutcome(course_run_id=run.id, user_id=user.id, **values)
    db.session.add(outcome)
    db.session.flush()
    return outcome


# ----------------------------------------------------------------------------- the document


def test_the_openapi_document_is_valid_and_served_without_a_token(client: FlaskClient) -> None:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    validate(doc)  # OpenAPI 3.1, checked by openapi-spec-validator
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An organization API token",
    }
    assert set(doc["paths"]) == {
        "/organization",
        "/contracts",
        "/contracts/{contract_id}",
        "/contracts/{contract_id}/seats",
        "/learners",
        "/codes",
        "/openapi.json",
    }
    for path, item in doc["paths"].items():
        if path != "/openapi.json":
            assert {"401", "429"} <= set(item["get"]["responses"]), path
    assert doc["servers"] == [{"url": "http://127.0.0.1:5000/api/org/v1"}]


def test_every_route_of_the_blueprint_is_in_the_document(app: Flask, client: FlaskClient) -> None:
    doc = client.get(f"{API}/openapi.json").get_json()
    rules = {
        rule.rule.removeprefix(API).replace("<int:contract_id>", "{contract_id}")
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("org_api.")
    }
    assert rules == set(doc["paths"])


# ----------------------------------------------------------------------------- who may ask


def test_no_token_a_malformed_header_an_unknown_or_revoked_token_is_a_401(
    client: FlaskClient, world: OrgWorld, db: Any, token: str
) -> None:
    revoked, revoked_value = org_api_tokens.issue_token(world.acme, "old", created_by_id=None)
    org_api_tokens.revoke_token(revoked)
    db.session.commit()
    for headers in (
        {},
        {"Authorization": "Basic Z3JhY2U6c2VjcmV0"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": f"Token {token}"},
        {"Authorization": "Bearer poa_not-a-token"},
        {"Authorization": f"Bearer {revoked_value}"},
    ):
        response = client.get(f"{API}/contracts", headers=headers)
        body = _error(response, 401, client)
        assert response.headers["WWW-Authenticate"].startswith("Bearer realm="), headers
        assert "Authorization: Bearer" in body["detail"]
    assert _get(client, token, "/contracts").status_code == 200


def test_a_signed_in_session_does_not_authenticate_the_api(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    for who in (world.grace, world.staff):
        login_as(who)
        for path in ("/organization", "/contracts", f"/contracts/{world.seats.id}", "/learners"):
            response = client.get(API + path)
            assert response.status_code == 401, (who.email, path)
            assert "WWW-Authenticate" in response.headers


def test_last_used_at_is_written_at_most_once_a_minute(
    client: FlaskClient,
    world: OrgWorld,
    db: Any,
    token: str,
    count_queries: Callable[..., Any],
) -> None:
    def last_used() -> dt.datetime | None:
        db.session.expire_all()
        return db.session.scalar(select(OrganizationApiToken.last_used_at))

    assert last_used() is None
    assert _get(client, token, "/organization").status_code == 200
    first = last_used()
    assert first is not None
    with count_queries() as counter:
        assert _get(client, token, "/organization").status_code == 200
        assert _get(client, token, "/contracts", page="abc").status_code == 400
    assert not [s for s in counter.statements if s.lstrip().upper().startswith("UPDATE")]
    assert last_used() == first
    db.session.execute(
        OrganizationApiToken.__table__.update().values(
            last_used_at=utcnow() - dt.timedelta(minutes=2)
        )
    )
    db.session.commit()
    # A refused request was a use too: it is recorded although the 400 rolls back.
    assert _get(client, token, "/contracts", page="abc").status_code == 400
    later = last_used()
    assert later is not None and later > first


def test_the_rate_limit_is_per_token_with_a_json_429_and_retry_after(
    app_factory: Callable[..., Flask], world: OrgWorld, db: Any, token: str
) -> None:
    _, other = org_api_tokens.issue_token(world.acme, "other", created_by_id=None)
    db.session.commit()
    limited = app_factory(ORG_API_RATE_LIMIT="3 per minute").test_client()
    for path in ("/organization", "/contracts", "/codes"):  # one limit for every endpoint
        assert _get(limited, token, path).status_code == 200
    response = _get(limited, token, "/learners")
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"] == "Too many requests" and body["status"] == 429
    assert "Wait" in body["detail"]
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert _get(limited, other, "/learners").status_code == 200  # another token, another limit


# ----------------------------------------------------------------------------- the resources


def test_organization_is_the_tokens_own(client: FlaskClient, world: OrgWorld, token: str) -> None:
    body = _ok(client, token, "/organization", "Organization")
    assert body["id"] == world.acme.id and body["key"] == "ACME" and body["name"] == "Acme"
    assert body["active"] is True


def test_contracts_show_seats_enrollments_and_whether_live(
    client: FlaskClient, world: OrgWorld, db: Any, token: str
) -> None:
    world.seat_learner(world.seats, "ada@acme.example", "Ada Lovelace")
    now = utcnow()
    world.auto.start_at, world.auto.end_at = now - dt.timedelta(days=10), now - dt.timedelta(days=1)
    world.auto.unlimited_seats, world.auto.seat_limit = True, None
    world.managed.active = False
    db.session.commit()
    body = _ok(client, token, "/contracts", "ContractPage")
    by_id = {c["id"]: c for c in body["results"]}
    assert list(by_id) == sorted([world.seats.id, world.auto.id, world.managed.id])
    assert body["count"] == 3
    seats = by_id[world.seats.id]
    assert seats["name"] == "Seats" and seats["membership_type"] == "code"
    assert (seats["seat_limit"], seats["seats_used"], seats["seats_remaining"]) == (10, 1, 9)
    assert seats["active_enrollments"] == 1
    assert seats["live"] is True and seats["not_live_reason"] is None
    auto = by_id[world.auto.id]
    assert auto["live"] is False and auto["not_live_reason"] == "contract_ended"
    assert auto["unlimited_seats"] is True and auto["seat_limit"] is auto["seats_remaining"] is None
    assert by_id[world.managed.id]["not_live_reason"] == "contract_inactive"
    one = _ok(client, token, f"/contracts/{world.seats.id}", "Contract")
    assert one == seats


def test_another_organizations_contract_is_a_404(
    client: FlaskClient, world: OrgWorld, token: str
) -> None:
    for path in (
        f"/contracts/{world.other.id}",
        f"/contracts/{world.other.id}/seats",
        "/contracts/999999",
        "/contracts/999999/seats",
        "/contracts/99999999999",
    ):
        _error(_get(client, token, path), 404, client)
    for path in ("/learners", "/codes"):
        body = _error(_get(client, token, path, contract=world.other.id), 404, client)
        assert "no such contract" in body["detail"]


def test_seats_list_who_holds_one_newest_first(
    client: FlaskClient, world: OrgWorld, db: Any, token: str
) -> None:
    now = utcnow()
    world.seat_learner(
        world.seats, "ada@acme.example", "Ada", claimed_at=now - dt.timedelta(days=2)
    )
    _, bob = world.seat_learner(world.seats, "bob@acme.example", "Bob", claimed_at=now)
    _, cy = world.seat_learner(
        world.seats, "cy@acme.example", "Cy", claimed_at=now - dt.timedelta(days=1)
    )
    cy.revoked_at = now
    db.session.commit()
    path = f"/contracts/{world.seats.id}/seats"
    body = _ok(client, token, path, "SeatPage")
    assert [s["email"] for s in body["results"]] == ["bob@acme.example", "ada@acme.example"]
    first = body["results"][0]
    assert first["id"] == bob.id and first["name"] == "Bob" and first["source"] == "code"
    assert first["claimed_at"].endswith("Z") and first["revoked_at"] is None
    revoked = _ok(client, token, path, "SeatPage", status="revoked")
    assert [s["email"] for s in revoked["results"]] == ["cy@acme.example"]
    assert revoked["results"][0]["revoked_at"] is not None
    every = _ok(client, token, path, "SeatPage", status="all")
    assert [s["email"] for s in every["results"]] == [
        "bob@acme.example",
        "cy@acme.example",
        "ada@acme.example",
    ]
    _error(_get(client, token, path, status="bogus"), 400, client)


def test_learners_carry_their_outcomes_and_filter_by_contract_and_status(
    client: FlaskClient, world: OrgWorld, db: Any, token: str
) -> None:
    ada, _ = world.seat_learner(world.seats, "ada@acme.example", "Ada")
    bob, _ = world.seat_learner(world.seats, "bob@acme.example", "Bob")
    world.seat_learner(world.seats, "cy@acme.example", "Cy")  # no outcome synced yet
    gina, _ = world.seat_learner(world.other, "gina@globex.example", "Gina")
    done = utcnow() - dt.timedelta(days=3)
    _outcome(
        ada,
        world.run,
        percent=0.91,
        letter_grade="Pass",
        passed=True,
        progress=1.0,
        certificate_status=CERTIFICATE_EARNED,
        certificate_url="https://lms.example/certificates/abc",
        completed_at=done,
    )
    _outcome(bob, world.run, percent=0.2, progress=0.35, certificate_status="notpassing",
             certificate_url="https://lms.example/certificates/not-yet")  # fmt: skip
    _outcome(gina, world.other_run, percent=1.0, passed=True)
    # An outcome in a run outside Acme's contracts is not Acme's to see.
    public_run = CourseRunFactory(course=world.course)
    EnrollmentFactory(user=ada, course_run=public_run)
    _outcome(ada, public_run, percent=0.5)
    db.session.commit()

    body = _ok(client, token, "/learners", "LearnerPage")
    rows = {r["email"]: r for r in body["results"]}
    assert set(rows) == {"ada@acme.example", "bob@acme.example", "cy@acme.example"}
    assert body["count"] == 3
    a = rows["ada@acme.example"]
    assert a["status"] == "passed" and a["passed"] is True and a["percent"] == 0.91
    assert a["letter_grade"] == "Pass" and a["progress"] == 1.0
    assert a["certificate_url"] == "https://lms.example/certificates/abc"
    assert a["completed_at"] == done.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert a["contract_id"] == world.seats.id and a["contract_name"] == "Seats"
    assert a["course_run_key"] == world.run.course_key and a["enrollment_active"] is True
    b = rows["bob@acme.example"]
    assert b["status"] == "in_progress" and b["passed"] is False
    assert b["certificate_url"] is None  # a certificate not earned is no link
    c = rows["cy@acme.example"]
    assert c["status"] == "not_started" and c["passed"] is False
    assert c["percent"] is c["progress"] is c["letter_grade"] is c["synced_at"] is None

    def emails(**query: Any) -> list[str]:
        found = _ok(client, token, "/learners", "LearnerPage", **query)
        return [r["email"] for r in found["results"]]

    assert emails(status="passed") == ["ada@acme.example"]
    assert emails(status="in_progress") == ["bob@acme.example"]
    assert emails(status="not_started") == ["cy@acme.example"]
    assert len(emails(contract=world.seats.id)) == 3
    assert emails(contract=world.auto.id) == []
    assert emails(contract=world.seats.id, status="passed") == ["ada@acme.example"]


def test_codes_list_the_organizations_codes_with_their_status(
    client: FlaskClient, world: OrgWorld, db: Any, token: str
) -> None:
    world.seat_learner(world.seats, "ada@acme.example", "Ada")
    free = world.free_codes(world.seats)
    free[0].assigned_email, free[0].assigned_at = "invitee@acme.example", utcnow()
    free[1].deactivated_at = utcnow()
    db.session.commit()
    acme_ids = {world.seats.id, world.auto.id, world.managed.id}

    body = _ok(client, token, "/codes", "CodePage", page_size=100)
    assert {c["contract_id"] for c in body["results"]} <= acme_ids
    ids = [c["id"] for c in body["results"]]
    assert ids == sorted(ids, reverse=True)

    def codes(**query: Any) -> list[dict[str, Any]]:
        return _ok(client, token, "/codes", "CodePage", contract=world.seats.id, **query)["results"]

    assert len(codes()) == 10
    [used] = codes(status="used")
    assert used["times_used"] == 1 and used["redemption_type"] == "one_time"
    [assigned] = codes(status="assigned")
    assert assigned["code"] == free[0].code and assigned["assigned_email"] == "invitee@acme.example"
    [off] = codes(status="deactivated")
    assert off["code"] == free[1].code and off["deactivated_at"] is not None
    assert len(codes(status="unused")) == 7
    globex = {c.code for c in world.free_codes(world.other)}
    assert globex.isdisjoint(c["code"] for c in body["results"])


# ----------------------------------------------------------------------------- pages and params


def test_pages_link_to_each_other_and_a_page_past_the_last_is_a_404(
    client: FlaskClient, world: OrgWorld, token: str
) -> None:
    first = _ok(client, token, "/contracts", "ContractPage", page_size=2)
    assert (first["count"], first["page"], first["page_size"]) == (3, 1, 2)
    assert len(first["results"]) == 2 and first["previous"] is None
    assert first["next"] == "http://127.0.0.1:5000/api/org/v1/contracts?page_size=2&page=2"
    second = _ok(client, token, "/contracts", "ContractPage", page_size=2, page=2)
    assert len(second["results"]) == 1 and second["next"] is None
    assert second["previous"] == "http://127.0.0.1:5000/api/org/v1/contracts?page_size=2&page=1"
    ids = [c["id"] for c in first["results"] + second["results"]]
    assert ids == sorted(ids) and len(set(ids)) == 3
    body = _error(_get(client, token, "/contracts", page_size=2, page=3), 404, client)
    assert "last page is 2" in body["detail"]
    empty = _ok(client, token, "/learners", "LearnerPage", status="passed")
    assert empty["count"] == 0 and empty["results"] == [] and empty["next"] is None


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/contracts", {"page": "abc"}, "page"),
        ("/contracts", {"page": "0"}, "page"),
        ("/contracts", {"page": "-1"}, "page"),
        ("/contracts", {"page": "1e3"}, "page"),
        ("/contracts", {"page": "100001"}, "page"),
        ("/contracts", {"page": "²"}, "page"),
        ("/contracts", {"page_size": "101"}, "page_size"),
        ("/contracts", {"page_size": "0"}, "page_size"),
        ("/contracts", {"page_size": "x" * 500}, "page_size"),
        ("/contracts", {"page": ["1", "2"]}, "page"),
        ("/learners", {"status": "bogus"}, "status"),
        ("/learners", {"status": "PASSED"}, "status"),
        ("/learners", {"contract": "xyz"}, "contract"),
        ("/learners", {"contract": "0"}, "contract"),
        ("/learners", {"contract": "99999999999"}, "contract"),
        ("/codes", {"status": "passed"}, "status"),
        ("/codes", {"contract": "1.5"}, "contract"),
        ("/contracts/{id}/seats", {"status": "gone"}, "status"),
        ("/contracts/{id}/seats", {"page_size": "1000"}, "page_size"),
    ],
)
def test_parameters_it_cannot_use_are_a_400_naming_them(
    client: FlaskClient,
    world: OrgWorld,
    token: str,
    path: str,
    query: dict[str, Any],
    named: str,
) -> None:
    response = _get(client, token, path.replace("{id}", str(world.seats.id)), **query)
    body = _error(response, 400, client)
    assert body["error"] == "Bad query parameter" and body["detail"].startswith(named)


HOSTILE = st.one_of(
    st.sampled_from(
        ["", " ", "0", "-1", "1", "2", "100", "101", "1e3", "1.0", "\u00b2", "\u0661", "0x10"]
    ),
    st.sampled_from(["99999999999", "' OR '1'='1", "<script>", "passed", "used", "all", "[]"]),
    st.just("a" * 3000),
    st.integers(-(10**12), 10**12).map(str),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF), max_size=20),
)
PARAMS = ["page", "page_size", "status", "contract", "q", "ordering"]
PAGES = {"/contracts": "ContractPage", "/learners": "LearnerPage", "/codes": "CodePage"}


@pytest.fixture
def before(world: OrgWorld, db: Any, token: str) -> Any:
    """Acme with a learner and the token, as committed before the hostile requests."""
    world.seat_learner(world.seats, "ada@acme.example", "Ada")
    return snapshot(db)


@settings(
    max_examples=80,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_parameters_and_headers_never_crash_and_write_nothing(
    client: FlaskClient, world: OrgWorld, db: Any, token: str, before: Any, data: st.DataObject
) -> None:
    """Whatever the query string, path id or Authorization header: a 200, 400, 401 or 404 as
    JSON, and nothing written but the token's ``last_used_at``."""
    contract_id = data.draw(
        st.one_of(st.sampled_from([world.seats.id, world.other.id]), st.integers(0, 2**40))
    )
    paths = [
        *PAGES,
        "/organization",
        f"/contracts/{contract_id}",
        f"/contracts/{contract_id}/seats",
    ]
    path = data.draw(st.sampled_from(paths))
    query = data.draw(st.lists(st.tuples(st.sampled_from(PARAMS), HOSTILE), max_size=4))
    header = data.draw(
        st.one_of(
            st.just(f"Bearer {token}"),
            st.just(f"bearer   {token}  "),
            st.sampled_from(["Bearer", "Basic eDp5", f"Bearer {token}x", "Bearer " + "A" * 5000]),
            st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40),
        )
    )
    response = client.get(API + path, query_string=query, headers={"Authorization": header})
    assert response.status_code in (200, 400, 401, 404), (path, query, header)
    assert response.is_json
    if response.status_code == 200 and path in PAGES:
        _validator(client, PAGES[path]).validate(response.get_json())
    ignored = {"organization_api_tokens": {"last_used_at"}}
    assert changes(before, snapshot(db), ignored_columns=ignored) == [], (path, query, header)


def test_unknown_paths_and_methods_answer_json(client: FlaskClient, token: str) -> None:
    assert _get(client, token, "/nothing-here").get_json()["status"] == 404
    response = client.post(f"{API}/contracts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405 and response.get_json()["status"] == 405


# ----------------------------------------------------------------------------- bounded SQL


def _grow(world: OrgWorld, db: Any, run: CourseRun, learners: int, prefix: str) -> None:
    """``learners`` more on the Auto contract (a seat and an enrollment in ``run`` each, every
    other one with an outcome) and as many more codes on Seats."""
    bulk_learners(world.auto, run, learners, prefix=prefix)
    enrolled = db.session.execute(
        select(Enrollment.user_id)
        .outerjoin(
            LearningOutcome,
            (LearningOutcome.user_id == Enrollment.user_id)
            & (LearningOutcome.course_run_id == Enrollment.course_run_id),
        )
        .where(Enrollment.course_run_id == run.id, LearningOutcome.id.is_(None))
    ).all()
    db.session.execute(
        insert(LearningOutcome),
        [
            {"course_run_id": run.id, "user_id": uid, "percent": 0.5, "progress": 0.4}
            for (uid,) in enrolled[::2]
        ],
    )
    world.seats.seat_limit = (world.seats.seat_limit or 0) + learners
    code_service.adjust_seat_codes(world.seats)
    db.session.commit()


def _statements(
    client: FlaskClient, token: str, world: OrgWorld, count_queries: Callable[..., Any]
) -> dict[str, int]:
    paths = {
        "learners": ("/learners", {}),
        "learners filtered": ("/learners", {"contract": world.auto.id, "status": "in_progress"}),
        "learners page 2": ("/learners", {"page": 2, "page_size": 5}),
        "codes": ("/codes", {}),
        "codes filtered": ("/codes", {"contract": world.seats.id, "status": "unused"}),
        "seats": (f"/contracts/{world.auto.id}/seats", {}),
        "seats all": (f"/contracts/{world.auto.id}/seats", {"status": "all", "page_size": 100}),
        "contracts": ("/contracts", {}),
        "contract": (f"/contracts/{world.auto.id}", {}),
    }
    counts = {}
    for name, (path, query) in paths.items():
        _get(client, token, path, **query)  # warm up (and the once-a-minute last_used_at)
        with count_queries() as counter:
            response = _get(client, token, path, **query)
        assert response.status_code == 200, (name, response.get_data(as_text=True))
        assert response.get_json().get("results", [None]), name
        counts[name] = counter.count
    return counts


def test_each_request_runs_the_same_statements_at_10_and_300_rows(
    client: FlaskClient,
    world: OrgWorld,
    db: Any,
    token: str,
    count_queries: Callable[..., Any],
) -> None:
    run = CourseRunFactory(course=world.course, contract=world.auto, run_number=1)
    _grow(world, db, run, 10, "small")
    small = _statements(client, token, world, count_queries)
    _grow(world, db, run, 290, "large")
    assert db.session.scalar(select(Seat.id).where(Seat.contract_id == world.auto.id).offset(299))
    large = _statements(client, token, world, count_queries)
    assert small == large
    assert max(small.values()) <= 4, small
