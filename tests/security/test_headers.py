"""Security headers on every response, and cookie flags, in test, demo and production mode.

Every GET route of ``app.url_map`` (with real URL arguments, as anonymous, an org admin and staff),
every static file, and every kind of error response (400, CSRF 400, 401, 403, 404, 405, 413, 429,
500) must carry a strict Content-Security-Policy (no 'unsafe-inline' in script-src or style-src),
``nosniff``, frame denial and a referrer policy. HSTS is sent in production only; cookies are
``HttpOnly`` and ``SameSite=Lax`` everywhere and ``Secure`` in production.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.conftest import (
    PRODUCTION,
    SecurityWorld,
    build_url,
    sign_in,
    static_files,
)

LAX_SOURCES = {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:", "blob:"}
REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def header_problems(response: Any, *, hsts: bool) -> list[str]:
    """What is wrong with one response's security headers (empty when nothing is)."""
    headers = response.headers
    problems = []
    csp = csp_directives(headers.get("Content-Security-Policy", ""))
    if not csp:
        problems.append("no Content-Security-Policy")
    default = csp.get("default-src", [])
    if default != ["'self'"] and default != ["'none'"]:
        problems.append(f"default-src {default}")
    for name in ("script-src", "style-src"):
        sources = csp.get(name, default)
        if not sources or LAX_SOURCES & set(sources):
            problems.append(f"{name} {sources}")
    if csp.get("object-src") != ["'none'"]:
        problems.append(f"object-src {csp.get('object-src')}")
    if csp.get("base-uri") not in (["'none'"], ["'self'"]):
        problems.append(f"base-uri {csp.get('base-uri')}")
    if "*" in csp.get("form-action", ["*"]):
        problems.append(f"form-action {csp.get('form-action')}")
    framing = headers.get("X-Frame-Options", "").upper() == "DENY" or csp.get(
        "frame-ancestors"
    ) == ["'none'"]
    if not framing or csp.get("frame-ancestors") != ["'none'"]:
        problems.append("framing is not denied (X-Frame-Options DENY and frame-ancestors 'none')")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if headers.get("Referrer-Policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy {headers.get('Referrer-Policy')!r}")
    sts = headers.get("Strict-Transport-Security")
    if hsts and not (sts and "max-age=" in sts and int(sts.split("max-age=")[1].split(";")[0]) > 0):
        problems.append(f"no HSTS in production: {sts!r}")
    if not hsts and sts is not None:
        problems.append(f"HSTS outside production: {sts!r}")
    return problems


def cookie_problems(response: Any, *, secure: bool) -> list[str]:
    problems = []
    for cookie in response.headers.getlist("Set-Cookie"):
        flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
        name = cookie.split("=", 1)[0]
        if "httponly" not in flags:
            problems.append(f"{name} without HttpOnly")
        if flags.get("samesite", "").lower() != "samesite=lax":
            problems.append(f"{name} without SameSite=Lax: {cookie}")
        if secure and "secure" not in flags:
            problems.append(f"{name} without Secure in production")
        if not secure and "secure" in flags:
            problems.append(f"{name} Secure outside production (the demo runs on plain http)")
    return problems


def walk(
    app: Flask, client: FlaskClient, world: SecurityWorld, roles: tuple[str, ...]
) -> list[tuple[str, Any]]:
    """Every GET route (and every static file) as each role: (label, response)."""
    seen = []
    for role in roles:
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in (rule.methods or set()):
                continue
            sign_in(client, world.user_for(role))
            url = build_url(app, rule.endpoint, world)
            response = client.get(url)
            response.close()
            seen.append((f"{role} GET {url} -> {response.status_code}", response))
    sign_in(client, None)
    for name in static_files(app):
        response = client.get(f"/static/{name}")
        response.close()
        seen.append((f"static {name} -> {response.status_code}", response))
    return seen


def test_every_get_route_and_static_file_has_the_headers(
    app: Flask, client: FlaskClient, world: SecurityWorld
) -> None:
    seen = walk(app, client, world, ("anonymous", "own_admin", "staff"))
    statuses = {response.status_code for _, response in seen}
    assert {200, 302} <= statuses  # pages and redirects were both checked
    assert any(r.mimetype == "text/csv" for _, r in seen) and any(r.is_json for _, r in seen)
    problems = {label: p for label, r in seen if (p := header_problems(r, hsts=False))}
    assert problems == {}
    cookies = {label: p for label, r in seen if (p := cookie_problems(r, secure=False))}
    assert cookies == {}


