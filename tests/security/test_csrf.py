"""CSRF on every POST route of ``app.url_map``, and GET routes that change nothing.

With ``WTF_CSRF_ENABLED=True``, every POST without a token (or with a forged one, or one from another
session) answers the 400 "form has expired" page and writes nothing, even though its body is one the
form would accept. The only exceptions are the two endpoints the payment provider posts to, which
are verified by their HMAC signature instead: they are listed here and must be exactly the exempt
ones. And because CSRF protection covers unsafe methods only, no GET may change anything (the
export audit trail aside).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.conftest import (
    SecurityWorld,
    build_url,
    request_body,
    role_for,
    route_methods,
    sign_in,
    valid_forms,
)
from tests.support.snapshots import changes, new_audit_actions, snapshot

# Posted by CyberSource, cross-site and without a session: verified by signature instead.
CSRF_EXEMPT = {"checkout.notify", "checkout.receipt"}
# Posted by Keycloak, server to server and without a session: verified by the logout token's
# signature instead (tests/integration/test_sso_follows_keycloak.py).
LOGOUT_TOKEN_EXEMPT = {"auth.backchannel_logout"}
CSRF_PAGE = "This form has expired"
# GETs that write: the audit trail of who downloaded which export.
AUDITED_GETS = {
    "staff.codes_export": {"codes.exported"},
    "org_admin.codes_export": {"codes.exported"},
    "org_admin.learners_export": {"learners.exported"},
    "staff.orders_csv": {"orders.exported"},
    # A scheduled report's link downloads the learners CSV, audited as such.
    "org_admin.report_download": {"learners.exported"},
}


@pytest.fixture
def csrf_app(make_app: Callable[..., Flask], world: SecurityWorld) -> Flask:
    return make_app(WTF_CSRF_ENABLED=True)


def post_routes(app: Flask) -> list[tuple[str, str]]:
    return sorted(
        (endpoint, rule) for endpoint, rule, method in route_methods(app) if method == "POST"
    )


def token_of(client: FlaskClient) -> str:
    page = client.get("/learner/redeem").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


def is_csrf_refusal(response: Any) -> bool:
    return response.status_code == 400 and CSRF_PAGE in response.get_data(as_text=True)


def test_every_post_without_a_token_is_refused_and_writes_nothing(
    csrf_app: Flask, world: SecurityWorld, db: Any
) -> None:
    client = csrf_app.test_client()
    forms = valid_forms(world)
    unprotected, wrote = set(), {}
    for endpoint, _rule in post_routes(csrf_app):
        sign_in(client, world.user_for(role_for(endpoint)))
        before = snapshot(db)
        url = build_url(csrf_app, endpoint, world)
        with client.post(url, data=request_body(forms[endpoint])) as response:
            refused = is_csrf_refusal(response)
        after = snapshot(db)
        if not refused:
            unprotected.add(endpoint)
            continue
        if found := changes(before, after):
            wrote[endpoint] = found
    assert unprotected == CSRF_EXEMPT | LOGOUT_TOKEN_EXEMPT
    assert wrote == {}


def test_the_exempt_endpoints_refuse_unsigned_posts_instead(
    csrf_app: Flask, world: SecurityWorld, db: Any
) -> None:
    client = csrf_app.test_client()
    sign_in(client, world.lee)  # even with the learner's own session
    order = {"req_reference_number": world.order.reference, "decision": "ACCEPT"}
    for endpoint in sorted(CSRF_EXEMPT):
        before = snapshot(db)
        response = client.post(build_url(csrf_app, endpoint, world), data=order)
        after = snapshot(db)
        assert response.status_code == 400, endpoint
        assert not is_csrf_refusal(response)
        assert changes(before, after, allowed_audit={"payment.forged"}) == []
        assert new_audit_actions(before, after) == ["payment.forged"]


def test_forged_or_foreign_tokens_are_refused(
    csrf_app: Flask, world: SecurityWorld, db: Any
) -> None:
    attacker, victim = csrf_app.test_client(), csrf_app.test_client()
    sign_in(attacker, world.gus)
    sign_in(victim, world.staff)
    foreign = token_of(attacker)  # a real token, from the attacker's own session
    own = token_of(victim)
    before = snapshot(db)
    for token in (foreign, "garbage", own[:-2] + "xx", ""):
        refused = victim.post("/staff/jobs/ping", data={"csrf_token": token})
        assert is_csrf_refusal(refused), token
    as_json = victim.post("/staff/jobs/ping", json={"csrf_token": own})
    assert as_json.status_code == 400
    in_query = victim.post(f"/staff/jobs/ping?csrf_token={own}")
    assert is_csrf_refusal(in_query)
    assert changes(before, snapshot(db)) == []
    accepted = victim.post("/staff/jobs/ping", data={"csrf_token": own})
    assert accepted.status_code == 302
    header = victim.post("/staff/jobs/ping", headers={"X-CSRFToken": own})
    assert header.status_code == 302  # the header Flask-WTF documents for scripts


def test_every_post_with_its_token_gets_past_csrf(csrf_app: Flask, world: SecurityWorld) -> None:
    """The other half: the token the pages hand out is accepted on every protected route."""
    client = csrf_app.test_client()
    forms = valid_forms(world)
    refused = []
    for endpoint, _rule in post_routes(csrf_app):
        if endpoint in CSRF_EXEMPT | LOGOUT_TOKEN_EXEMPT:
            continue
        sign_in(client, world.user_for(role_for(endpoint)))
        body = request_body(forms[endpoint])
        body["csrf_token"] = token_of(client)
        with client.post(build_url(csrf_app, endpoint, world), data=body) as response:
            if is_csrf_refusal(response):
                refused.append(endpoint)
    assert refused == []


@pytest.mark.parametrize("role", ["learner", "own_admin", "staff"])
def test_no_get_route_changes_anything(
    app: Flask, client: FlaskClient, world: SecurityWorld, db: Any, role: str
) -> None:
    wrote = {}
    for endpoint, _rule, method in route_methods(app):
        if method != "GET":
            continue
        sign_in(client, world.user_for(role))
        before = snapshot(db)
        client.get(build_url(app, endpoint, world)).close()
        found = changes(before, snapshot(db), allowed_audit=AUDITED_GETS.get(endpoint, set()))
        if found:
            wrote[endpoint] = found
    assert wrote == {}
