"""Setup routes of the admin API (§6.8, §6.10): realms, clients, users, passwords, IdPs."""

from __future__ import annotations

import requests

from .helpers import CALLBACK, AdminApi, client_token, password_token


def test_realm_lifecycle(kc_base_url: str, kc_admin: AdminApi) -> None:
    created = kc_admin.post("", json={"realm": "lifecycle", "enabled": True})
    assert created.status_code == 201
    assert created.headers["Location"] == f"{kc_base_url}/admin/realms/lifecycle"
    dup = kc_admin.post("", json={"realm": "lifecycle"})
    assert dup.status_code == 409
    assert dup.json() == {"errorMessage": "Conflict detected. See logs for details"}
    assert kc_admin.post("", json={}).json() == {"errorMessage": "Realm name cannot be empty"}
    rep = kc_admin.get("/lifecycle").json()
    assert rep["realm"] == "lifecycle" and rep["organizationsEnabled"] is False
    assert rep["accessTokenLifespan"] == 300
    assert (
        kc_admin.put(
            "/lifecycle", json={"organizationsEnabled": True, "accountTheme": "x"}
        ).status_code
        == 204
    )
    rep = kc_admin.get("/lifecycle").json()
    assert (
        rep["organizationsEnabled"] is True
        and rep["accountTheme"] == "x"
        and rep["enabled"] is True
    )
    names = [r["realm"] for r in kc_admin.get("").json()]
    assert {"master", "b2b-demo", "lifecycle"} <= set(names)
    assert kc_admin.delete("/lifecycle").status_code == 204
    assert kc_admin.get("/lifecycle").json() == {"error": "Realm not found."}
    assert kc_admin.delete("/lifecycle").status_code == 404


def test_only_master_admins_create_realms(kc_base_url: str) -> None:
    token = client_token(kc_base_url, "b2b-demo", "b2b-portal", "demo-portal-secret")
    portal = AdminApi(kc_base_url, token)
    assert portal.post("", json={"realm": "nope"}).status_code == 403
    assert portal.get("/master").status_code == 403


def test_client_with_redirect_uri_on_any_port(
    kc_base_url: str, kc_admin: AdminApi, kc_realm: str
) -> None:
    body = {
        "clientId": "portal-test",
        "secret": "test-secret",
        "redirectUris": ["http://127.0.0.1:54321/*"],
        "standardFlowEnabled": True,
        "directAccessGrantsEnabled": True,
        "attributes": {"post.logout.redirect.uris": "http://127.0.0.1:54321/*"},
    }
    created = kc_admin.post(f"/{kc_realm}/clients", json=body)
    assert created.status_code == 201
    internal_id = created.headers["Location"].rsplit("/", 1)[-1]
    dup = kc_admin.post(f"/{kc_realm}/clients", json=body)
    assert dup.status_code == 409 and dup.json() == {
        "errorMessage": "Client portal-test already exists"
    }
    listed = kc_admin.get(f"/{kc_realm}/clients", params={"clientId": "portal-test"}).json()
    assert [c["id"] for c in listed] == [internal_id]
    assert listed[0]["redirectUris"] == ["http://127.0.0.1:54321/*"]
    secret = kc_admin.get(f"/{kc_realm}/clients/{internal_id}/client-secret").json()
    assert secret == {"type": "secret", "value": "test-secret"}
    generated = kc_admin.create(f"/{kc_realm}/clients", {"clientId": "no-secret"})
    assert kc_admin.get(f"/{kc_realm}/clients/{generated}/client-secret").json()["value"]
    bad = kc_admin.post(
        f"/{kc_realm}/clients", json={"clientId": "x", "redirectUris": ["http://a b"]}
    )
    assert bad.status_code == 400
    assert kc_admin.get(f"/{kc_realm}/clients/unknown").status_code == 404


