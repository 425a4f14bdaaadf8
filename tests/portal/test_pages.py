"""Pages, access by role, error pages, CSRF, security headers and the health check."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from portal.core.access import safe_next
from portal.extensions import db
from portal.models import (
    AuditEvent,
    BackgroundJob,
    JobState,
    MembershipSource,
)
from tests.support.factories import (
    CourseFactory,
    CourseRunFactory,
    MembershipFactory,
    OrganizationFactory,
)
from tests.support.sessions import csrf_token_of


def test_home_and_catalog_are_public(client: FlaskClient) -> None:
    home = client.get("/")
    assert home.status_code == 200
    assert b"Sign in" in home.data
    assert client.get("/catalog/").status_code == 200


def test_catalog_lists_public_runs_only(client: FlaskClient, db: Any) -> None:
    course = CourseFactory(key="OpenU+CS.50x", number="CS.50x", title="Intro to Computing")
    for course_key, title, values in [
        ("course-v1:OpenU+CS.50x+2026_Fall", "Intro", {}),
        ("course-v1:OpenU+CS.50x+SOURCE", "S", {"is_source_run": True}),
        ("course-v1:ACME+CS.50x+1T1C2026", "B2B", {"restriction_type": "custom-b2b-enterprise"}),
        ("course-v1:OpenU+CS.50x+Hidden", "H", {"hidden": True}),
    ]:
        CourseRunFactory(course=course, course_key=course_key, title=title, **values)
    db.session.commit()
    page = client.get("/catalog/").get_data(as_text=True)
    assert "course-v1:OpenU+CS.50x+2026_Fall" in page
    assert "SOURCE" not in page and "1T1C2026" not in page and "Hidden" not in page


@pytest.mark.parametrize("path", ["/learner/", "/staff/", "/org/"])
def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")
    assert path.strip("/") in response.headers["Location"]


def test_learner_dashboard(client: FlaskClient, login_as: Callable[..., Any]) -> None:
    login_as("learner")
    page = client.get("/learner/")
    assert page.status_code == 200
    assert b"My learning" in page.data


def test_learner_is_refused_staff_and_org_admin_pages(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("learner")
    assert client.get("/staff/").status_code == 403
    assert client.get("/org/").status_code == 403
    assert client.post("/staff/jobs/ping").status_code == 403


def test_org_admin_sees_own_organization_and_404_for_another(
    client: FlaskClient, login_as: Callable[..., Any], make_user: Callable[..., Any], db: Any
) -> None:
    mine = OrganizationFactory(name="Mine", key="MINE")
    OrganizationFactory(name="Theirs", key="THEIRS")
    admin = make_user()
    MembershipFactory(user=admin, organization=mine, source=MembershipSource.STAFF, manager=True)
    db.session.commit()
    login_as(admin)
    assert client.get("/org/MINE/").status_code == 200
    assert client.get("/org/THEIRS/").status_code == 404
    assert client.get("/org/NOPE/").status_code == 404
    index = client.get("/org/").get_data(as_text=True)
    assert "Mine" in index and "Theirs" not in index
    assert "My organizations" in client.get("/learner/").get_data(as_text=True)


def test_staff_page_and_queue_check(client: FlaskClient, login_as: Callable[..., Any]) -> None:
    staff = login_as("staff")
    assert client.get("/staff/").status_code == 200
    response = client.post("/staff/jobs/ping", follow_redirects=True)
    assert response.status_code == 200
    assert b"Queue check" in response.data
    job = db.session.scalar(select(BackgroundJob))
    assert job is not None and job.kind == "system.ping"
    assert job.state is JobState.SUCCEEDED  # inline runner in this app
    queued = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "job.queued"))
    assert queued is not None and queued.actor_id == staff.id


def test_logout_is_post_only(client: FlaskClient, login_as: Callable[..., Any]) -> None:
    login_as("learner")
    assert client.get("/auth/logout").status_code == 405
    assert client.get("/learner/").status_code == 200
    assert client.post("/auth/logout").status_code == 302
    assert client.get("/learner/").status_code == 302


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/learner/", "/learner/"),
        ("/catalog/?q=x", "/catalog/?q=x"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("learner", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_is_limited_to_our_own_relative_paths(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_404_page_html_and_json(client: FlaskClient) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert b"Page not found" in page.data
    api = client.get("/api/v1/nothing")
    assert api.status_code in (401, 404)
    assert api.is_json


STOCK = (
    "The requested URL was not found on the server",
    "If you entered the URL manually",
    "You don't have the permission",
    "The method is not allowed",
    "The browser (or proxy) sent a request",
)


def test_the_404_page_says_what_to_do_not_the_frameworks_sentence(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    """Issue 17, item 7: the error pages speak the portal's words and offer a way on."""
    page = html.unescape(client.get("/no/such/page").get_data(as_text=True))
    assert "There is no page at this address" in page
    assert not [s for s in STOCK if s in page]
    assert 'href="/catalog/"' in page and 'href="/"' in page
    login_as("learner")
    page = html.unescape(client.get("/learner/nothing-here").get_data(as_text=True))
    assert "There is no page at this address" in page and 'href="/learner/">My learning' in page


