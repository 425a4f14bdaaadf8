"""Bad input anywhere answers a 4xx with a Keycloak-shaped body, never a 500."""

from __future__ import annotations

import itertools
import re

import pytest
import requests
from flask import Flask

from .helpers import AdminApi

BODIES: list[tuple[str, dict[str, str]]] = [
    ("", {}),
    ("{", {"Content-Type": "application/json"}),
    ("[1, 2]", {"Content-Type": "application/json"}),
    ("123", {"Content-Type": "application/json"}),
    (
        '{"name": 5, "domains": "x", "attributes": [1], "redirectUris": {}, "realm": 7}',
        {"Content-Type": "application/json"},
    ),
    (
        '{"domains": [{"name": null}], "credentials": [5], "config": [], "alias": ["a"]}',
        {"Content-Type": "application/json"},
    ),
    ("a=b&id=&email=%ZZ", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("\xff\xfe", {"Content-Type": "text/plain"}),
]


def _paths(app: Flask, realm: str, ids: dict[str, str]) -> list[tuple[str, str]]:
    calls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.endswith("static"):
            continue
        path = rule.rule
        for name in rule.arguments:
            value = {"realm_name": realm}.get(name, ids.get(name, "does-not-exist"))
            path = re.sub(rf"<(?:[^:>]+:)?{name}>", value, path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            calls.append((method, path))
    return calls


@pytest.mark.parametrize("use_real_ids", [False, True])
def test_no_route_answers_500(
    kc_app: Flask, kc_base_url: str, kc_admin: AdminApi, kc_realm: str, use_real_ids: bool
) -> None:
    ids: dict[str, str] = {}
    if use_real_ids:
        org = kc_admin.get(f"/{kc_realm}/organizations", params={"q": "alias:globex"}).json()[0]
        user = kc_admin.get(f"/{kc_realm}/users", params={"search": "member@globex"}).json()[0]
        client = kc_admin.get(f"/{kc_realm}/clients", params={"clientId": "b2b-portal"}).json()[0]
        scope = kc_admin.get(f"/{kc_realm}/client-scopes").json()[0]
        ids = {
            "org_id": org["id"],
            "user_id": user["id"],
            "client_uuid": client["id"],
            "scope_id": scope["id"],
            "alias": "acme-idp",
            "role_name": "portal-staff",
        }
    failures = []
    queries = [""]
    if use_real_ids:
        queries += ["?first=x&max=-5&exact=maybe", "?max=0&search=%22&q=alias:&membershipType=x"]
    calls = itertools.product(_paths(kc_app, kc_realm, ids), BODIES, queries)
    for (method, path), (body, headers), query in calls:
        if method == "DELETE" and path.rstrip("/").endswith(f"/admin/realms/{kc_realm}"):
            continue  # keep the realm for the remaining calls
        response = requests.request(
            method,
            f"{kc_base_url}{path}{query}",
            data=body.encode("utf-8", errors="surrogateescape"),
            headers={"Authorization": f"Bearer {kc_admin.token}", **headers},
            timeout=10,
        )
        if response.status_code >= 500:
            failures.append(
                f"{method} {path} {body!r}: {response.status_code} {response.text[:200]}"
            )
    assert not failures, "\n".join(failures[:20])
