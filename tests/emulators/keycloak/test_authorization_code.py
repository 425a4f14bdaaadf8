"""The browser flow: identity-first pages, PKCE, codes, errors (§2.2-§2.5, §4.2, §4.3)."""

from __future__ import annotations

import requests

from .helpers import (
    CALLBACK,
    DEMO_REALM,
    Browser,
    callback_params,
    exchange_code,
    pkce_pair,
)


def test_identity_first_login_then_code_exchange(kc_base_url: str, kc_browser: Browser) -> None:
    verifier, challenge = pkce_pair("S256")
    page = kc_browser.authorize(
        state="st-123", nonce="n-1", code_challenge=challenge, code_challenge_method="S256"
    )
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' not in page.text
    page = kc_browser.submit(username="member@globex.example")
    assert page.status_code == 200
    assert 'name="password"' in page.text and "member@globex.example" in page.text

    page = kc_browser.submit(password="wrong")
    assert page.status_code == 200
    assert "Invalid username or password." in page.text

    page = kc_browser.submit(password="demo")
    assert page.status_code == 302
    location = page.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    params = callback_params(location)
    assert list(params) == ["state", "session_state", "iss", "code"]
    assert params["state"] == "st-123"
    assert params["iss"] == f"{kc_base_url}/realms/{DEMO_REALM}"

    token = exchange_code(kc_base_url, params["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["refresh_expires_in"] == 1800
    assert body["session_state"] == params["session_state"]
    assert set(body["scope"].split()) == {"openid", "email", "profile"}
    assert body["not-before-policy"] == 0
    assert token.headers["Cache-Control"] == "no-store"


def test_code_is_single_use(kc_base_url: str, kc_browser: Browser) -> None:
    verifier, challenge = pkce_pair()
    params = kc_browser.login(
        "member@globex.example", code_challenge=challenge, code_challenge_method="S256"
    )
    assert exchange_code(kc_base_url, params["code"], verifier).status_code == 200
    replay = exchange_code(kc_base_url, params["code"], verifier)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_grant", "error_description": "Code not valid"}


def test_wrong_verifier_fails_and_burns_the_code(kc_base_url: str, kc_browser: Browser) -> None:
    verifier, challenge = pkce_pair()
    params = kc_browser.login(
        "member@globex.example", code_challenge=challenge, code_challenge_method="S256"
    )
    wrong = exchange_code(kc_base_url, params["code"], pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "PKCE verification failed: Code mismatch",
    }
    assert exchange_code(kc_base_url, params["code"], verifier).status_code == 400


def test_plain_pkce_on_a_client_without_required_method(
    kc_base_url: str, kc_realm: str, kc_admin
) -> None:
    kc_admin.create(
        f"/{kc_realm}/clients",
        {"clientId": "plain-app", "secret": "s3cret", "redirectUris": [CALLBACK]},
    )
    browser = Browser(kc_base_url, realm=kc_realm, client_id="plain-app")
    try:
        verifier, challenge = pkce_pair("plain")
        params = browser.login(
            "member@globex.example", code_challenge=challenge, code_challenge_method="plain"
        )
    finally:
        browser.close()
    ok = exchange_code(
        kc_base_url,
        params["code"],
        verifier,
        realm=kc_realm,
        client_id="plain-app",
        secret="s3cret",
    )
    assert ok.status_code == 200, ok.text


def test_pkce_required_by_client_attribute(kc_browser: Browser) -> None:
    page = kc_browser.authorize(state="abc")
    assert page.status_code == 302
    params = callback_params(page.headers["Location"])
    assert params["error"] == "invalid_request"
    assert params["error_description"] == "Missing parameter: code_challenge"
    assert params["state"] == "abc"
    assert "iss" in params


def test_unknown_client_and_unregistered_redirect_uri_are_400_pages(kc_browser: Browser) -> None:
    page = kc_browser.authorize(client_id="nobody")
    assert page.status_code == 400 and "Client not found." in page.text
    page = kc_browser.authorize(redirect_uri="http://evil.example/cb")
    assert page.status_code == 400
    assert "Invalid parameter: redirect_uri" in page.text
    assert "Location" not in page.headers
    # localhost and 127.0.0.1 are different hosts; the demo client registers both
    page = kc_browser.authorize(redirect_uri="http://localhost:5001/cb")
    assert page.status_code == 400


def test_sso_session_skips_the_forms(kc_base_url: str, kc_browser: Browser) -> None:
    verifier, challenge = pkce_pair()
    first = kc_browser.login(
        "member@globex.example", code_challenge=challenge, code_challenge_method="S256"
    )
    again = kc_browser.authorize(code_challenge=challenge, code_challenge_method="S256", state="2")
    assert again.status_code == 302
    params = callback_params(again.headers["Location"])
    assert params["session_state"] == first["session_state"]
    assert params["state"] == "2"
    forced = kc_browser.authorize(
        code_challenge=challenge, code_challenge_method="S256", prompt="login"
    )
    assert forced.status_code == 200 and 'name="username"' in forced.text
    assert exchange_code(kc_base_url, params["code"], verifier).status_code == 200


def test_prompt_none_without_session_is_login_required(kc_browser: Browser) -> None:
    _, challenge = pkce_pair()
    page = kc_browser.authorize(
        code_challenge=challenge, code_challenge_method="S256", prompt="none"
    )
    assert callback_params(page.headers["Location"])["error"] == "login_required"


def test_unknown_user_gets_the_same_error(kc_browser: Browser) -> None:
    _, challenge = pkce_pair()
    kc_browser.authorize(code_challenge=challenge, code_challenge_method="S256")
    page = kc_browser.submit(username="ghost@globex.example")
    assert 'name="password"' in page.text
    page = kc_browser.submit(password="demo")
    assert "Invalid username or password." in page.text
    empty = kc_browser.authorize(code_challenge=challenge, code_challenge_method="S256")
    assert empty.status_code == 200
    assert "Invalid username or email." in kc_browser.submit(username="").text


def test_login_needs_the_auth_session_cookie(kc_base_url: str, kc_browser: Browser) -> None:
    _, challenge = pkce_pair()
    page = kc_browser.authorize(code_challenge=challenge, code_challenge_method="S256")
    from .helpers import form_action

    response = requests.post(form_action(page.text), data={"username": "x"}, timeout=10)
    assert response.status_code == 400
    assert "Cookie not found" in response.text


def test_wrong_client_secret_and_grant_errors(kc_base_url: str) -> None:
    url = f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/token"
    bad = requests.post(
        url, data={"grant_type": "client_credentials"}, auth=("b2b-portal", "x"), timeout=10
    )
    assert bad.status_code == 401
    assert bad.json() == {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    }
    missing = requests.post(url, data={}, auth=("b2b-portal", "demo-portal-secret"), timeout=10)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    unsupported = requests.post(
        url, data={"grant_type": "magic"}, auth=("b2b-portal", "demo-portal-secret"), timeout=10
    )
    assert unsupported.json()["error"] == "unsupported_grant_type"
    json_body = requests.post(url, json={"grant_type": "password"}, timeout=10)
    assert json_body.status_code == 415
    no_direct = requests.post(
        url,
        data={"grant_type": "password", "username": "member@globex.example", "password": "demo"},
        auth=("b2b-portal", "demo-portal-secret"),
        timeout=10,
    )
    assert no_direct.status_code == 400
    assert no_direct.json() == {
        "error": "unauthorized_client",
        "error_description": "Client not allowed for direct access grants",
    }
