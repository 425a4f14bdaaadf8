"""Admin API authentication and Keycloak's admin roles (``realm-management``), per version mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request

from .builtins import REALM_MANAGEMENT, admin_role_names
from .http_utils import fail, fail_generic, fail_message, store
from .jwt_codec import decode_unverified
from .models import Realm
from .tokens import check_access_token

Check = Callable[[set[str]], bool]


@dataclass
class Caller:
    realm: Realm
    claims: dict[str, Any]
    superuser: bool
    can_create_realm: bool

    def roles_in(self, target: Realm) -> set[str]:
        if self.superuser:
            return set(admin_role_names(True))
        if target.id != self.realm.id:
            return set()
        access = self.claims.get("resource_access", {})
        roles = (
            access.get(REALM_MANAGEMENT, {}).get("roles", []) if isinstance(access, dict) else []
        )
        return {str(role) for role in roles}


def admin_realm(name: str) -> Realm:
    realm = store().realm(name)
    if realm is None:
        fail(404, {"error": "Realm not found."})
    return realm


def authenticate() -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        fail_generic(401)
    decoded = decode_unverified(token)
    iss = str(decoded[1].get("iss", "")) if decoded else ""
    realm = store().realm(iss.rsplit("/realms/", 1)[-1]) if "/realms/" in iss else None
    claims = check_access_token(realm, token) if realm is not None else None
    if realm is None or claims is None:
        fail_generic(401)
    realm_roles = set(claims.get("realm_access", {}).get("roles", []))
    master = realm.name == "master"
    return Caller(
        realm=realm,
        claims=claims,
        superuser=master and "admin" in realm_roles,
        can_create_realm=master and bool({"admin", "create-realm"} & realm_roles),
    )


def require(caller: Caller, target: Realm, check: Check) -> None:
    if not check(caller.roles_in(target)):
        fail_generic(403)


def admin_call(realm_name: str, check: Check) -> tuple[Realm, Caller]:
    """Keycloak's order: realm (404) → authentication (401) → authorization (403)."""
    realm = admin_realm(realm_name)
    caller = authenticate()
    require(caller, realm, check)
    return realm, caller


def organizations_call(realm_name: str, check: Check) -> Realm:
    realm, _ = admin_call(realm_name, check)
    if not realm.organizations_enabled:
        fail_message(404, "Organizations not enabled for this realm.")
    return realm


# role predicates ----------------------------------------------------------------------------


def any_admin_role(roles: set[str]) -> bool:
    return bool(roles)


def view_realm(roles: set[str]) -> bool:
    return bool({"view-realm", "manage-realm"} & roles)


def manage_realm(roles: set[str]) -> bool:
    return "manage-realm" in roles


def view_users(roles: set[str]) -> bool:
    return bool({"view-users", "manage-users"} & roles)


def query_users(roles: set[str]) -> bool:
    return "query-users" in roles or view_users(roles)


def manage_users(roles: set[str]) -> bool:
    return "manage-users" in roles


def view_clients(roles: set[str]) -> bool:
    return bool({"view-clients", "manage-clients", "query-clients"} & roles)


def manage_clients(roles: set[str]) -> bool:
    return "manage-clients" in roles


def create_clients(roles: set[str]) -> bool:
    return bool({"manage-clients", "create-client"} & roles)


def view_idps(roles: set[str]) -> bool:
    return bool({"view-identity-providers", "manage-identity-providers"} & roles) or view_realm(
        roles
    )


def manage_idps(roles: set[str]) -> bool:
    return bool({"manage-identity-providers", "manage-realm"} & roles)


def view_roles(roles: set[str]) -> bool:
    return view_realm(roles) or view_users(roles) or view_clients(roles)


def _dedicated() -> bool:
    return store().config.dedicated_org_roles


def orgs(kind: str) -> Check:
    """Organization CRUD: ``manage-realm`` (26.6 mode) or the dedicated roles (26.7 mode)."""

    def check(roles: set[str]) -> bool:
        if not _dedicated():
            return "manage-realm" in roles
        manage = bool({"manage-organizations", "manage-realm"} & roles)
        if kind == "manage":
            return manage
        view = manage or "view-organizations" in roles
        return view if kind == "read" else view or "query-organizations" in roles

    return check


def members(kind: str) -> Check:
    """Member routes: in 26.7 mode the organization role AND a users role."""

    def check(roles: set[str]) -> bool:
        if not _dedicated():
            return "manage-realm" in roles
        if kind == "manage":
            return orgs("manage")(roles) and manage_users(roles)
        users = query_users(roles) if kind == "list" else view_users(roles)
        return orgs("read")(roles) and users

    return check


def org_idps(kind: str) -> Check:
    def check(roles: set[str]) -> bool:
        if not _dedicated():
            return "manage-realm" in roles
        if kind == "manage":
            return orgs("manage")(roles) and manage_idps(roles)
        return orgs("read")(roles) and view_idps(roles)

    return check
