"""Open redirects: nothing the caller sends can make the portal redirect off-site.

Places that take a target: ``/auth/login?next=`` (kept in the session through the OpenID round trip,
re-checked at the callback), the ``next`` field of the job Retry and Cancel forms, sign-out (which goes
to Keycloak and back), the payment receipt (which goes to the result page of the *verified* order),
and deny-by-default (which sends a visitor to sign in and back). Beyond those, every route and
method is swept with hostile values in every parameter name commonly used for a target.

A safe Location is a path on this site (``/...``, never ``//`` or a backslash), or the Keycloak
realm the portal is configured with (sign-in and sign-out), whose own ``redirect_uri`` /
``post_logout_redirect_uri`` point back at the portal.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.integrations.cybersource import sign
from portal.models import JobState
from tests.security.conftest import (
    CLOSED_PORT,
    SecurityWorld,
    build_url,
    role_for,
    route_methods,
    sign_in,
)
from tests.support.factories import BackgroundJobFactory

HOSTILE_TARGETS = [
    "https://evil.example/",
    "http://evil.example",
    "HTTPS://EVIL.EXAMPLE/",
    "//evil.example/",
    "///evil.example/",
    "////evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "//evil.example\\@127.0.0.1/",
    "https://127.0.0.1@evil.example/",
    "https:evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "%2F%2Fevil.example",
    "%2f%2fevil.example",
    "%252F%252Fevil.example",
    "https:%2F%2Fevil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nLocation: https://evil.example/",
    "\x00//evil.example",
    " //evil.example",
    "\u3000//evil.example",
    "\uff0f\uff0fevil.example",
    "\u2215\u2215evil.example",
    "evil.example",
    "@evil.example",
]
TARGET_NAMES = ("next", "url", "redirect", "redirect_to", "redirect_uri", "return_to", "back")
KEYCLOAK = urlsplit(CLOSED_PORT).netloc


def location_problem(response: Any, own_host: str = "localhost") -> str | None:
    """Why this response's Location is not safe, or None."""
    if "Location" not in response.headers:
        return None
    location = response.headers["Location"]
    parts = urlsplit(location)
    if any(ord(ch) < 32 for ch in location) or "\\" in location:
        return f"control character or backslash in {location!r}"
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https"):
            return f"scheme {parts.scheme!r} in {location!r}"
        if parts.netloc not in (KEYCLOAK, own_host):
            return f"off-site host {parts.netloc!r} in {location!r}"
        if parts.netloc == KEYCLOAK:
            return keycloak_problem(location)
        return None
    if not location.startswith("/") or location.startswith("//"):
        return f"not an own path: {location!r}"
    return None


def keycloak_problem(location: str) -> str | None:
    """Keycloak must be asked to send the browser back to the portal (PUBLIC_BASE_URL), nowhere
    else."""
    from flask import current_app

    own_host = urlsplit(current_app.config["PORTAL"].public_base_url).netloc
    query = parse_qs(urlsplit(location).query)
    for name in ("redirect_uri", "post_logout_redirect_uri"):
        for value in query.get(name, []):
            if urlsplit(value).netloc != own_host:
                return f"Keycloak is asked to send the browser to {value!r}"
    return None


# ----------------------------------------------------------------------------- sign in


def test_login_keeps_only_own_paths_as_next(client: FlaskClient, world: SecurityWorld) -> None:
    for target in HOSTILE_TARGETS:
        sign_in(client, None)
        started = client.get("/auth/login", query_string={"next": target})
        if "\x00" in target:  # NUL is refused outright (portal/core/input_guard.py)
            assert started.status_code == 400, target
            continue
        assert started.status_code == 302 and location_problem(started) is None, target
        with client.session_transaction() as session:
            assert "login_next" not in session, target  # none kept: the role decides

        sign_in(client, world.lee)  # already signed in: redirected at once
        again = client.get("/auth/login", query_string={"next": target})
        assert (again.status_code, again.headers["Location"]) == (302, "/learner/"), target


def test_own_paths_survive_as_next(client: FlaskClient) -> None:
    client.get("/auth/login", query_string={"next": "/org/ACME/learners?status=all"})
    with client.session_transaction() as session:
        assert session["login_next"] == "/org/ACME/learners?status=all"


