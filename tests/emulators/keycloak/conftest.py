"""Fixtures for the Keycloak emulator tests: one emulator over real HTTP, fresh realms per test."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from emulators.keycloak import create_app
from tests.support.live_server import live_server

from .helpers import AdminApi, Browser, password_token

DEMO_FILE = Path(__file__).parents[3] / "emulators" / "keycloak" / "realms" / "demo-realm.json"


@pytest.fixture(scope="session")
def kc_app() -> Flask:
    return create_app(
        {"KC_BOOTSTRAP_ADMIN_USERNAME": "admin", "KC_BOOTSTRAP_ADMIN_PASSWORD": "admin"}
    )


@pytest.fixture(scope="session")
def kc_base_url(kc_app: Flask) -> Iterator[str]:
    with live_server(kc_app) as base_url:
        yield base_url


@pytest.fixture
def kc_admin(kc_base_url: str) -> AdminApi:
    """The master realm's bootstrap admin (may do everything everywhere)."""
    response = password_token(kc_base_url, "master", "admin", "admin")
    assert response.status_code == 200, response.text
    return AdminApi(kc_base_url, response.json()["access_token"])


@pytest.fixture(scope="session")
def kc_demo_realm_rep() -> dict[str, Any]:
    return json.loads(DEMO_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def kc_realm(kc_admin: AdminApi, kc_demo_realm_rep: dict[str, Any]) -> Iterator[str]:
    """A private copy of the demo realm (new ids), imported through ``POST /admin/realms``."""
    rep = copy.deepcopy(kc_demo_realm_rep)
    name = f"test-{uuid.uuid4().hex[:10]}"
    rep["realm"] = name
    rep.pop("id")
    mapping = {org["id"]: str(uuid.uuid4()) for org in rep["organizations"]}
    for org in rep["organizations"]:
        org["id"] = mapping[org["id"]]
    for user in rep["users"]:
        user.pop("id", None)
    for client in rep["clients"]:
        client.pop("id", None)
    response = kc_admin.post("", json=rep)
    assert response.status_code == 201, response.text
    yield name
    fresh = password_token(kc_admin.base_url, "master", "admin", "admin").json()["access_token"]
    AdminApi(kc_admin.base_url, fresh).delete(f"/{name}")


@pytest.fixture
def kc_browser(kc_base_url: str) -> Iterator[Browser]:
    browser = Browser(kc_base_url)
    yield browser
    browser.close()
