"""Fixtures for the Open edX emulator tests: one live emulator per session, reset before each test.

Every fixture is prefixed ``edx_`` so it never clashes with the portal's fixtures.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from emulators.openedx import create_app, emulator
from tests.support.live_server import live_server

CLIENT_ID = "b2b-portal"
CLIENT_SECRET = "demo-edx-secret"
SERVICE_USER = "svc_b2b_portal"
SOURCE_RUN = "course-v1:B2B_SOURCE+DS.101x+SOURCE"
PUBLIC_RUN = "course-v1:OpenU+CS.50x+2026_Fall"
PASSWORD = "learner-pass-123"


@dataclass
class EdxEmulator:
    """A running emulator: its app, base URL and HTTP helpers for tests."""

    app: Flask
    url: str

    def session(self, token: str | None = None, scheme: str = "Bearer") -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # loopback only; never a proxy
        if token:
            s.headers["Authorization"] = f"{scheme} {token}"
        return s

    def token(self, token_type: str | None = None, **form: str) -> dict[str, Any]:
        data = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            **form,
        }
        if token_type:
            data["token_type"] = token_type
        response = self.session().post(f"{self.url}/oauth2/access_token", data=data, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def fault(self, **spec: Any) -> requests.Response:
        response = self.session().post(f"{self.url}/__emulator__/faults", json=spec, timeout=10)
        assert response.status_code == 201, response.text
        return response

    def state(self) -> Any:
        with self.app.app_context():
            return emulator()


@pytest.fixture(scope="session")
def edx_live() -> Iterator[EdxEmulator]:
    app = create_app(
        {
            "OPENEDX_EMULATOR_DB": "",
            "OPENEDX_EMULATOR_FAULTS": "",
            "OPENEDX_EMULATOR_THROTTLE": "",
            "OPENEDX_EMULATOR_CLIENT_ID": CLIENT_ID,
            "OPENEDX_EMULATOR_CLIENT_SECRET": CLIENT_SECRET,
            "OPENEDX_EMULATOR_SERVICE_USERNAME": SERVICE_USER,
        }
    )
    with live_server(app) as url:
        yield EdxEmulator(app, url)


@pytest.fixture
def edx_server(edx_live: EdxEmulator) -> EdxEmulator:
    """The live emulator, reset to the demo seed with no faults."""
    with edx_live.app.app_context():
        emulator().reset()
    return edx_live


@pytest.fixture
def edx_jwt(edx_server: EdxEmulator) -> str:
    """The service client's JWT (Studio credential)."""
    return str(edx_server.token("jwt")["access_token"])


@pytest.fixture
def edx_bearer(edx_server: EdxEmulator) -> str:
    """The service client's opaque Bearer token (LMS credential)."""
    return str(edx_server.token()["access_token"])


@pytest.fixture
def edx_studio(edx_server: EdxEmulator, edx_jwt: str) -> requests.Session:
    """A session sending ``JWT <token>`` as the service user (global staff)."""
    return edx_server.session(edx_jwt, "JWT")


@pytest.fixture
def edx_lms(edx_server: EdxEmulator, edx_bearer: str) -> requests.Session:
    """A session sending ``Bearer <token>`` as the service user (global staff)."""
    return edx_server.session(edx_bearer)


@pytest.fixture
def edx_register(edx_server: EdxEmulator) -> Callable[..., str]:
    """Register a learner through the registration form; returns the username."""

    def register(username: str | None = None, email: str | None = None) -> str:
        username = username or f"learner_{uuid.uuid4().hex[:8]}"
        response = edx_server.session().post(
            f"{edx_server.url}/user_api/v1/account/registration/",
            data={
                "username": username,
                "email": email or f"{username}@example.com",
                "name": f"Learner {username}",
                "password": PASSWORD,
                "honor_code": "true",
                "terms_of_service": "true",
                "country": "US",
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return username

    return register


@pytest.fixture
def edx_learner_token(edx_server: EdxEmulator) -> Callable[[str], str]:
    """An opaque token for a registered learner (password grant of the public client)."""

    def login(username: str) -> str:
        response = edx_server.session().post(
            f"{edx_server.url}/oauth2/access_token",
            data={
                "grant_type": "password",
                "client_id": "login-service-client-id",
                "username": username,
                "password": PASSWORD,
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return login


@pytest.fixture
def edx_learner_session(
    edx_server: EdxEmulator, edx_learner_token: Callable[[str], str]
) -> Callable[[str], requests.Session]:
    """A Bearer session for a registered learner."""
    return lambda username: edx_server.session(edx_learner_token(username))