def test_the_callback_checks_next_again(
    client: FlaskClient, world: SecurityWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defense in depth: even a session that somehow holds a hostile target is not followed."""
    from portal.auth import views
    from portal.integrations import keycloak_oidc

    claims = {"sub": "kc-lee", "email": world.lee.email, "email_verified": True, "name": "Lee"}
    token = {"userinfo": claims, "access_token": "at", "id_token": "x"}
    monkeypatch.setattr(views, "_verified_token", lambda: token)
    monkeypatch.setattr(keycloak_oidc, "realm_roles", lambda access_token: [])
    for target in HOSTILE_TARGETS:
        sign_in(client, None)
        with client.session_transaction() as session:
            session["login_next"] = target
        done = client.get("/auth/callback?state=s&code=c")
        assert done.status_code == 302, done.get_data(as_text=True)[:500]
        assert done.headers["Location"] == "/learner/", target


def test_deny_by_default_sends_back_to_the_same_own_path(client: FlaskClient) -> None:
    for path in ("/learner/?next=//evil.example/", "/staff/users?q=https://evil.example/"):
        response = client.get(path)
        assert response.status_code == 302
        location = urlsplit(response.headers["Location"])
        assert location.path == "/auth/login"
        [target] = parse_qs(location.query)["next"]
        assert target == path
    for path in ("//evil.example/", "/\\evil.example", "//evil.example/learner/"):
        assert location_problem(client.get(path)) is None, path


# ----------------------------------------------------------------------------- sign out


def test_sign_out_goes_to_keycloak_and_back_to_the_portal_only(
    client: FlaskClient, world: SecurityWorld
) -> None:
    for target in ("https://evil.example/", "//evil.example/"):
        sign_in(client, world.lee)
        with client.session_transaction() as session:
            session["id_token"] = "header.payload.signature"
        out = client.post(f"/auth/logout?next={target}", data=dict.fromkeys(TARGET_NAMES, target))
        assert out.status_code == 302
        assert location_problem(out) is None
        assert urlsplit(out.headers["Location"]).netloc == KEYCLOAK
        query = parse_qs(urlsplit(out.headers["Location"]).query)
        assert query["post_logout_redirect_uri"] == ["http://127.0.0.1:5000/"]  # PUBLIC_BASE_URL


def test_keycloak_is_told_to_come_back_to_public_base_url_whatever_the_host_header(
    make_app: Any, world: SecurityWorld
) -> None:
    app = make_app(PUBLIC_BASE_URL="https://learn.example.org")
    client = app.test_client()
    started = client.get("/auth/login", headers={"Host": "evil.example"})
    [redirect_uri] = parse_qs(urlsplit(started.headers["Location"]).query)["redirect_uri"]
    # The test client keeps cookies per host: sign in on the forged host itself.
    with client.session_transaction(base_url="http://evil.example") as session:
        session["_user_id"] = str(world.lee.id)
        session["id_token"] = "header.payload.signature"
    out = client.post("/auth/logout", base_url="http://evil.example")
    assert urlsplit(out.headers["Location"]).netloc == KEYCLOAK
    [back] = parse_qs(urlsplit(out.headers["Location"]).query)["post_logout_redirect_uri"]
    assert (redirect_uri, back) == (
        "https://learn.example.org/auth/callback",
        "https://learn.example.org/",
    )


# ----------------------------------------------------------------------------- job forms


def test_job_retry_and_cancel_ignore_offsite_next(
    client: FlaskClient, world: SecurityWorld, db: Any
) -> None:
    sign_in(client, world.staff)
    for target in HOSTILE_TARGETS:
        failed = BackgroundJobFactory(state=JobState.FAILED)
        queued = BackgroundJobFactory(state=JobState.QUEUED)
        db.session.commit()
        retried = client.post(f"/staff/jobs/{failed.id}/retry", data={"next": target})
        cancelled = client.post(f"/staff/jobs/{queued.id}/cancel", data={"next": target})
        if "\x00" in target:  # NUL is refused outright (portal/core/input_guard.py)
            assert (retried.status_code, cancelled.status_code) == (400, 400), target
            continue
        assert (retried.headers["Location"], cancelled.headers["Location"]) == (
            "/staff/",
            "/staff/jobs",
        ), target


def test_job_forms_keep_own_next(client: FlaskClient, world: SecurityWorld, db: Any) -> None:
    sign_in(client, world.staff)
    queued = BackgroundJobFactory(state=JobState.QUEUED)
    db.session.commit()
    back = client.post(f"/staff/jobs/{queued.id}/cancel", data={"next": "/staff/jobs?state=queued"})
    assert back.headers["Location"] == "/staff/jobs?state=queued"


# ----------------------------------------------------------------------------- checkout


def _signed_response(app: Flask, world: SecurityWorld, **extra: str) -> dict[str, str]:
    fields = {
        "decision": "DECLINE",
        "transaction_id": "7000000000000000000001",
        "req_reference_number": world.order.reference,
        "req_amount": "149.00",
        "req_currency": "USD",
        "message": "Declined",
        **extra,
    }
    fields["signed_field_names"] = ",".join([*fields, "signed_field_names"])
    return sign(fields, app.config["PORTAL"].cybersource_secret_key)


def test_the_receipt_goes_to_the_verified_orders_result_page_only(
    app: Flask, client: FlaskClient, world: SecurityWorld
) -> None:
    hostile = {
        "req_override_custom_receipt_page": "https://evil.example/",
        "override_custom_receipt_page": "//evil.example/",
        "next": "https://evil.example/",
    }
    signed = _signed_response(app, world, **hostile)
    receipt = client.post("/checkout/receipt", data=signed)
    assert receipt.status_code == 303
    assert receipt.headers["Location"] == f"/checkout/{world.order.reference}/result"

    forged = {**signed, "req_reference_number": "https://evil.example/"}
    refused = client.post("/checkout/receipt", data=forged)
    assert refused.status_code == 400 and "Location" not in refused.headers


# ----------------------------------------------------------------------------- every route


def test_no_route_redirects_off_site_whatever_target_it_is_given(
    app: Flask, client: FlaskClient, world: SecurityWorld
) -> None:
    """Every route and method, as the caller it is for, with a hostile target in every parameter
    name commonly used for one (query string and form)."""
    targets = ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
    query = {name: targets[n % len(targets)] for n, name in enumerate(TARGET_NAMES)}
    problems = []
    for endpoint, _rule, method in sorted(
        route_methods(app), key=lambda r: (r[2] != "GET", r[1], r[2])
    ):
        sign_in(client, world.user_for(role_for(endpoint)))
        url = build_url(app, endpoint, world)
        data = query if method == "POST" else None
        with client.open(url, method=method, query_string=query, data=data) as response:
            if problem := location_problem(response):
                problems.append(f"{method} {url}: {problem}")
    assert problems == []
