"""The organizations admin API (§6.1-§6.7): statuses, bodies, paging, members, links."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from emulators.keycloak import create_app
from tests.support.live_server import live_server

from .helpers import AdminApi, client_token, password_token

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def kc_orgs(kc_admin: AdminApi, kc_realm: str) -> dict[str, str]:
    return {o["alias"]: o["id"] for o in kc_admin.get(f"/{kc_realm}/organizations").json()}


def _user_id(admin: AdminApi, realm: str, email: str) -> str:
    return admin.get(f"/{realm}/users", params={"email": email, "exact": "true"}).json()[0]["id"]


def test_create_get_replace_delete(kc_admin: AdminApi, kc_realm: str) -> None:
    base = f"/{kc_realm}/organizations"
    created = kc_admin.post(
        base,
        json={
            "id": "ignored",
            "name": "Umbrella",
            "alias": "umbrella",
            "domains": [{"name": "Umbrella.example"}],
            "attributes": {"k": ["v"]},
        },
    )
    assert created.status_code == 201
    assert created.content == b"" and "Content-Type" not in created.headers
    assert created.headers["Content-Length"] == "0"
    org_id = created.headers["Location"].rsplit("/", 1)[-1]
    assert created.headers["Location"].endswith(f"/admin/realms/{kc_realm}/organizations/{org_id}")
    assert org_id != "ignored"
    full = kc_admin.get(f"{base}/{org_id}")
    assert full.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert full.json() == {
        "id": org_id,
        "name": "Umbrella",
        "alias": "umbrella",
        "enabled": True,
        "attributes": {"k": ["v"]},
        "domains": [{"name": "umbrella.example", "verified": False}],
    }
    # PUT replaces: omitted domains and description are cleared, omitted attributes kept
    put = kc_admin.put(
        f"{base}/{org_id}", json={"name": "Umbrella Corp", "alias": "umbrella", "description": "d"}
    )
    assert put.status_code == 204
    assert kc_admin.get(f"{base}/{org_id}").json() == {
        "id": org_id,
        "name": "Umbrella Corp",
        "alias": "umbrella",
        "enabled": True,
        "description": "d",
        "attributes": {"k": ["v"]},
    }
    no_alias = kc_admin.put(f"{base}/{org_id}", json={"name": "Umbrella Corp"})
    assert no_alias.status_code == 400
    assert no_alias.json() == {"errorMessage": "Cannot change the alias"}
    cleared = kc_admin.put(
        f"{base}/{org_id}", json={"name": "Umbrella Corp", "alias": "umbrella", "attributes": {}}
    )
    assert cleared.status_code == 204
    assert kc_admin.get(f"{base}/{org_id}").json()["attributes"] == {}
    assert kc_admin.delete(f"{base}/{org_id}").status_code == 204
    gone = kc_admin.get(f"{base}/{org_id}")
    assert gone.status_code == 404
    assert gone.json() == {"errorMessage": "Organization not found."}
    assert kc_admin.delete(f"{base}/{org_id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (None, 400, "Organization cannot be null."),
        ({}, 400, "Name can not be null"),
        ({"name": ""}, 400, "Name can not be null"),
        (
            {"name": "Acme Corporation", "alias": "acme2"},
            409,
            "A organization with the same name already exists.",
        ),
        (
            {"name": "Other", "alias": "acme"},
            409,
            "A organization with the same alias already exists",
        ),
        ({"name": "Two Words"}, 400, "Name cannot be used as alias: Empty Space not allowed."),
        ({"name": "a/b"}, 400, "Name cannot be used as alias: Character '/' not allowed."),
        ({"name": "Dup", "domains": [{"name": "acme.example"}]}, 400, None),
        (
            {"name": "Bad", "domains": [{"name": "not a domain"}]},
            400,
            "The specified domain is invalid: not a domain",
        ),
        ({"name": "Bad", "redirectUrl": "not-a-url"}, 400, None),
    ],
)
def test_create_errors(
    kc_admin: AdminApi, kc_realm: str, body: object, status: int, message: str | None
) -> None:
    kwargs = {"json": body} if body is not None else {"headers": JSON}
    response = kc_admin.post(f"/{kc_realm}/organizations", **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    if message:
        assert response.json() == {"errorMessage": message}
    else:
        assert "errorMessage" in response.json()


def test_malformed_and_wrong_media_type(kc_admin: AdminApi, kc_realm: str) -> None:
    base = f"/{kc_realm}/organizations"
    bad_json = kc_admin.post(base, data="{nope", headers=JSON)
    assert bad_json.status_code == 400
    assert bad_json.json() == {
        "error": "invalid_request",
        "error_description": "Cannot parse the JSON",
    }
    text = kc_admin.post(base, data="x", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    assert text.json() == {
        "error": "The content-type header value did not match the value in @Consumes"
    }
    unknown_field = kc_admin.post(base, json={"name": "X", "colour": "red"})
    assert (
        unknown_field.status_code == 400 and "Unrecognized field" in unknown_field.json()["error"]
    )
    method = kc_admin.put(base, json={})
    assert method.status_code == 405
    assert method.json() == {"error": "HTTP 405 Method Not Allowed"}


def test_paging_and_search(kc_admin: AdminApi, kc_realm: str) -> None:
    base = f"/{kc_realm}/organizations"
    for i in range(12):
        kc_admin.create(base, {"name": f"org-{i:02d}", "domains": [{"name": f"d{i}.example"}]})
    everything = kc_admin.get(base, params={"max": -1}).json()
    names = [o["name"] for o in everything]
    assert names == sorted(names) and len(names) == 15
    assert names[:3] == ["Acme Corporation", "Globex University", "Initech"]
    assert len(kc_admin.get(base).json()) == 10
    assert [o["name"] for o in kc_admin.get(base, params={"first": 10, "max": 3}).json()] == names[
        10:13
    ]
    assert kc_admin.get(base, params={"first": -5, "max": 2}).json() == everything[:2]
    assert kc_admin.get(base, params={"max": 0}).json() == []
    assert kc_admin.get(base, params={"max": "ten"}).status_code == 404
    assert kc_admin.get(f"{base}/count").json() == 15
    by_alias = kc_admin.get(base, params={"q": "alias:globex"}).json()
    assert [o["alias"] for o in by_alias] == ["globex"]
    assert "attributes" not in by_alias[0]
    by_attribute = kc_admin.get(base, params={"q": "segment:enterprise"}).json()
    assert [o["alias"] for o in by_attribute] == ["acme"]
    assert [o["alias"] for o in kc_admin.get(base, params={"search": "GLOBEX"}).json()] == [
        "globex"
    ]
    assert [o["name"] for o in kc_admin.get(base, params={"search": "d1"}).json()][:2] == [
        "org-01",
        "org-10",
    ]
    assert kc_admin.get(base, params={"search": "org-0", "exact": "true"}).json() == []
    assert kc_admin.get(f"{base}/count", params={"search": "org-"}).json() == 12
    full = kc_admin.get(base, params={"briefRepresentation": "false", "q": "alias:acme"}).json()[0]
    assert full["attributes"] == {"segment": ["enterprise"]}


def test_members(kc_admin: AdminApi, kc_realm: str, kc_orgs: dict[str, str]) -> None:
    base = f"/{kc_realm}/organizations/{kc_orgs['globex']}/members"
    alan = _user_id(kc_admin, kc_realm, "learner@globex.example")
    added = kc_admin.post(base, data=alan, headers=JSON)
    assert added.status_code == 201 and added.content == b""
    assert added.headers["Location"].endswith(f"/members/{alan}")
    again = kc_admin.post(base, data=f'"{alan}"', headers=JSON)
    assert again.status_code == 409
    assert again.json() == {"errorMessage": "User is already a member of the organization."}
    edsger = _user_id(kc_admin, kc_realm, "newcomer@example.com")
    quoted = kc_admin.post(base, data=f'  "{edsger}"\n', headers=JSON)
    assert quoted.status_code == 201
    for bad in (json.dumps({"id": edsger}), "newcomer@example.com", f"'{edsger}'"):
        missing = kc_admin.post(base, data=bad, headers=JSON)
        assert missing.status_code == 404, bad
        assert missing.json() == {"error": "HTTP 404 Not Found"}
    listed = kc_admin.get(base).json()
    assert [m["username"] for m in listed] == [
        "learner@globex.example",
        "member@globex.example",
        "newcomer@example.com",
    ]
    assert listed[0]["membershipType"] == "UNMANAGED"
    assert "access" not in listed[0] and "totp" not in listed[0]
    assert kc_admin.get(f"{base}/count", params={"search": "nobody"}).json() == 3
    assert [m["username"] for m in kc_admin.get(base, params={"search": "turing"}).json()] == [
        "learner@globex.example"
    ]
    assert len(kc_admin.get(base, params={"first": 1, "max": 1}).json()) == 1
    member = kc_admin.get(f"{base}/{alan}").json()
    assert (
        member["id"] == alan and member["totp"] is False and member["membershipType"] == "UNMANAGED"
    )
    orgs_of = kc_admin.get(f"{base}/{alan}/organizations").json()
    top_level = kc_admin.get(f"/{kc_realm}/organizations/members/{alan}/organizations").json()
    assert [o["alias"] for o in orgs_of] == [o["alias"] for o in top_level] == ["globex"]
    assert kc_admin.delete(f"{base}/{alan}").status_code == 204
    assert kc_admin.get(f"{base}/{alan}").json() == {"error": "HTTP 404 Not Found"}
    assert kc_admin.delete(f"{base}/{alan}").status_code == 404
    assert kc_admin.get(f"/{kc_realm}/organizations/members/{alan}/organizations").json() == []
    assert (
        kc_admin.get(f"/{kc_realm}/organizations/members/nobody/organizations").status_code == 404
    )
    assert kc_admin.get(f"/{kc_realm}/users/{alan}").status_code == 200  # unmanaged user kept


def test_identity_provider_links(
    kc_admin: AdminApi, kc_realm: str, kc_orgs: dict[str, str]
) -> None:
    created = kc_admin.post(
        f"/{kc_realm}/identity-provider/instances",
        json={"providerId": "github", "alias": "github", "config": {"clientId": "x"}},
    )
    assert created.status_code == 201
    dup = kc_admin.post(
        f"/{kc_realm}/identity-provider/instances", json={"providerId": "github", "alias": "github"}
    )
    assert dup.status_code == 409
    base = f"/{kc_realm}/organizations/{kc_orgs['globex']}/identity-providers"
    linked = kc_admin.post(base, data='"github"', headers=JSON)
    assert linked.status_code == 204 and "Location" not in linked.headers
    assert kc_admin.post(base, data="github", headers=JSON).status_code == 409
    other = kc_admin.post(
        f"/{kc_realm}/organizations/{kc_orgs['initech']}/identity-providers",
        data="github",
        headers=JSON,
    )
    assert other.status_code == 400
    unknown = kc_admin.post(base, data="nope", headers=JSON)
    assert unknown.json() == {"errorMessage": "Identity provider not found with the given alias"}
    assert [i["alias"] for i in kc_admin.get(base).json()] == ["github"]
    assert kc_admin.get(f"{base}/github").json()["organizationId"] == kc_orgs["globex"]
    assert kc_admin.delete(f"{base}/github").status_code == 204
    assert kc_admin.get(f"{base}/github").status_code == 404
    assert kc_admin.get(base).json() == []


def test_invitations(kc_admin: AdminApi, kc_realm: str, kc_orgs: dict[str, str]) -> None:
    base = f"/{kc_realm}/organizations/{kc_orgs['globex']}/members"
    edsger = _user_id(kc_admin, kc_realm, "newcomer@example.com")
    ok = kc_admin.post(f"{base}/invite-existing-user", data={"id": edsger})
    assert ok.status_code == 204
    assert kc_admin.post(f"{base}/invite-existing-user", data={}).json() == {
        "error": "To invite a member you need to provide the user id"
    }
    assert kc_admin.post(f"{base}/invite-existing-user", data={"id": "nobody"}).json() == {
        "errorMessage": "User does not exist"
    }
    assert kc_admin.post(f"{base}/invite-existing-user", json={"id": edsger}).status_code == 415
    member = _user_id(kc_admin, kc_realm, "member@globex.example")
    assert kc_admin.post(f"{base}/invite-existing-user", data={"id": member}).status_code == 409
    assert kc_admin.post(f"{base}/invite-user", data={"email": "x@y.example"}).status_code == 204
    assert kc_admin.post(f"{base}/invite-user", data={}).json() == {
        "errorMessage": "Email is required to invite a member"
    }
    invitations = kc_admin.get(f"/{kc_realm}/organizations/{kc_orgs['globex']}/invitations").json()
    assert sorted(i["email"] for i in invitations) == ["newcomer@example.com", "x@y.example"]
    assert all(i["status"] == "PENDING" for i in invitations)


def test_auth_order_401_403_404(kc_base_url: str, kc_admin: AdminApi, kc_realm: str) -> None:
    url = f"{kc_base_url}/admin/realms/{kc_realm}/organizations"
    unauthenticated = requests.get(url, timeout=10)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json() == {"error": "HTTP 401 Unauthorized"}
    garbage = requests.get(url, headers={"Authorization": "Bearer x.y.z"}, timeout=10)
    assert garbage.status_code == 401
    unknown_realm = requests.get(f"{kc_base_url}/admin/realms/nope/organizations", timeout=10)
    assert unknown_realm.status_code == 404 and unknown_realm.json() == {
        "error": "Realm not found."
    }

    # a service account without admin roles: 403, even for an organization that does not exist
    client_id = kc_admin.create(
        f"/{kc_realm}/clients",
        {"clientId": "weak", "secret": "weak-secret", "serviceAccountsEnabled": True},
    )
    token = client_token(kc_base_url, kc_realm, "weak", "weak-secret")
    weak = AdminApi(kc_base_url, token)
    assert weak.get(f"/{kc_realm}/organizations").status_code == 403
    missing = weak.get(f"/{kc_realm}/organizations/does-not-exist")
    assert missing.status_code == 403 and missing.json() == {"error": "HTTP 403 Forbidden"}

    # grant view-organizations + query-users (26.7 mode): reads work, writes do not
    sa = kc_admin.get(f"/{kc_realm}/clients/{client_id}/service-account-user").json()
    management = kc_admin.get(
        f"/{kc_realm}/clients", params={"clientId": "realm-management"}
    ).json()[0]
    roles = kc_admin.get(f"/{kc_realm}/clients/{management['id']}/roles").json()
    wanted = [r for r in roles if r["name"] in ("view-organizations", "view-users")]
    assert (
        kc_admin.post(
            f"/{kc_realm}/users/{sa['id']}/role-mappings/clients/{management['id']}", json=wanted
        ).status_code
        == 204
    )
    assert weak.get(f"/{kc_realm}/organizations").status_code == 403  # old token, old roles
    token = client_token(kc_base_url, kc_realm, "weak", "weak-secret")
    reader = AdminApi(kc_base_url, token)
    orgs = reader.get(f"/{kc_realm}/organizations").json()
    assert len(orgs) == 3
    assert reader.get(f"/{kc_realm}/organizations/{orgs[0]['id']}/members").status_code == 200
    assert reader.post(f"/{kc_realm}/organizations", json={"name": "x"}).status_code == 403


def test_organizations_not_enabled(kc_admin: AdminApi) -> None:
    assert kc_admin.post("", json={"realm": "flag-off", "enabled": True}).status_code == 201
    try:
        response = kc_admin.get("/flag-off/organizations")
        assert response.status_code == 404
        assert response.json() == {"errorMessage": "Organizations not enabled for this realm."}
        assert kc_admin.put("/flag-off", json={"organizationsEnabled": True}).status_code == 204
        assert kc_admin.get("/flag-off/organizations").json() == []
    finally:
        kc_admin.delete("/flag-off")


@pytest.fixture(scope="module")
def kc_base_url_26_6() -> Iterator[str]:
    with live_server(create_app({"KEYCLOAK_EMULATOR_MODE": "26.6"})) as base_url:
        yield base_url


def test_26_6_mode_member_add_and_roles(kc_base_url_26_6: str) -> None:
    token = password_token(kc_base_url_26_6, "master", "admin", "admin").json()["access_token"]
    admin = AdminApi(kc_base_url_26_6, token)
    globex = admin.get("/b2b-demo/organizations", params={"q": "alias:globex"}).json()[0]
    response = admin.post(
        f"/b2b-demo/organizations/{globex['id']}/members", data="nobody", headers=JSON
    )
    assert response.status_code == 400
    assert response.json() == {"errorMessage": "User does not exist"}
    dup_domain = admin.post(
        "/b2b-demo/organizations", json={"name": "D", "domains": [{"name": "acme.example"}]}
    )
    assert dup_domain.json() == {
        "errorMessage": "Domain acme.example is already linked to another organization in realm b2b-demo"
    }
    # the demo service account (manage-realm, manage-users, view-users) works in both modes
    sa = client_token(kc_base_url_26_6, "b2b-demo", "b2b-portal", "demo-portal-secret")
    portal = AdminApi(kc_base_url_26_6, sa)
    assert portal.get(f"/b2b-demo/organizations/{globex['id']}/members").status_code == 200
