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
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.conftest import (
    ROLES,
    SecurityWorld,
    all_routes,
    build_url,
    is_login_redirect,
    sign_in,
)

PUBLIC, SIGNED_IN, OWNER, ORG_ADMIN, ORG_ADMIN_ANY, STAFF = (
    "public",
    "signed-in",
    "owner",
    "org-admin",
    "org-admin-any",
    "staff",
)

# Who may reach each endpoint. PUBLIC: anyone. SIGNED_IN: anyone signed in. OWNER: signed in, and the
# object (Lee's order, enrollment or email) must be theirs, else 404. ORG_ADMIN: admins of the
# organization in the URL (403 for people who manage nothing, 404 for other admins) and staff.
# ORG_ADMIN_ANY: any org admin (their own list) and staff. STAFF: staff only.
ACCESS: dict[str, str] = {
    "static": PUBLIC,
    "core.home": PUBLIC,
    "core.healthz": PUBLIC,
    "core.favicon": PUBLIC,
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
    "org_admin.remind": ORG_ADMIN,
    "org_admin.revoke_assignment": ORG_ADMIN,
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
    if role == "anonymous":
        return "login"
    if access == SIGNED_IN:
        return "open"
    if access == OWNER:
        if role == "learner" or (role == "staff" and endpoint in OWNER_OR_STAFF):
            return "open"
        return "404"
    if access == STAFF:
        return "open" if role == "staff" else "403"
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
