"""RP-initiated logout, python-keycloak's back-channel logout call, back-channel logout tokens."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request

from tests.support.live_server import live_server

from .helpers import (
    DEMO_CLIENT,
    DEMO_REALM,
    DEMO_SECRET,
    PORTAL,
    AdminApi,
    Browser,
    exchange_code,
    jwt_claims,
    pkce_pair,
)


def _login(base_url: str, browser: Browser) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    params = browser.login(
        "member@globex.example", code_challenge=challenge, code_challenge_method="S256", nonce="n1"
    )
    tokens = exchange_code(
        base_url, params["code"], verifier, realm=browser.realm, client_id=browser.client_id
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def _logout_url(base_url: str, realm: str = DEMO_REALM) -> str:
    return f"{base_url}/realms/{realm}/protocol/openid-connect/logout"


def _session_alive(base_url: str, browser: Browser) -> bool:
    _, challenge = pkce_pair()
    return (
        browser.authorize(code_challenge=challenge, code_challenge_method="S256").status_code == 302
    )


def test_rp_initiated_logout_redirects_with_state(kc_base_url: str, kc_browser: Browser) -> None:
    tokens = _login(kc_base_url, kc_browser)
    target = f"{PORTAL}/logged-out"
    response = kc_browser.session.get(
        _logout_url(kc_base_url),
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": target,
            "state": "bye",
        },
        allow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{target}?state=bye"
    assert not _session_alive(kc_base_url, kc_browser)
    userinfo = requests.get(
        f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 401


def test_unregistered_post_logout_uri_is_rejected(kc_base_url: str, kc_browser: Browser) -> None:
    tokens = _login(kc_base_url, kc_browser)
    response = kc_browser.session.get(
        _logout_url(kc_base_url),
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://evil.example/",
        },
        allow_redirects=False,
    )
    assert response.status_code == 400
    assert "Invalid redirect uri" in response.text
    assert _session_alive(kc_base_url, kc_browser)


def test_logout_without_hint(kc_base_url: str, kc_browser: Browser) -> None:
    missing = kc_browser.session.get(
        _logout_url(kc_base_url), params={"post_logout_redirect_uri": f"{PORTAL}/"}
    )
    assert missing.status_code == 400 and "Missing parameters: id_token_hint" in missing.text
    _login(kc_base_url, kc_browser)
    confirm = kc_browser.session.get(_logout_url(kc_base_url))
    assert confirm.status_code == 200 and "Do you want to log out?" in confirm.text
    kc_browser.page = confirm
    done = kc_browser.submit()
    assert done.status_code == 200 and "You are logged out" in done.text
    assert not _session_alive(kc_base_url, kc_browser)


def test_id_token_hint_only_shows_logged_out_page(kc_base_url: str, kc_browser: Browser) -> None:
    tokens = _login(kc_base_url, kc_browser)
    page = kc_browser.session.get(
        _logout_url(kc_base_url), params={"id_token_hint": tokens["id_token"]}
    )
    assert page.status_code == 200 and "You are logged out" in page.text


def test_refresh_token_logout_is_idempotent(kc_base_url: str, kc_browser: Browser) -> None:
    tokens = _login(kc_base_url, kc_browser)
    for _ in range(2):
        response = requests.post(
            _logout_url(kc_base_url),
            data={
                "client_id": DEMO_CLIENT,
                "client_secret": DEMO_SECRET,
                "refresh_token": tokens["refresh_token"],
            },
            timeout=10,
        )
        assert response.status_code == 204 and response.content == b""


@pytest.fixture
def kc_backchannel_receiver() -> Iterator[tuple[str, queue.Queue[str]]]:
    """A tiny live server that records the logout tokens POSTed to it."""
    received: queue.Queue[str] = queue.Queue()
    app = Flask("backchannel-receiver")

    @app.post("/backchannel-logout")
    def backchannel() -> tuple[str, int]:
        received.put(request.form["logout_token"])
        return "", 200

    with live_server(app) as base_url:
        yield f"{base_url}/backchannel-logout", received


def test_backchannel_logout_token_is_posted(
    kc_base_url: str,
    kc_admin: AdminApi,
    kc_realm: str,
    kc_backchannel_receiver: tuple[str, queue.Queue[str]],
) -> None:
    url, received = kc_backchannel_receiver
    client = kc_admin.get(f"/{kc_realm}/clients", params={"clientId": DEMO_CLIENT}).json()[0]
    client["attributes"]["backchannel.logout.url"] = url
    assert kc_admin.put(f"/{kc_realm}/clients/{client['id']}", json=client).status_code == 204

    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        tokens = _login(kc_base_url, browser)
        response = browser.session.get(
            _logout_url(kc_base_url, kc_realm),
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": f"{PORTAL}/"},
            allow_redirects=False,
        )
    finally:
        browser.close()
    assert response.status_code == 302
    claims = jwt_claims(received.get(timeout=5))
    assert claims["typ"] == "Logout"
    assert claims["aud"] == DEMO_CLIENT
    assert claims["sid"] == tokens["session_state"]
    assert claims["sub"] == jwt_claims(tokens["id_token"])["sub"]
    assert claims["iss"] == f"{kc_base_url}/realms/{kc_realm}"
    assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
    assert "nonce" not in claims


def test_unreachable_backchannel_url_does_not_break_logout(
    kc_base_url: str, kc_admin: AdminApi, kc_realm: str
) -> None:
    client = kc_admin.get(f"/{kc_realm}/clients", params={"clientId": DEMO_CLIENT}).json()[0]
    client["attributes"]["backchannel.logout.url"] = "http://127.0.0.1:9/unreachable"
    assert kc_admin.put(f"/{kc_realm}/clients/{client['id']}", json=client).status_code == 204
    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        tokens = _login(kc_base_url, browser)
        response = requests.post(
            _logout_url(kc_base_url, kc_realm),
            data={"refresh_token": tokens["refresh_token"]},
            auth=(DEMO_CLIENT, DEMO_SECRET),
            timeout=10,
        )
    finally:
        browser.close()
    assert response.status_code == 204