def test_users(kc_base_url: str, kc_admin: AdminApi, kc_realm: str) -> None:
    base = f"/{kc_realm}/users"
    created = kc_admin.post(
        base,
        json={
            "username": "Alice",
            "email": "Alice@Example.COM",
            "firstName": "Alice",
            "lastName": "Doe",
            "enabled": True,
            "emailVerified": True,
            "credentials": [{"type": "password", "value": "pw", "temporary": False}],
        },
    )
    assert created.status_code == 201 and created.content == b""
    user_id = created.headers["Location"].rsplit("/", 1)[-1]
    assert created.headers["Location"].endswith(f"/admin/realms/{kc_realm}/users/{user_id}")
    user = kc_admin.get(f"{base}/{user_id}").json()
    assert user["username"] == "alice" and user["email"] == "alice@example.com"
    assert user["access"]["manage"] is True and user["createdTimestamp"] > 10**12
    assert kc_admin.post(base, json={"username": "alice"}).json() == {
        "errorMessage": "User exists with same username"
    }
    assert kc_admin.post(
        base, json={"username": "alice2", "email": "alice@example.com"}
    ).json() == {"errorMessage": "User exists with same email"}
    assert kc_admin.post(base, json={"username": "bad", "email": "nope"}).status_code == 400
    assert kc_admin.post(base, json={"email": "x@example.com"}).json()["field"] == "username"
    assert (
        "Unrecognized field" in kc_admin.put(f"{base}/{user_id}", json={"wrong": 1}).json()["error"]
    )

    assert [
        u["id"]
        for u in kc_admin.get(base, params={"email": "ALICE@example.com", "exact": "true"}).json()
    ] == [user_id]
    assert kc_admin.get(base, params={"username": "alic", "exact": "true"}).json() == []
    assert len(kc_admin.get(base, params={"username": "alic"}).json()) == 1
    assert [u["username"] for u in kc_admin.get(base, params={"search": "ali"}).json()] == ["alice"]
    assert kc_admin.get(base, params={"search": "lice"}).json() == []
    assert len(kc_admin.get(base, params={"search": "*lice*"}).json()) == 1
    assert kc_admin.get(f"{base}/count").json() == 7
    assert kc_admin.get(f"{base}/count", params={"email": "globex"}).json() == 2
    assert len(kc_admin.get(base, params={"max": 2}).json()) == 2

    assert password_token(kc_base_url, kc_realm, "alice", "pw").status_code == 200
    reset = kc_admin.put(
        f"{base}/{user_id}/reset-password",
        json={"type": "password", "value": "new", "temporary": False},
    )
    assert reset.status_code == 204
    assert password_token(kc_base_url, kc_realm, "alice@example.com", "new").status_code == 200
    assert kc_admin.put(f"{base}/{user_id}", json={"firstName": "Al"}).status_code == 204
    assert kc_admin.get(f"{base}/{user_id}").json()["firstName"] == "Al"
    assert kc_admin.delete(f"{base}/{user_id}").status_code == 204
    missing = kc_admin.get(f"{base}/{user_id}")
    assert missing.status_code == 404 and missing.json() == {"error": "User not found"}


def test_identity_provider_instances(kc_admin: AdminApi, kc_realm: str) -> None:
    base = f"/{kc_realm}/identity-provider/instances"
    listed = kc_admin.get(base).json()
    assert [i["alias"] for i in listed] == ["acme-idp"]
    assert listed[0]["organizationId"]
    created = kc_admin.post(base, json={"alias": "google", "providerId": "google", "config": {}})
    assert created.status_code == 201
    assert created.headers["Location"].endswith("/identity-provider/instances/google")
    assert kc_admin.get(f"{base}/google").json()["providerId"] == "google"
    assert kc_admin.post(base, json={"alias": "x"}).status_code == 400


def test_callback_uri_port_is_part_of_the_match(
    kc_base_url: str, kc_admin: AdminApi, kc_realm: str
) -> None:
    kc_admin.create(
        f"/{kc_realm}/clients", {"clientId": "exact", "secret": "s", "redirectUris": [CALLBACK]}
    )
    url = f"{kc_base_url}/realms/{kc_realm}/protocol/openid-connect/auth"
    params = {"client_id": "exact", "response_type": "code", "scope": "openid"}
    ok = requests.get(
        url, params={**params, "redirect_uri": CALLBACK}, timeout=10, allow_redirects=False
    )
    assert ok.status_code == 200
    other = requests.get(
        url,
        params={**params, "redirect_uri": CALLBACK.replace("5000", "5001")},
        timeout=10,
        allow_redirects=False,
    )
    assert other.status_code == 400
