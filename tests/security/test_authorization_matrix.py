"""One authorization matrix over every route of ``app.url_map``, every method, five callers.

Each endpoint is classified below by hand; a route added without a class fails
``test_every_route_is_classified``, so nobody forgets to decide who may reach it. The callers:
anonymous, a learner who belongs nowhere (Lee), the admin of *another* organization (Gus, Globex),
the admin of the organization the URL names (Grace, Acme) and staff (Sam). Every URL argument is a
real object of Acme (or Lee's own), so a refusal is never a plain "no such row".

Expected outcomes:

* ``open``: neither sent to sign in, nor 401, 403 or 404, nor 5xx (validation 400/409 is fine);
* ``login``: a redirect to /auth/login (401 under /api/);
* ``403`` / ``404``: exactly that status (404 is how the portal hides objects that are not yours).

The organization API (``/api/org/v1``) takes bearer tokens only: for every caller of the matrix (a
session cookie at most) it is a 401. Its tokens are checked below the matrix: a token reads its own
organization's objects and gets 404 for another's.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.models import JobState, Organization
from portal.services import org_api_tokens
from tests.security.conftest import (
    ROLES,
    SecurityWorld,
    all_routes,
    build_url,
    is_login_redirect,
    sign_in,
)
from tests.support.factories import BackgroundJobFactory

SUBSCRIBER = "subscriber"  # a report link opens for the admin it was sent to (Grace) only
PUBLIC, SIGNED_IN, OWNER, ORG_ADMIN, ORG_ADMIN_ANY, STAFF, TOKEN = (
    "public",
    "signed-in",
    "owner",
    "org-admin",
    "org-admin-any",
    "staff",
    "token",
)

# Who may reach each endpoint. PUBLIC: anyone. SIGNED_IN: anyone signed in. OWNER: signed in, and the
# object (Lee's order, enrollment or email) must be theirs, else 404. ORG_ADMIN: admins of the
# organization in the URL (403 for people who manage nothing, 404 for other admins) and staff.
# ORG_ADMIN_ANY: any org admin (their own list) and staff. STAFF: staff only. TOKEN: an organization
# API token only (no session, whoever's, opens it), scoped to the token's organization.
ACCESS: dict[str, str] = {
    "static": PUBLIC,
    "core.home": PUBLIC,
    "core.healthz": PUBLIC,
    "core.favicon": PUBLIC,
    "i18n.set_language": PUBLIC,
    "core.redeem_link": SIGNED_IN,
    "core.org_logo": SIGNED_IN,
    "auth.login": PUBLIC,
    "auth.callback": PUBLIC,
    "auth.logout": PUBLIC,
    "auth.backchannel_logout": PUBLIC,
    "catalog.index": PUBLIC,
    "catalog.course": PUBLIC,
    "catalog.run": PUBLIC,
    "catalog.programs": PUBLIC,
    "catalog.program": PUBLIC,
    "catalog_api.course_runs": PUBLIC,
    "catalog_api.course_run": PUBLIC,
    "catalog_api.courses": PUBLIC,
    "catalog_api.course": PUBLIC,
    "catalog_api.programs": PUBLIC,
    "catalog_api.program": PUBLIC,
    "checkout.notify": PUBLIC,
    "checkout.receipt": PUBLIC,
    "checkout.show": OWNER,
    "checkout.result": OWNER,
    "checkout.retry": OWNER,
    "learner.dashboard": SIGNED_IN,
    "learner.redeem_form": SIGNED_IN,
    "learner.redeem_submit": SIGNED_IN,
    "learner.enroll_run": SIGNED_IN,
    "learner.enroll_in_program": SIGNED_IN,
    "learner.unenroll_run": OWNER,
    "learner.orders": SIGNED_IN,
    "learner.receipt": OWNER,
    "outbox.index": SIGNED_IN,
    "outbox.message": OWNER,  # staff read every message
    "org_admin.index": ORG_ADMIN_ANY,
    "org_admin.overview": ORG_ADMIN,
    "org_admin.learners": ORG_ADMIN,
    "org_admin.learners_export": ORG_ADMIN,
    "org_admin.revoke_seat": ORG_ADMIN,
    "org_admin.codes": ORG_ADMIN,
    "org_admin.codes_export": ORG_ADMIN,
    "org_admin.assign": ORG_ADMIN,
    "org_admin.assign_bulk": ORG_ADMIN,
    "org_admin.assign_bulk_job": ORG_ADMIN,
    "org_admin.assign_bulk_status": ORG_ADMIN,
    "org_admin.remind": ORG_ADMIN,
    "org_admin.revoke_assignment": ORG_ADMIN,
    "org_admin.api_tokens": ORG_ADMIN,
    "org_admin.api_token_create": ORG_ADMIN,
    "org_admin.api_token_revoke": ORG_ADMIN,
    "org_admin.notices": ORG_ADMIN,
    "org_admin.reports": ORG_ADMIN,
    "org_admin.report_download": SUBSCRIBER,
    "org_api.openapi": PUBLIC,
    **{
        f"org_api.{name}": TOKEN
        for name in ["organization", "contracts", "contract", "seats", "learners", "codes"]
    },
    **{
        f"staff.{name}": STAFF
        for name in [
            "index",
            "users",
            "resync_user",
            "ping_jobs",
            "jobs",
            "job_status",
            "retry_job",
            "cancel_job",
            "audit_log",
            "organizations",
            "organization_new",
            "organization_detail",
            "organization_edit",
            "organization_deactivate",
            "organization_reactivate",
            "organization_logo",
            "organization_logo_remove",
            "organization_link_keycloak",
            "create_in_keycloak",
            "pull_organizations",
            "resync_organization",
            "organization_member_add",
            "organization_member_admin",
            "organization_member_remove",
            "contracts",
            "contract_new",
            "contract_renew",
            "contract_clone",
            "contract_detail",
            "contract_edit",
            "contract_membership",
            "contract_seats",
            "contract_deactivate",
            "contract_reactivate",
            "contract_add_course",
            "contract_add_program",
            "contract_add_run",
            "contract_remove_run",
            "contract_remove_program",
            "run_outcomes_sync",
            "codes_generate",
            "code_deactivate",
            "codes_export",
            "courses",
            "course_new",
            "course_edit",
            "run_new",
            "run_edit",
            "run_import",
            "program_new",
            "program_edit",
            "program_add_course",
            "program_move_course",
            "program_remove_course",
            "api_tokens",
            "api_token_new",
            "api_token_revoke",
            "refunds",
            "refund_mark",
            "refund_grant",
            "refund_cybersource",
            "order_refund",
            "orders",
            "orders_csv",
            "order_detail",
        ]
    },
}

# Requests that need a body to be answered as "allowed" rather than refused for their content.
POST_DATA = {
    # An unknown code is a 404 refusal page; a real one is a success.
    "learner.redeem_submit": lambda world: {"code": world.globex_code},
}
# Staff read everyone's email; Lee reads his own.
OWNER_OR_STAFF = {"outbox.message"}


def expected(endpoint: str, role: str) -> str:
    access = ACCESS[endpoint]
    if access == PUBLIC:
        return "open"
    if role == "anonymous" or access == TOKEN:
        return "login"
    if access == SIGNED_IN:
        return "open"
    if access == OWNER:
        if role == "learner" or (role == "staff" and endpoint in OWNER_OR_STAFF):
            return "open"
        return "404"
    if access == STAFF:
        return "open" if role == "staff" else "403"
    if access == SUBSCRIBER:
        return {"own_admin": "open", "learner": "403"}.get(role, "404")
    if role == "learner":
        return "403"
    if role == "other_admin" and access == ORG_ADMIN:
        return "404"
    return "open"


def outcome(rule: str, response: Any) -> str:
    status = response.status_code
    if is_login_redirect(response):
        [back] = parse_qs(urlsplit(response.headers["Location"]).query).get("next", ["/"])
        return "login" if back.startswith("/") and not back.startswith("//") else "login elsewhere"
    if status == 401 and rule.startswith("/api/"):
        return "login"
    if status in (403, 404):
        return str(status)
    if status == 401 or status >= 500:
        return f"refused {status}"
    return "open"


class MatrixWorld(SecurityWorld):
    """The security world, plus an organization API token of Acme's and one of Globex's."""

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.acme_api, self.acme_api_value = org_api_tokens.issue_token(
            self.acme, "Acme reporting", created_by_id=self.grace.id
        )
        self.globex_api, self.globex_api_value = org_api_tokens.issue_token(
            self.globex, "Globex reporting", created_by_id=self.gus.id
        )
        # A bulk code assignment of Acme's (its progress and results are Acme's admins' only).
        self.bulk_job = BackgroundJobFactory(
            kind="codes.assign_bulk",
            state=JobState.SUCCEEDED,
            organization_id=self.acme.id,
            object_type="contract",
            object_id=str(self.seats.id),
        )
        db.session.commit()

    def endpoint_values(self, endpoint: str) -> dict[str, Any]:
        if endpoint.startswith("org_admin.assign_bulk_"):
            return {"job_id": self.bulk_job.id}
        return super().endpoint_values(endpoint)


@pytest.fixture
def world(db: Any) -> MatrixWorld:
    return MatrixWorld(db)


@pytest.fixture(scope="module")
def routes() -> list[tuple[str, str, str]]:
    return list(all_routes())


def test_every_route_is_classified(routes: list[tuple[str, str, str]]) -> None:
    """A new route fails here until someone decides who may reach it (add it to ACCESS)."""
    endpoints = {endpoint for endpoint, _, _ in routes}
    assert endpoints - set(ACCESS) == set(), "unclassified routes: add them to ACCESS"
    assert set(ACCESS) - endpoints == set(), "ACCESS names routes that no longer exist"
    assert len(routes) >= 120


def _ordered(routes: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Reads first, then changes (a change may remove what a later read needs)."""
    return sorted(routes, key=lambda r: (r[2] != "GET", r[1], r[2]))


