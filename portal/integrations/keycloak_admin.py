"""The Keycloak Admin REST API, as the portal uses it (keycloak.md sections 1.8-1.13 and 6).

Built on python-keycloak's ``KeycloakAdmin`` with a service-account client (client credentials; the
library caches the token and renews it before ``expires_in``). Calls whose exact wire form matters go
through its raw methods: members are added with a quoted JSON string body, lists are paged explicitly
with ``first``/``max``, and status codes (never message texts) decide what happened. Every failure is
a ``KeycloakAdminError`` that says whether retrying can help.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from flask import current_app
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError
from requests import Response

log = logging.getLogger(__name__)
PAGE_SIZE = 100
_lock = threading.Lock()


class KeycloakAdminError(Exception):
    """A failed admin call. ``status`` is None for network errors and timeouts."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body[:2000]

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


class KeycloakAdminClient:
    def __init__(self, server_url: str, realm: str, client_id: str, secret: str, timeout: float):
        self.realm = realm
        self._admin = KeycloakAdmin(
            server_url=server_url.rstrip("/") + "/",
            realm_name=realm,
            client_id=client_id,
            client_secret_key=secret,
            timeout=max(1, int(timeout)),
            max_retries=0,  # jobs retry, after checking what is already done
        )

    # -- transport --------------------------------------------------------------------------

    def _path(self, suffix: str) -> str:
        return f"admin/realms/{_quote(self.realm)}/{suffix.lstrip('/')}"

    def _send(self, method: str, path: str, data: Any, params: dict[str, Any]) -> Response:
        connection = self._admin.connection
        try:
            if method == "GET":
                response: Response = connection.raw_get(path, **params)
            elif method == "POST":
                response = connection.raw_post(path, data=data, **params)
            elif method == "PUT":
                response = connection.raw_put(path, data=data, **params)
            else:
                response = connection.raw_delete(path, **params)
        except KeycloakError as exc:
            status = getattr(exc, "response_code", None)
            log.warning("keycloak %s %s failed: %s", method, path, exc)
            cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
            raise KeycloakAdminError(
                f"Keycloak {method} {path}: {exc}{cause}", status=status
            ) from exc
        return response

    def _call(self, method: str, suffix: str, *, data: Any = None, **params: Any) -> Response:
        path = self._path(suffix)
        response = self._send(method, path, data, params)
        if response.status_code == 401:
            # The cached token was revoked or expired early: renew once and retry.
            try:
                self._admin.connection.get_token()
            except KeycloakError as exc:
                raise KeycloakAdminError(
                    f"Keycloak refused the service account: {exc}",
                    status=getattr(exc, "response_code", None),
                ) from exc
            response = self._send(method, path, data, params)
        return response

    @staticmethod
    def _fail(response: Response, what: str) -> KeycloakAdminError:
        body = response.text or ""
        log.warning("keycloak %s: HTTP %s %s", what, response.status_code, body[:300])
        return KeycloakAdminError(
            f"Keycloak refused to {what}: HTTP {response.status_code} {body[:300]}".strip(),
            status=response.status_code,
            body=body,
        )

    @staticmethod
    def _json(response: Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise KeycloakAdminError(
                f"Keycloak sent an unreadable answer to {what}", status=response.status_code
            ) from exc

    # -- organizations ----------------------------------------------------------------------

    def iter_organizations(self) -> Iterator[dict[str, Any]]:
        """Every organization, paged explicitly (the server's default page is only 10)."""
        first = 0
        while True:
            response = self._call(
                "GET", "organizations", first=first, max=PAGE_SIZE, briefRepresentation="false"
            )
            if response.status_code != 200:
                raise self._fail(response, "list organizations")
            page = self._json(response, "list organizations")
            if not isinstance(page, list):
                raise KeycloakAdminError("Keycloak's organization list is not a list")
            yield from (org for org in page if isinstance(org, dict))
            if len(page) < PAGE_SIZE:
                return
            first += PAGE_SIZE

    def get_organization(self, org_id: str) -> dict[str, Any] | None:
        response = self._call("GET", f"organizations/{_quote(org_id)}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, "read an organization")
        org = self._json(response, "read an organization")
        return org if isinstance(org, dict) else None

    def find_organization_by_alias(self, alias: str) -> dict[str, Any] | None:
        response = self._call("GET", "organizations", q=f"alias:{alias}", first=0, max=2)
        if response.status_code != 200:
            raise self._fail(response, "search organizations")
        found = self._json(response, "search organizations")
        matches = [o for o in found if isinstance(o, dict) and o.get("alias") == alias]
        return matches[0] if matches else None

    def create_organization(self, name: str, alias: str, description: str = "") -> str:
        body = {"name": name, "alias": alias, "description": description, "enabled": True}
        response = self._call("POST", "organizations", data=json.dumps(body))
        if response.status_code != 201:
            raise self._fail(response, f"create organization {alias!r}")
        location = response.headers.get("Location", "")
        org_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not org_id:
            raise KeycloakAdminError("Keycloak created the organization but sent no Location")
        return org_id

    def organization_identity_providers(self, org_id: str) -> list[str]:
        """The aliases of the identity providers linked to an organization (keycloak.md section
        9); an organization Keycloak no longer has links none."""
        response = self._call("GET", f"organizations/{_quote(org_id)}/identity-providers")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise self._fail(response, "list an organization's identity providers")
        idps = self._json(response, "list an organization's identity providers")
        if not isinstance(idps, list):
            raise KeycloakAdminError("Keycloak's identity provider list is not a list")
        return sorted(
            {
                str(i["alias"])
                for i in idps
                if isinstance(i, dict) and isinstance(i.get("alias"), str)
            }
        )

    def iter_members(self, org_id: str) -> Iterator[dict[str, Any]]:
        """Every member of an organization with its ``membershipType`` (MANAGED: provisioned by
        the organization's identity provider; UNMANAGED: added by an admin, an invitation or the
        admin API), paged explicitly."""
        first = 0
        while True:
            response = self._call(
                "GET", f"organizations/{_quote(org_id)}/members", first=first, max=PAGE_SIZE
            )
            if response.status_code != 200:
                raise self._fail(response, "list an organization's members")
            page = self._json(response, "list an organization's members")
            if not isinstance(page, list):
                raise KeycloakAdminError("Keycloak's member list is not a list")
            yield from (member for member in page if isinstance(member, dict))
            if len(page) < PAGE_SIZE:
                return
            first += PAGE_SIZE

    # -- users and members ------------------------------------------------------------------

    def find_user_by_email(self, email: str) -> dict[str, Any] | None:
        response = self._call("GET", "users", email=email.lower(), exact="true")
        if response.status_code != 200:
            raise self._fail(response, "search users")
        users = self._json(response, "search users")
        return next((u for u in users if isinstance(u, dict)), None)

    def user_exists(self, user_id: str) -> bool:
        response = self._call("GET", f"users/{_quote(user_id)}")
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._fail(response, "read a user")
        return True

    def create_user(self, email: str, first_name: str = "", last_name: str = "") -> str:
        body = {
            "username": email.lower(),
            "email": email.lower(),
            "firstName": first_name,
            "lastName": last_name,
            "enabled": True,
        }
        response = self._call("POST", "users", data=json.dumps(body))
        if response.status_code == 409:
            existing = self.find_user_by_email(email)
            if existing and existing.get("id"):
                return str(existing["id"])
        if response.status_code != 201:
            raise self._fail(response, f"create user {email}")
        return response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]

    def add_member(self, org_id: str, user_id: str) -> bool:
        """Add a user to an organization. True if added, False if already a member (409)."""
        response = self._call(
            "POST", f"organizations/{_quote(org_id)}/members", data=json.dumps(user_id)
        )
        if response.status_code == 201:
            return True
        if response.status_code == 409:
            return False
        raise self._fail(response, "add a member")

    def user_organizations(self, user_id: str) -> list[dict[str, Any]]:
        response = self._call("GET", f"organizations/members/{_quote(user_id)}/organizations")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise self._fail(response, "list a user's organizations")
        orgs = self._json(response, "list a user's organizations")
        return [o for o in orgs if isinstance(o, dict)] if isinstance(orgs, list) else []

    def get_member(self, org_id: str, user_id: str) -> dict[str, Any] | None:
        """The member record (with ``membershipType``), or None if the user is not a member."""
        response = self._call("GET", f"organizations/{_quote(org_id)}/members/{_quote(user_id)}")
        if response.status_code in (400, 404):
            return None
        if response.status_code != 200:
            raise self._fail(response, "read a member")
        member = self._json(response, "read a member")
        return member if isinstance(member, dict) else None

    def remove_member(self, org_id: str, user_id: str) -> bool:
        """Take a user out of an organization. True if removed, False if not a member (404);
        both mean done (keycloak.md 1.12)."""
        response = self._call("DELETE", f"organizations/{_quote(org_id)}/members/{_quote(user_id)}")
        if response.status_code == 204:
            return True
        if response.status_code == 404:
            return False
        raise self._fail(response, "remove a member")


def admin_client() -> KeycloakAdminClient:
    """The app's admin client (one per app: its token is cached between calls)."""
    ext = current_app.extensions
    with _lock:
        if "portal_keycloak_admin" not in ext:
            s = current_app.config["PORTAL"]
            ext["portal_keycloak_admin"] = KeycloakAdminClient(
                s.keycloak_server_url,
                s.keycloak_realm,
                s.keycloak_client_id,
                s.keycloak_client_secret,
                s.http_timeout_seconds,
            )
        client: KeycloakAdminClient = ext["portal_keycloak_admin"]
        return client
