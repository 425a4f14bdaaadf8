"""create_app configuration: realm files, bootstrap admin, issuer override, version mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.keycloak import create_app
from emulators.keycloak.seed import ImportProblem


def _token(client, realm: str, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/realms/{realm}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": username,
            "password": password,
        },
    )


def test_issuer_base_override_and_bootstrap_admin(tmp_path: Path) -> None:
    realms = tmp_path / "realms.json"
    realms.write_text(
        json.dumps([{"realm": "one"}, {"realm": "two", "organizationsEnabled": True}])
    )
    app = create_app(
        {
            "KEYCLOAK_EMULATOR_REALMS": str(realms),
            "KEYCLOAK_EMULATOR_ISSUER_BASE": "https://sso.example.test/",
            "KC_BOOTSTRAP_ADMIN_USERNAME": "Root",
            "KC_BOOTSTRAP_ADMIN_PASSWORD": "s3cret",
        }
    )
    client = app.test_client()
    doc = client.get("/realms/two/.well-known/openid-configuration").get_json()
    assert doc["issuer"] == "https://sso.example.test/realms/two"
    assert doc["token_endpoint"].startswith("https://sso.example.test/realms/two/")
    assert client.get("/realms/b2b-demo/.well-known/openid-configuration").status_code == 404
    assert _token(client, "master", "admin", "admin").status_code == 401
    token = _token(client, "master", "root", "s3cret")
    assert token.status_code == 200
    realms_list = client.get(
        "/admin/realms", headers={"Authorization": f"Bearer {token.get_json()['access_token']}"}
    ).get_json()
    assert [r["realm"] for r in realms_list] == ["master", "one", "two"]


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    realms = tmp_path / "realm.json"
    realms.write_text(json.dumps({"realm": "from-env"}))
    monkeypatch.setenv("KEYCLOAK_EMULATOR_REALMS", str(realms))
    monkeypatch.setenv("KC_BOOTSTRAP_ADMIN_PASSWORD", "env-pass")
    client = create_app().test_client()
    assert client.get("/realms/from-env").status_code == 200
    assert _token(client, "master", "admin", "env-pass").status_code == 200


def test_bad_settings_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KEYCLOAK_EMULATOR_MODE"):
        create_app({"KEYCLOAK_EMULATOR_MODE": "25"})
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps({"realm": "x", "users": [{"username": "a", "realmRoles": "nope"}]})
    )
    with pytest.raises(ImportProblem, match="realmRoles"):
        create_app({"KEYCLOAK_EMULATOR_REALMS": str(broken)})
    master = tmp_path / "master.json"
    master.write_text(json.dumps({"realm": "master"}))
    with pytest.raises(ImportProblem, match="master"):
        create_app({"KEYCLOAK_EMULATOR_REALMS": str(master)})


def test_demo_realm_is_the_default() -> None:
    client = create_app({"KEYCLOAK_EMULATOR_REALMS": None}).test_client()
    assert client.get("/realms/b2b-demo").status_code == 404
    client = create_app().test_client()
    assert client.get("/realms/b2b-demo").get_json()["realm"] == "b2b-demo"
