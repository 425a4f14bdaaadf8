"""Acceptance: python-keycloak 7.1's KeycloakAdmin and KeycloakOpenID against the emulator.

Follows python-keycloak's own ``test_organizations`` (spec §8.3) and then logs a member in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
from keycloak import KeycloakAdmin, KeycloakOpenID

from .helpers import Browser, callback_params, pkce_pair

REDIRECT = "http://127.0.0.1:5055/callback"


@pytest.fixture
def kc_pk_admin(kc_base_url: str) -> Iterator[tuple[KeycloakAdmin, str]]:
    admin = KeycloakAdmin(
        server_url=kc_base_url,
        username="admin",
        password="admin",
        realm_name="master",
        user_realm_name="master",
    )
    realm = str(uuid.uuid4())
    assert admin.create_realm(payload={"realm": realm, "enabled": True}) == b""
    yield admin, realm
    admin.change_current_realm("master")
    assert admin.delete_realm(realm_name=realm) == {}


def test_python_keycloak_organizations(kc_pk_admin: tuple[KeycloakAdmin, str]) -> None:
    admin, realm = kc_pk_admin
    assert admin.update_realm(realm_name=realm, payload={"organizationsEnabled": True}) == {}
    admin.change_current_realm(realm)

    org_id = admin.create_organization(
        payload={"name": "test-org01", "alias": "test-org01", "domains": [{"name": "org1.com"}]}
    )
    assert org_id is not None
    org = admin.get_organization(org_id)
    assert org["name"] == "test-org01" and org["domains"] == [
        {"name": "org1.com", "verified": False}
    ]
    assert admin.update_organization(org_id, {**org, "name": "test-org02"}) == {}
    assert admin.get_organization(org_id)["name"] == "test-org02"
    assert admin.update_organization(org_id, {**org, "name": "test-org01"}) == {}
    assert len(admin.get_organizations()) == 1

    user_id = admin.create_user(payload={"username": "test", "email": "test@test.test"})
    assert admin.organization_user_add(user_id, org_id) == b""
    assert len(admin.get_organization_members(org_id)) == 1
    assert admin.get_organization_members_count(org_id) == 1
    assert len(admin.get_user_organizations(user_id)) == 1
    assert admin.organization_user_remove(user_id, org_id) == {}
    assert admin.get_organization_members_count(org_id) == 0

    for i in range(150):
        member = admin.create_user(payload={"username": f"user{i:03d}", "email": f"u{i}@org1.com"})
        admin.organization_user_add(member, org_id)
    assert len(admin.get_organization_members(org_id)) == 150
    assert len(admin.get_organization_members(org_id, {"first": 100, "max": -1})) == 50
    assert len(admin.get_organization_members(org_id, {"first": -1, "max": 20})) == 20
    assert admin.get_user_id("USER007") is not None

    admin.create_idp(
        payload={
            "providerId": "github",
            "alias": "github",
            "config": {"clientId": "id", "clientSecret": "secret"},
        }
    )
    assert admin.organization_idp_add(org_id, "github") == {}
    assert [i["alias"] for i in admin.get_organization_idps(org_id)] == ["github"]
    assert admin.organization_idp_remove(org_id, "github") == {}
    assert admin.get_organization_idps(org_id) == []
    assert admin.delete_organization(org_id) == {}

    for i in range(150):
        admin.create_organization(payload={"name": f"org-{i:03d}", "alias": f"org-{i:03d}"})
    assert len(admin.get_organizations()) == 150
    assert len(admin.get_organizations({"first": 100, "max": -1})) == 50
    assert len(admin.get_organizations({"first": -1, "max": 20})) == 20
    found = admin.get_organizations({"q": "alias:org-042"})
    assert [o["name"] for o in found] == ["org-042"]


def test_python_keycloak_login_with_organization_claim(
    kc_base_url: str, kc_pk_admin: tuple[KeycloakAdmin, str]
) -> None:
    admin, realm = kc_pk_admin
    admin.update_realm(realm_name=realm, payload={"organizationsEnabled": True})
    admin.change_current_realm(realm)
    client_uuid = admin.create_client(
        payload={
            "clientId": "portal",
            "secret": "portal-secret",
            "redirectUris": [REDIRECT],
            "standardFlowEnabled": True,
            "directAccessGrantsEnabled": True,
            "serviceAccountsEnabled": True,
        }
    )
    assert admin.get_client_id("portal") == client_uuid
    assert admin.get_client_secrets(client_uuid)["value"] == "portal-secret"
    org_id = admin.create_organization(
        payload={"name": "Acme", "alias": "acme", "domains": [{"name": "acme.test"}]}
    )
    user_id = admin.create_user(
        payload={
            "username": "alice",
            "email": "alice@acme.test",
            "firstName": "Alice",
            "lastName": "Doe",
            "enabled": True,
            "emailVerified": True,
            "credentials": [{"type": "password", "value": "pw", "temporary": False}],
        }
    )
    admin.organization_user_add(user_id, org_id)

    oidc = KeycloakOpenID(
        server_url=kc_base_url,
        realm_name=realm,
        client_id="portal",
        client_secret_key="portal-secret",
    )
    assert oidc.well_known()["issuer"] == f"{kc_base_url}/realms/{realm}"
    assert oidc.public_key()

    token = oidc.token("alice", "pw", scope="openid organization:*")
    claims = oidc.decode_token(token["access_token"])
    assert claims["organization"] == ["acme"]
    assert oidc.decode_token(token["id_token"])["organization"] == ["acme"]
    assert oidc.userinfo(token["access_token"])["organization"] == ["acme"]
    assert oidc.introspect(token["access_token"])["active"] is True
    refreshed = oidc.refresh_token(token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert oidc.logout(refreshed["refresh_token"]) == {}

    # authorization code with PKCE, the URL built by python-keycloak
    verifier, challenge = pkce_pair()
    url = oidc.auth_url(
        redirect_uri=REDIRECT,
        scope="openid organization",
        state="s1",
        nonce="n1",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    browser = Browser(kc_base_url, realm=realm, client_id="portal", redirect_uri=REDIRECT)
    try:
        browser.page = browser.session.get(url, allow_redirects=False)
        browser.submit(username="alice@acme.test")
        done = browser.submit(password="pw")
    finally:
        browser.close()
    params = callback_params(done.headers["Location"])
    assert params["state"] == "s1"
    code_token = oidc.token(
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    id_claims = oidc.decode_token(code_token["id_token"])
    assert id_claims["nonce"] == "n1" and id_claims["organization"] == ["acme"]

    service = KeycloakOpenID(
        server_url=kc_base_url,
        realm_name=realm,
        client_id="portal",
        client_secret_key="portal-secret",
    )
    sa_token = service.token(grant_type="client_credentials")
    assert "refresh_token" not in sa_token
    assert (
        requests.get(
            f"{kc_base_url}/admin/realms/{realm}/organizations",
            headers={"Authorization": f"Bearer {sa_token['access_token']}"},
            timeout=10,
        ).status_code
        == 403
    )
