"""What a person sees: the demo accounts box, the stylesheet, the organization IdP step."""

from __future__ import annotations

import re

import requests

from .helpers import (
    DEMO_REALM,
    AdminApi,
    Browser,
    callback_params,
    exchange_code,
    jwt_claims,
    pkce_pair,
)


def test_first_page_lists_demo_accounts_and_uses_external_css(
    kc_base_url: str, kc_browser: Browser
) -> None:
    _, challenge = pkce_pair()
    page = kc_browser.authorize(code_challenge=challenge, code_challenge_method="S256")
    text = page.text
    assert "Demo accounts" in text
    for username in (
        "learner@acme.example",
        "admin@acme.example",
        "learner@globex.example",
        "member@globex.example",
        "staff@portal.example",
        "newcomer@example.com",
    ):
        assert username in text
    assert "service-account" not in text
    assert "<script" not in text and "style=" not in text and "<style" not in text
    css = re.search(r'<link rel="stylesheet" href="([^"]+)"', text).group(1)
    sheet = requests.get(f"{kc_base_url}{css}", timeout=10)
    assert sheet.status_code == 200 and "text/css" in sheet.headers["Content-Type"]


def test_demo_box_needs_the_realm_attribute(
    kc_base_url: str, kc_admin: AdminApi, kc_realm: str
) -> None:
    realm = kc_admin.get(f"/{kc_realm}").json()
    assert realm["attributes"]["emulatorShowDemoAccounts"] == "true"
    update = kc_admin.put(
        f"/{kc_realm}", json={"attributes": {"emulatorShowDemoAccounts": "false"}}
    )
    assert update.status_code == 204
    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        _, challenge = pkce_pair()
        page = browser.authorize(code_challenge=challenge, code_challenge_method="S256")
    finally:
        browser.close()
    assert "Demo accounts" not in page.text


def test_org_email_domain_goes_through_the_identity_provider(
    kc_base_url: str, kc_browser: Browser
) -> None:
    verifier, challenge = pkce_pair()
    kc_browser.authorize(
        scope="openid organization", code_challenge=challenge, code_challenge_method="S256"
    )
    step = kc_browser.submit(username="learner@acme.example")
    assert step.status_code == 302
    assert "/broker/acme-idp/login" in step.headers["Location"]
    page = kc_browser.follow()
    assert page.status_code == 200
    assert "identity provider" in page.text and "Acme Corporation" in page.text
    done = kc_browser.submit()
    assert done.status_code == 302
    params = callback_params(done.headers["Location"])
    tokens = exchange_code(kc_base_url, params["code"], verifier).json()
    claims = jwt_claims(tokens["id_token"])
    assert claims["email"] == "learner@acme.example"
    assert claims["organization"] == ["acme"]


def test_unknown_email_at_org_domain_becomes_a_managed_member(
    kc_base_url: str, kc_admin: AdminApi, kc_realm: str
) -> None:
    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        verifier, challenge = pkce_pair()
        browser.authorize(
            scope="openid organization:*", code_challenge=challenge, code_challenge_method="S256"
        )
        browser.submit(username="New.Person@acme.example")
        browser.follow()
        params = callback_params(browser.submit().headers["Location"])
    finally:
        browser.close()
    tokens = exchange_code(kc_base_url, params["code"], verifier, realm=kc_realm).json()
    assert jwt_claims(tokens["id_token"])["organization"] == ["acme"]
    acme = kc_admin.get(f"/{kc_realm}/organizations", params={"q": "alias:acme"}).json()[0]
    members = kc_admin.get(
        f"/{kc_realm}/organizations/{acme['id']}/members", params={"membershipType": "MANAGED"}
    ).json()
    assert [m["email"] for m in members] == ["new.person@acme.example"]


def test_unknown_realm_page(kc_base_url: str) -> None:
    response = requests.get(f"{kc_base_url}/realms/{DEMO_REALM}/no-such-page", timeout=10)
    assert response.status_code == 404