@pytest.mark.parametrize("role", ROLES)
def test_the_matrix(
    app: Flask,
    client: FlaskClient,
    world: SecurityWorld,
    routes: list[tuple[str, str, str]],
    role: str,
) -> None:
    user = world.user_for(role)
    mismatches = []
    for endpoint, rule, method in _ordered(routes):
        url = build_url(app, endpoint, world)
        sign_in(client, user)  # again each time: a logout or a failure may have signed us out
        data = POST_DATA[endpoint](world) if endpoint in POST_DATA and method == "POST" else {}
        with client.open(url, method=method, data=data if method != "GET" else None) as response:
            got = outcome(rule, response)
        want = expected(endpoint, role)
        if got != want:
            mismatches.append(f"{method} {url} ({endpoint}): expected {want}, got {got}")
    assert mismatches == [], f"{role}:\n" + "\n".join(mismatches)


# ----------------------------------------------------------------------------- organization API tokens

API_ROUTES = sorted(
    (endpoint, rule)
    for endpoint, rule, method in all_routes()
    if endpoint.startswith("org_api.") and endpoint != "org_api.openapi" and method == "GET"
)


def _api(client: FlaskClient, url: str, token: str, **query: Any) -> Any:
    return client.get(url, query_string=query, headers={"Authorization": f"Bearer {token}"})


