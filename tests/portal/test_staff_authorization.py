"""Route-by-route authorization of the staff console, generated from ``app.url_map``.

Every endpoint of the ``staff`` blueprint, with every method it accepts, is requested by an anonymous
visitor (sent to sign-in), a learner (403), an org admin of the very organization the URL names (403)
and staff (allowed: neither 401 nor 403). A staff route added without ``@staff_required`` fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from portal.models import (
    BackgroundJob,
    Contract,
    CourseRun,
    EnrollmentCode,
    Membership,
    Organization,
    Program,
    ProgramCourse,
    User,
)
from tests.security.conftest import all_routes

# (endpoint, rule, method) for every staff route, HEAD and OPTIONS aside, from a throwaway app.
STAFF_ROUTES = [route for route in all_routes() if route[0].startswith("staff.")]


def test_the_matrix_sees_the_staff_console() -> None:
    endpoints = {endpoint for endpoint, _, _ in STAFF_ROUTES}
    assert {"staff.index", "staff.jobs", "staff.cancel_job", "staff.audit_log"} <= endpoints
    assert ("staff.cancel_job", "/staff/jobs/<int:job_id>/cancel", "POST") in STAFF_ROUTES


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    """Real objects for every path parameter: all in Acme, whose org admin is one of the callers."""
    from portal.demo import seed_demo
    from portal.services import contract_runs
    from portal.services.api_tokens import issue_api_token
    from portal.services.codes import generate_codes

    seed_demo()
    db.session.commit()
    acme = db.session.scalar(select(Organization).where(Organization.key == "ACME"))
    contract = db.session.scalar(select(Contract).where(Contract.slug == "acme-data-academy"))
    program = db.session.scalar(select(Program))
    contract_runs.add_program(contract.id, program.id)
    generate_codes(contract, 1)
    admin = db.session.scalar(select(User).where(User.email == "admin@acme.example"))
    token, _ = issue_api_token("authz", [], created_by_id=None)
    db.session.commit()
    membership = db.session.scalar(
        select(Membership).where(Membership.user_id == admin.id, Membership.is_manager.is_(True))
    )
    assert membership is not None and membership.organization_id == acme.id
    ids = {
        "org_id": acme.id,
        "contract_id": contract.id,
        "program_id": program.id,
        "run_id": db.session.scalar(
            select(CourseRun.id).where(CourseRun.contract_id == contract.id)
        ),
        "course_id": db.session.scalar(
            select(CourseRun.course_id).where(CourseRun.contract_id == contract.id)
        ),
        "link_id": db.session.scalar(
            select(ProgramCourse.id).where(ProgramCourse.program_id == program.id)
        ),
        "code_id": db.session.scalar(
            select(EnrollmentCode.id).where(EnrollmentCode.contract_id == contract.id)
        ),
        "job_id": db.session.scalar(select(BackgroundJob.id)),
        "user_id": admin.id,
        "token_id": token.id,
        "org_key": acme.key,
    }
    assert all(value is not None for value in ids.values()), ids
    return {"ids": ids, "org_admin": admin}


def _url(app: Flask, rule_text: str, ids: dict[str, Any]) -> str:
    rule: Rule = next(r for r in app.url_map.iter_rules() if r.rule == rule_text)
    values: dict[str, Any] = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)
        choices = getattr(converter, "items", None)
        if choices:
            values[name] = sorted(choices)[0]
        else:
            values[name] = ids.get(name, 1)
    return app.url_map.bind("localhost").build(rule.endpoint, values)


def _request(client: FlaskClient, method: str, url: str) -> Any:
    return client.open(url, method=method, data={} if method != "GET" else None)


def _sign_out(client: FlaskClient) -> None:
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session.clear()


@pytest.mark.parametrize(
    ("endpoint", "rule", "method"), STAFF_ROUTES, ids=[f"{m} {r}" for _, r, m in STAFF_ROUTES]
)
def test_staff_route_needs_the_staff_role(
    app: Flask,
    client: FlaskClient,
    login_as: Callable[..., Any],
    make_user: Callable[..., Any],
    world: dict[str, Any],
    endpoint: str,
    rule: str,
    method: str,
) -> None:
    url = _url(app, rule, world["ids"])

    _sign_out(client)
    anonymous = _request(client, method, url)
    assert anonymous.status_code == 302, f"anonymous {method} {url}"
    assert anonymous.location.startswith("/auth/login"), anonymous.location

    login_as(make_user())
    learner = _request(client, method, url)
    assert learner.status_code == 403, f"learner {method} {url}: {learner.status_code}"

    login_as(world["org_admin"])
    org_admin = _request(client, method, url)
    assert org_admin.status_code == 403, f"org admin {method} {url}: {org_admin.status_code}"

    login_as("staff")
    staff = _request(client, method, url)
    assert staff.status_code not in (401, 403), f"staff {method} {url}: {staff.status_code}"
