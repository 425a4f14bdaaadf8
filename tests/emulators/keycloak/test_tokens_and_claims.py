"""Token contents, the organization claim in each scope form and mapper shape, the other grants."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
import requests

from .helpers import (
    DEMO_CLIENT,
    DEMO_REALM,
    DEMO_SECRET,
    AdminApi,
    Browser,
    callback_params,
    exchange_code,
    jwt_claims,
    password_token,
    pkce_pair,
)

GLOBEX_MEMBER = "a0000000-0000-4000-8000-000000000004"


def _browser_tokens(
    base_url: str, browser: Browser, username: str, scope: str, **extra: str
) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    params = browser.login(
        username, scope=scope, code_challenge=challenge, code_challenge_method="S256", **extra
    )
    response = exchange_code(
        base_url, params["code"], verifier, realm=browser.realm, client_id=browser.client_id
    )
    assert response.status_code == 200, response.text
    return {**response.json(), "callback": params}


def test_id_and_access_token_claims(kc_base_url: str, kc_browser: Browser) -> None:
    tokens = _browser_tokens(
        kc_base_url,
        kc_browser,
        "member@globex.example",
        "openid email profile organization",
        nonce="n-0S6_WzA2Mj",
    )
    id_token = jwt_claims(tokens["id_token"])
    issuer = f"{kc_base_url}/realms/{DEMO_REALM}"
    assert id_token["iss"] == issuer
    assert id_token["sub"] == GLOBEX_MEMBER
    assert id_token["aud"] == DEMO_CLIENT
    assert id_token["azp"] == DEMO_CLIENT
    assert id_token["typ"] == "ID"
    assert id_token["nonce"] == "n-0S6_WzA2Mj"
    assert id_token["sid"] == tokens["session_state"] == tokens["callback"]["session_state"]
    assert id_token["exp"] - id_token["iat"] == 300
    assert id_token["auth_time"] <= id_token["iat"]
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert id_token["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert id_token["email"] == "member@globex.example"
    assert id_token["email_verified"] is True
    assert id_token["name"] == "Katherine Johnson"
    assert id_token["given_name"] == "Katherine"
    assert id_token["family_name"] == "Johnson"
    assert id_token["preferred_username"] == "member@globex.example"
    assert id_token["organization"] == ["globex"]
    assert "session_state" not in id_token

    access = jwt_claims(tokens["access_token"])
    assert access["typ"] == "Bearer"
    assert "nonce" not in access and "session_state" not in access
    assert access["sid"] == id_token["sid"]
    assert access["organization"] == ["globex"]
    assert set(access["scope"].split()) == {"openid", "organization", "email", "profile"}
    assert access["allowed-origins"] == ["http://127.0.0.1:5000", "http://localhost:5000"]
    assert "offline_access" in access["realm_access"]["roles"]


@pytest.fixture
def kc_two_org_user(kc_admin: AdminApi, kc_realm: str) -> dict[str, str]:
    """member@globex.example, also added to acme: two memberships."""
    users = kc_admin.get(
        f"/{kc_realm}/users", params={"email": "member@globex.example", "exact": "true"}
    )
    user_id = users.json()[0]["id"]
    orgs = {o["alias"]: o["id"] for o in kc_admin.get(f"/{kc_realm}/organizations").json()}
    added = kc_admin.post(
        f"/{kc_realm}/organizations/{orgs['acme']}/members",
        data=f'"{user_id}"',
        headers={"Content-Type": "application/json"},
    )
    assert added.status_code == 201
    return {"user_id": user_id, **orgs}


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid organization:*", ["acme", "globex"]),
        ("openid organization:acme", ["acme"]),
        ("openid organization:initech", None),
        ("openid", None),
    ],
)
def test_scope_forms_for_a_two_org_user(
    kc_base_url: str, kc_realm: str, kc_two_org_user: dict[str, str], scope: str, expected: Any
) -> None:
    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        tokens = _browser_tokens(kc_base_url, browser, "member@globex.example", scope)
    finally:
        browser.close()
    assert jwt_claims(tokens["id_token"]).get("organization") == expected
    assert set(scope.split()) <= set(tokens["scope"].split())


def test_plain_organization_scope_asks_which_organization(
    kc_base_url: str, kc_realm: str, kc_two_org_user: dict[str, str]
) -> None:
    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        verifier, challenge = pkce_pair()
        browser.authorize(
            scope="openid organization", code_challenge=challenge, code_challenge_method="S256"
        )
        page = browser.submit(username="member@globex.example")
        assert "Select an organization to proceed:" in page.text
        assert 'name="kc.org"' in page.text and 'value="acme"' in page.text
        page = browser.submit(**{"kc.org": "globex"})
        assert 'name="password"' in page.text
        page = browser.submit(password="demo")
        params = callback_params(page.headers["Location"])
    finally:
        browser.close()
    tokens = exchange_code(kc_base_url, params["code"], verifier, realm=kc_realm).json()
    assert jwt_claims(tokens["id_token"])["organization"] == ["globex"]
    # plain organization, several memberships, no browser choice: no claim
    refreshed = requests.post(
        f"{kc_base_url}/realms/{kc_realm}/protocol/openid-connect/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(DEMO_CLIENT, DEMO_SECRET),
        timeout=10,
    ).json()
    assert "organization" not in jwt_claims(refreshed["id_token"])
    password = password_token(
        kc_base_url, kc_realm, "member@globex.example", "demo", scope="openid organization"
    )
    assert "organization" not in jwt_claims(password.json()["id_token"])
    assert password.json()["scope"].split().count("organization") == 1


def _set_org_mapper(admin: AdminApi, realm: str, **config: str) -> None:
    scopes = admin.get(f"/{realm}/client-scopes").json()
    scope = next(s for s in scopes if s["name"] == "organization")
    mapper = scope["protocolMappers"][0]
    assert mapper["protocolMapper"] == "oidc-organization-membership-mapper"
    response = admin.put(
        f"/{realm}/client-scopes/{scope['id']}/protocol-mappers/models/{mapper['id']}",
        json={**mapper, "config": {**mapper["config"], **config}},
    )
    assert response.status_code == 204


@pytest.mark.parametrize(
    ("config", "shape"),
    [
        ({}, "list"),
        ({"addOrganizationId": "true"}, "id"),
        ({"addOrganizationAttributes": "true"}, "attributes"),
        ({"addOrganizationId": "true", "addOrganizationAttributes": "true"}, "both"),
        ({"jsonType.label": "JSON"}, "empty-object"),
        ({"multivalued": "false"}, "string"),
    ],
)
def test_mapper_options_shape_the_claim(
    kc_base_url: str, kc_admin: AdminApi, kc_realm: str, config: dict[str, str], shape: str
) -> None:
    _set_org_mapper(kc_admin, kc_realm, **config)
    org_id = kc_admin.get(f"/{kc_realm}/organizations", params={"q": "alias:globex"}).json()[0][
        "id"
    ]
    response = password_token(
        kc_base_url, kc_realm, "member@globex.example", "demo", scope="openid organization:*"
    )
    claim = jwt_claims(response.json()["id_token"])["organization"]
    expected = {
        "list": ["globex"],
        "id": {"globex": {"id": org_id}},
        "attributes": {"globex": {"segment": ["education"]}},
        "both": {"globex": {"segment": ["education"], "id": org_id}},
        "empty-object": {"globex": {}},
        "string": "globex",
    }[shape]
    assert claim == expected


@pytest.mark.parametrize(
    "scope",
    [
        "organization organization:acme",
        "organization organization:*",
        "organization:acme organization:*",
    ],
)
def test_mixed_organization_scope_forms_are_rejected(
    kc_base_url: str, kc_realm: str, scope: str
) -> None:
    response = password_token(
        kc_base_url, kc_realm, "member@globex.example", "demo", scope=f"openid {scope}"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        _, challenge = pkce_pair()
        page = browser.authorize(
            scope=f"openid {scope}",
            code_challenge=challenge,
            code_challenge_method="S256",
            state="s",
        )
    finally:
        browser.close()
    assert page.status_code == 302
    assert callback_params(page.headers["Location"])["error"] == "invalid_scope"


def test_refresh_rotates_and_dies_with_the_session(kc_base_url: str, kc_browser: Browser) -> None:
    tokens = _browser_tokens(
        kc_base_url, kc_browser, "member@globex.example", "openid organization:*"
    )
    url = f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect"
    refreshed = requests.post(
        f"{url}/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(DEMO_CLIENT, DEMO_SECRET),
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["refresh_token"] != tokens["refresh_token"]
    assert body["access_token"] != tokens["access_token"]
    assert body["session_state"] == tokens["session_state"]
    assert jwt_claims(body["id_token"])["organization"] == ["globex"]
    narrowed = requests.post(
        f"{url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "scope": "openid organization:globex",
        },
        auth=(DEMO_CLIENT, DEMO_SECRET),
        timeout=10,
    )
    assert narrowed.status_code == 200 and narrowed.json()["scope"].startswith(
        "openid organization:globex"
    )
    logout = requests.post(
        f"{url}/logout",
        data={"refresh_token": body["refresh_token"]},
        auth=(DEMO_CLIENT, DEMO_SECRET),
        timeout=10,
    )
    assert logout.status_code == 204
    after = requests.post(
        f"{url}/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=(DEMO_CLIENT, DEMO_SECRET),
        timeout=10,
    )
    assert after.status_code == 400
    assert after.json() == {"error": "invalid_grant", "error_description": "Session not active"}


def test_client_credentials_token(kc_base_url: str) -> None:
    response = requests.post(
        f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(DEMO_CLIENT, DEMO_SECRET),
        timeout=10,
    )
    body = response.json()
    assert set(body) == {
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "token_type",
        "not-before-policy",
        "scope",
    }
    assert body["refresh_expires_in"] == 0 and body["expires_in"] == 300
    assert set(body["scope"].split()) == {"email", "profile"}
    claims = jwt_claims(body["access_token"])
    assert claims["preferred_username"] == "service-account-b2b-portal"
    assert {"manage-realm", "manage-users", "view-users"} <= set(
        claims["resource_access"]["realm-management"]["roles"]
    )
    assert "sid" not in claims and "organization" not in claims
    assert claims["client_id"] == DEMO_CLIENT
    # client_secret_post works too
    post = requests.post(
        f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT,
            "client_secret": DEMO_SECRET,
        },
        timeout=10,
    )
    assert post.status_code == 200


def test_password_grant(kc_base_url: str, kc_realm: str) -> None:
    plain = password_token(kc_base_url, kc_realm, "MEMBER@globex.example", "demo")
    assert plain.status_code == 200
    assert "id_token" not in plain.json() and "refresh_token" in plain.json()
    with_openid = password_token(
        kc_base_url, kc_realm, "member@globex.example", "demo", scope="openid"
    )
    assert "id_token" in with_openid.json()
    wrong = password_token(kc_base_url, kc_realm, "member@globex.example", "nope")
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid user credentials",
    }


def test_userinfo(kc_base_url: str, kc_browser: Browser) -> None:
    tokens = _browser_tokens(
        kc_base_url, kc_browser, "member@globex.example", "openid organization:*"
    )
    url = f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/userinfo"
    ok = requests.get(
        url, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
    )
    assert ok.status_code == 200
    assert ok.json() == {
        "sub": GLOBEX_MEMBER,
        "email_verified": True,
        "name": "Katherine Johnson",
        "preferred_username": "member@globex.example",
        "given_name": "Katherine",
        "family_name": "Johnson",
        "email": "member@globex.example",
        "organization": ["globex"],
    }
    bad = requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    assert bad.status_code == 401
    assert bad.content == b""
    assert bad.headers["WWW-Authenticate"] == (
        f'Bearer realm="{DEMO_REALM}", error="invalid_token", '
        'error_description="Token verification failed"'
    )


def test_introspection(kc_base_url: str, kc_browser: Browser) -> None:
    tokens = _browser_tokens(kc_base_url, kc_browser, "member@globex.example", "openid")
    url = f"{kc_base_url}/realms/{DEMO_REALM}/protocol/openid-connect/token/introspect"
    active = requests.post(
        url, data={"token": tokens["access_token"]}, auth=(DEMO_CLIENT, DEMO_SECRET), timeout=10
    )
    assert active.json()["active"] is True
    assert active.json()["username"] == "member@globex.example"
    inactive = requests.post(
        url, data={"token": "x.y.z"}, auth=(DEMO_CLIENT, DEMO_SECRET), timeout=10
    )
    assert inactive.json() == {"active": False}