def test_every_error_page_has_its_own_words(
    app_factory: Callable[..., Flask], login_as: Callable[..., Any], client: FlaskClient
) -> None:
    app = _app_with_failing_routes(app_factory)
    with app.app_context():
        ours = app.test_client()
        bad = html.unescape(ours.get("/bad").get_data(as_text=True))
        said = html.unescape(ours.get("/bad-with-words").get_data(as_text=True))
        limited = html.unescape(ours.get("/limited").get_data(as_text=True))
        wrong_method = html.unescape(ours.post("/").get_data(as_text=True))
    assert "could not read what your browser sent" in bad
    assert "The start date must be a date like 2026-01-31." in said  # a view's own words stay
    assert "Wait a minute, then try again" in limited
    assert "does not take that kind of request" in wrong_method
    login_as("learner")
    forbidden = html.unescape(client.get("/staff/").get_data(as_text=True))
    assert "your account may not open this page" in forbidden
    for page in (bad, limited, wrong_method, forbidden):
        assert not [s for s in STOCK if s in page], page


def _app_with_failing_routes(app_factory: Callable[..., Flask]) -> Flask:
    app = app_factory(PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    @app.get("/limited")
    def limited() -> str:
        abort(429)

    @app.get("/db-gone")
    def db_gone() -> str:
        # What SQLAlchemy raises when the database restarts or drops the connection mid-request.
        raise OperationalError("SELECT 1", {}, Exception("kaboom: server closed the connection"))

    @app.get("/db-bug")
    def db_bug() -> str:
        raise IntegrityError("INSERT", {}, Exception("kaboom: duplicate key"))

    @app.get("/bad")
    def bad() -> str:
        abort(400)

    @app.get("/bad-with-words")
    def bad_with_words() -> str:
        abort(400, "The start date must be a date like 2026-01-31.")

    from portal.core.access import PUBLIC_ENDPOINTS

    PUBLIC_ENDPOINTS.update({"boom", "limited", "bad", "bad_with_words", "db_gone", "db_bug"})
    return app


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/boom", 500, "Something went wrong on our side"),
        # A database that went away is a 503 that says to try again; a constraint bug stays 500.
        ("/db-gone", 503, "Our database did not answer just now. Please try again in a moment"),
        ("/db-bug", 500, "Something went wrong on our side"),
        ("/limited", 429, "Too many attempts"),
        ("/bad", 400, "That request could not be understood"),
    ],
)
def test_error_pages(app_factory: Callable[..., Flask], path: str, status: int, title: str) -> None:
    app = _app_with_failing_routes(app_factory)
    with app.app_context():
        response = app.test_client().get(path)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert title in body
    assert "kaboom" not in body  # no internals leak
    assert "<nav" in body  # the site's layout, not a bare error


def test_403_page(client: FlaskClient, login_as: Callable[..., Any]) -> None:
    login_as("learner")
    page = client.get("/staff/")
    assert page.status_code == 403
    assert b"have access to this page" in page.data


def test_csrf_rejects_a_post_without_token_with_a_friendly_page(
    csrf_staff_client: FlaskClient,
) -> None:
    client = csrf_staff_client
    refused = client.post("/staff/jobs/ping")
    assert refused.status_code == 400
    assert b"This form has expired" in refused.data
    assert db.session.scalar(select(BackgroundJob)) is None  # nothing changed

    token = csrf_token_of(client.get("/staff/").get_data(as_text=True))
    accepted = client.post("/staff/jobs/ping", data={"csrf_token": token})
    assert accepted.status_code == 302
    assert db.session.scalar(select(BackgroundJob)) is not None


def test_security_headers_on_every_response(client: FlaskClient) -> None:
    for path in ["/", "/catalog/", "/healthz", "/no/such/page", "/static/portal.css"]:
        with client.get(path) as response:
            headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in headers  # production only


def test_no_inline_scripts_or_styles_in_pages(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("staff")
    for path in ["/", "/catalog/", "/learner/", "/staff/"]:
        body = client.get(path).get_data(as_text=True)
        assert "<script>" not in body and "style=" not in body and "onclick" not in body


def test_healthz_reports_database_and_redis(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("not used")


def test_healthz_with_redis(rq_app: Flask) -> None:
    body = rq_app.test_client().get("/healthz").get_json()
    assert body["checks"] == {"database": "ok", "redis": "ok"}