def _error_app(make_app: Callable[..., Flask]) -> Flask:
    """An app with CSRF on, a one-per-minute code limit, and a route that crashes (for the 500)."""
    app = make_app(WTF_CSRF_ENABLED=True, REDEEM_RATE_LIMIT="1 per minute")

    @app.get("/learner/crash-for-test")
    def crash() -> str:
        raise RuntimeError("kaboom")

    return app


def error_responses(app: Flask, world: SecurityWorld) -> dict[int | str, Any]:
    client = app.test_client()
    found: dict[int | str, Any] = {}

    def keep(label: int | str, response: Any) -> None:
        response.close()
        found[label] = response

    keep(400, client.get("/catalog/?page=abc"))
    keep(401, client.get("/api/v1/courses/", headers={"Authorization": "Bearer nope"}))
    keep(404, client.get("/no/such/page"))
    keep("404 json", client.get("/api/v1/nothing/here/"))
    keep(405, client.get("/auth/logout"))
    keep("csrf", client.post("/auth/logout"))
    sign_in(client, world.lee)
    keep(403, client.get("/staff/"))
    keep(413, client.post("/learner/redeem", data=b"x" * (9 * 1024 * 1024)))
    keep(500, client.get("/learner/crash-for-test"))
    token = client.get("/learner/redeem").get_data(as_text=True)
    token = token.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/learner/redeem", data={"code": "WRONG1", "csrf_token": token}).close()
    keep(429, client.post("/learner/redeem", data={"code": "WRONG2", "csrf_token": token}))
    return found


def test_error_responses_have_the_headers(
    make_app: Callable[..., Flask], world: SecurityWorld
) -> None:
    app = _error_app(make_app)
    found = error_responses(app, world)
    assert {k: r.status_code for k, r in found.items()} == {
        400: 400,
        401: 401,
        404: 404,
        "404 json": 404,
        405: 405,
        "csrf": 400,
        403: 403,
        413: 413,
        500: 500,
        429: 429,
    }
    assert "kaboom" not in found[500].get_data(as_text=True)
    problems = {k: p for k, r in found.items() if (p := header_problems(r, hsts=False))}
    assert problems == {}


def test_production_sends_hsts_and_secure_cookies_on_every_response(
    make_app: Callable[..., Flask], world: SecurityWorld
) -> None:
    from portal.config import PRODUCTION_REQUIRED, SMTP_REQUIRED

    given = {*PRODUCTION, "DATABASE_URL"}  # the test's database comes from app_factory
    assert set(PRODUCTION_REQUIRED + SMTP_REQUIRED) <= given, "PRODUCTION misses a new setting"
    app = make_app(**PRODUCTION)
    settings = app.config["PORTAL"]
    assert settings.mode == "production" and app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    seen = walk(app, client, world, ("anonymous", "staff"))
    problems = {label: p for label, r in seen if (p := header_problems(r, hsts=True))}
    assert problems == {}

    # Sign-in starts a session (state, nonce, where to go back): its cookie is the one to check.
    sign_in(client, None)
    started = client.get("/auth/login?next=/learner/")
    assert started.status_code == 302
    assert started.headers.getlist("Set-Cookie"), "signing in set no cookie"
    assert cookie_problems(started, secure=True) == []
    assert header_problems(started, hsts=True) == []
    cookies = {label: p for label, r in seen if (p := cookie_problems(r, secure=True))}
    assert cookies == {}
    # Flask-Login's remember-me cookie is never set, but it would be protected the same way.
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize("mode", ["demo", "test"])
def test_no_hsts_and_plain_http_cookies_outside_production(
    make_app: Callable[..., Flask], world: SecurityWorld, mode: str
) -> None:
    """HSTS pins a host to HTTPS for a year: the demo on http://127.0.0.1 must never send it."""
    app = make_app(PORTAL_MODE=mode)
    client = app.test_client()
    responses = [client.get(path) for path in ("/", "/catalog/", "/no/such/page", "/auth/login")]
    sign_in(client, world.staff)
    responses += [client.get("/staff/"), client.post("/auth/logout")]
    for response in responses:
        response.close()
        assert header_problems(response, hsts=False) == [], response.request.path
        assert cookie_problems(response, secure=False) == [], response.request.path
    assert any(r.headers.getlist("Set-Cookie") for r in responses)