def _every_row(client: FlaskClient, url: str, token: str, **query: Any) -> list[dict[str, Any]]:
    """Every row of a listing, following its ``next`` links."""
    rows: list[dict[str, Any]] = []
    response = _api(client, url, token, page_size=100, **query)
    while True:
        assert response.status_code == 200, url
        body = response.get_json()
        rows += body["results"]
        if body["next"] is None:
            return rows
        response = client.get(
            urlsplit(body["next"]).path + "?" + urlsplit(body["next"]).query,
            headers={"Authorization": f"Bearer {token}"},
        )


def _contract_ids(world: MatrixWorld, org: Organization) -> set[int]:
    from sqlalchemy import select

    from portal.models import Contract

    return set(
        world.db.session.scalars(select(Contract.id).where(Contract.organization_id == org.id))
    )


def test_the_api_routes_are_the_ones_checked_here() -> None:
    assert {e for e, _ in API_ROUTES} == {k for k, v in ACCESS.items() if v == TOKEN}


def test_an_org_api_token_opens_every_api_route_on_its_own_organization(
    app: Flask, client: FlaskClient, world: MatrixWorld
) -> None:
    """Acme's token on every API URL (all naming Acme's objects): answered, and only with Acme's
    rows."""
    acme = _contract_ids(world, world.acme)
    for endpoint, _rule in API_ROUTES:
        url = build_url(app, endpoint, world)
        assert _api(client, url, world.acme_api_value).status_code == 200, url
    assert (
        _api(client, "/api/org/v1/organization", world.acme_api_value).get_json()["key"] == "ACME"
    )
    contracts = _every_row(client, "/api/org/v1/contracts", world.acme_api_value)
    assert {c["id"] for c in contracts} == acme
    for listing in ("learners", "codes"):
        rows = _every_row(client, f"/api/org/v1/{listing}", world.acme_api_value)
        assert rows and {r["contract_id"] for r in rows} <= acme, listing


def test_an_org_api_token_gets_404_for_another_organizations_objects(
    app: Flask, client: FlaskClient, world: MatrixWorld
) -> None:
    """Globex's token on the same URLs: Acme's contract and its seats are 404 (never 403, never
    data), filters naming Acme's contract are 404, and every listing holds Globex's rows only."""
    globex = _contract_ids(world, world.globex)
    acme_code = world.assigned.code
    for endpoint, rule in API_ROUTES:
        url = build_url(app, endpoint, world)
        response = _api(client, url, world.globex_api_value)
        text = response.get_data(as_text=True)
        assert "acme" not in text.lower() and acme_code not in text, url
        if re.search(r"<int:contract_id>", rule):
            assert response.status_code == 404, url
            assert set(response.get_json()) == {"error", "detail", "status"}, url
        else:
            assert response.status_code == 200, url
    for listing in ("learners", "codes"):
        url = f"/api/org/v1/{listing}"
        assert _api(client, url, world.globex_api_value, contract=world.seats.id).status_code == 404
        rows = _every_row(client, url, world.globex_api_value)
        assert {r["contract_id"] for r in rows} <= globex, listing
    contracts = _every_row(client, "/api/org/v1/contracts", world.globex_api_value)
    assert {c["id"] for c in contracts} == globex
    organization = _api(client, "/api/org/v1/organization", world.globex_api_value).get_json()
    assert organization["id"] == world.globex.id


def test_a_revoked_org_api_token_opens_nothing(
    app: Flask, client: FlaskClient, world: MatrixWorld
) -> None:
    org_api_tokens.revoke_token(world.acme_api)
    world.db.session.commit()
    for endpoint, _rule in API_ROUTES:
        url = build_url(app, endpoint, world)
        response = _api(client, url, world.acme_api_value)
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers, url
