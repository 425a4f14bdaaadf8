"""Test helpers that drive the emulator the way a browser and an admin client would."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

PORTAL = "http://127.0.0.1:5000"
CALLBACK = f"{PORTAL}/auth/callback"
DEMO_REALM = "b2b-demo"
DEMO_CLIENT = "b2b-portal"
DEMO_SECRET = "demo-portal-secret"


def pkce_pair(method: str = "S256") -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)[:64]
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def form_action(page: str) -> str:
    match = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert match, page
    return html.unescape(match.group(1))


def callback_params(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


@dataclass
class Browser:
    """A cookie-keeping client for the login pages (redirects to the portal are not followed)."""

    base_url: str
    realm: str = DEMO_REALM
    client_id: str = DEMO_CLIENT
    redirect_uri: str = CALLBACK
    session: requests.Session = field(default_factory=requests.Session)
    page: requests.Response | None = None

    def close(self) -> None:
        self.session.close()

    def authorize(self, **params: str) -> requests.Response:
        query = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": "openid email profile",
            **params,
        }
        url = f"{self.base_url}/realms/{self.realm}/protocol/openid-connect/auth"
        self.page = self.session.get(url, params=query, allow_redirects=False)
        return self.page

    def submit(self, **fields: str) -> requests.Response:
        assert self.page is not None
        self.page = self.session.post(
            form_action(self.page.text), data=fields, allow_redirects=False
        )
        return self.page

    def follow(self) -> requests.Response:
        assert self.page is not None and self.page.status_code == 302
        self.page = self.session.get(self.page.headers["Location"], allow_redirects=False)
        return self.page

    def login(self, username: str, password: str = "demo", **params: str) -> dict[str, str]:
        """Run the whole browser login; returns the callback's query parameters."""
        page = self.authorize(**params)
        assert page.status_code == 200, page.text
        page = self.submit(username=username)
        if 'name="password"' in page.text and 'name="username"' in page.text:
            page = self.submit(username=username, password=password)
        else:
            assert page.status_code == 200, page.text
            page = self.submit(password=password)
        assert page.status_code == 302, page.text
        return callback_params(page.headers["Location"])


def exchange_code(
    base_url: str,
    code: str,
    verifier: str | None,
    *,
    realm: str = DEMO_REALM,
    client_id: str = DEMO_CLIENT,
    secret: str = DEMO_SECRET,
    redirect_uri: str = CALLBACK,
) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return requests.post(
        f"{base_url}/realms/{realm}/protocol/openid-connect/token",
        data=data,
        auth=(client_id, secret),
        timeout=10,
    )


@dataclass
class AdminApi:
    """Bearer-token calls to ``/admin/realms``."""

    base_url: str
    token: str

    def url(self, path: str) -> str:
        return f"{self.base_url}/admin/realms{path}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url(path), headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def create(self, path: str, body: Any) -> str:
        response = self.post(path, json=body)
        assert response.status_code == 201, response.text
        return response.headers["Location"].rsplit("/", 1)[-1]


def password_token(
    base_url: str, realm: str, username: str, password: str, **extra: str
) -> requests.Response:
    data = {
        "grant_type": "password",
        "client_id": "admin-cli",
        "username": username,
        "password": password,
        **extra,
    }
    return requests.post(
        f"{base_url}/realms/{realm}/protocol/openid-connect/token", data=data, timeout=10
    )


def client_token(base_url: str, realm: str, client_id: str, secret: str) -> str:
    """The access token a confidential client gets for itself (the client credentials grant)."""
    return requests.post(
        f"{base_url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    ).json()["access_token"]
