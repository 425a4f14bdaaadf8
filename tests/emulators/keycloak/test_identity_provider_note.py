"""Which credentials a login used (keycloak.md section 9): a brokered login sets the
``identity_provider`` session note and the ``oidc-usersessionmodel-note-mapper`` copies it into the
tokens; a password login has none; members carry the right ``membershipType``."""

from __future__ import annotations

from typing import Any

import requests

from .helpers import (
    AdminApi,
    Browser,
    callback_params,
    exchange_code,
    jwt_claims,
    pkce_pair,
)


def _brokered_login(browser: Browser, username: str) -> tuple[dict[str, str], str]:
    verifier, challenge = pkce_pair()
    browser.authorize(
        scope="openid organization", code_challenge=challenge, code_challenge_method="S256"
    )
    step = browser.submit(username=username)
    assert step.status_code == 302 and "/broker/acme-idp/login" in step.headers["Location"]
    browser.follow()
    done = browser.submit()
    assert done.status_code == 302, done.text
    return callback_params(done.headers["Location"]), verifier


def _tokens(kc_base_url: str, realm: str, params: dict[str, str], verifier: str) -> Any:
    response = exchange_code(kc_base_url, params["code"], verifier, realm=realm)
    assert response.status_code == 200, response.text
    return response.json()


def _acme(kc_admin: AdminApi, realm: str) -> dict[str, Any]:
    found = kc_admin.get(f"/{realm}/organizations", params={"q": "alias:acme"}).json()
    return dict(found[0])


def test_a_brokered_login_carries_identity_provider_in_both_tokens_and_userinfo(
    kc_base_url: str, kc_realm: str
) -> None:
    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        params, verifier = _brokered_login(browser, "learner@acme.example")
    finally:
        browser.close()
    tokens = _tokens(kc_base_url, kc_realm, params, verifier)
    assert jwt_claims(tokens["id_token"])["identity_provider"] == "acme-idp"
    assert jwt_claims(tokens["access_token"])["identity_provider"] == "acme-idp"
    info = requests.get(
        f"{kc_base_url}/realms/{kc_realm}/protocol/openid-connect/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    ).json()
    assert info["identity_provider"] == "acme-idp"
    # A refresh keeps the session's note.
    refreshed = requests.post(
        f"{kc_base_url}/realms/{kc_realm}/protocol/openid-connect/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("b2b-portal", "demo-portal-secret"),
        timeout=10,
    ).json()
    assert jwt_claims(refreshed["id_token"])["identity_provider"] == "acme-idp"


def test_a_password_login_has_no_identity_provider_claim(kc_base_url: str, kc_realm: str) -> None:
    browser = Browser(kc_base_url, realm=kc_realm)
    verifier, challenge = pkce_pair()
    try:
        params = browser.login(
            "learner@globex.example", code_challenge=challenge, code_challenge_method="S256"
        )
    finally:
        browser.close()
    tokens = _tokens(kc_base_url, kc_realm, params, verifier)
    assert "identity_provider" not in jwt_claims(tokens["id_token"])
    assert "identity_provider" not in jwt_claims(tokens["access_token"])


def test_a_note_mapper_added_through_the_admin_api_maps_its_note(
    kc_base_url: str, kc_admin: AdminApi, kc_realm: str
) -> None:
    scopes = kc_admin.get(f"/{kc_realm}/client-scopes").json()
    profile = next(s for s in scopes if s["name"] == "profile")
    body = {
        "name": "idp user",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-usersessionmodel-note-mapper",
        "config": {
            "user.session.note": "identity_provider_identity",
            "claim.name": "idp_user",
            "jsonType.label": "String",
            "id.token.claim": "true",
            "access.token.claim": "false",
        },
    }
    path = f"/{kc_realm}/client-scopes/{profile['id']}/protocol-mappers/models"
    mapper_id = kc_admin.create(path, body)
    assert kc_admin.post(path, json=body).status_code == 409  # same name again
    listed = kc_admin.get(f"{path}/{mapper_id}").json()
    assert listed["protocolMapper"] == "oidc-usersessionmodel-note-mapper"

    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        params, verifier = _brokered_login(browser, "learner@acme.example")
    finally:
        browser.close()
    tokens = _tokens(kc_base_url, kc_realm, params, verifier)
    assert jwt_claims(tokens["id_token"])["idp_user"] == "learner@acme.example"
    assert "idp_user" not in jwt_claims(tokens["access_token"])


def test_admin_added_members_are_unmanaged_idp_provisioned_ones_managed(
    kc_base_url: str, kc_admin: AdminApi, kc_realm: str
) -> None:
    acme = _acme(kc_admin, kc_realm)
    members = f"/{kc_realm}/organizations/{acme['id']}/members"
    user_id = kc_admin.create(
        f"/{kc_realm}/users",
        {"username": "pushed@gmail.example", "email": "pushed@gmail.example", "enabled": True},
    )
    assert kc_admin.post(members, json=user_id).status_code == 201
    assert kc_admin.get(f"{members}/{user_id}").json()["membershipType"] == "UNMANAGED"

    browser = Browser(kc_base_url, realm=kc_realm)
    try:
        _brokered_login(browser, "hired@acme.example")  # unknown: provisioned by the IdP
    finally:
        browser.close()
    by_email = {m["email"]: m["membershipType"] for m in kc_admin.get(members).json()}
    assert by_email["hired@acme.example"] == "MANAGED"
    assert by_email["pushed@gmail.example"] == "UNMANAGED"
    assert by_email["learner@acme.example"] == "UNMANAGED"  # seeded by hand, still so
    linked = kc_admin.get(f"/{kc_realm}/organizations/{acme['id']}/identity-providers").json()
    assert [i["alias"] for i in linked] == ["acme-idp"]
