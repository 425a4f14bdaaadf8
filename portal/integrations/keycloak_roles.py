"""A user's effective realm roles from the Keycloak Admin REST API (keycloak.md section 6.9), for
the staff re-sync: ``GET /admin/realms/{r}/users/{u}/role-mappings/realm/composite`` lists the realm
roles the user holds directly, through composites and through groups, as the access token's
``realm_access.roles`` does at sign-in. Needs ``view-users`` (the portal's service account has it)."""

from __future__ import annotations

from urllib.parse import quote

from portal.integrations.keycloak_admin import KeycloakAdminClient


def user_realm_roles(client: KeycloakAdminClient, user_id: str) -> list[str]:
    """The names of the user's effective realm roles; none when Keycloak has no such user (404).
    Any other failure is a ``KeycloakAdminError``."""
    what = "read a user's realm roles"
    response = client._call(  # the client's transport: token renewal, timeouts, one error type
        "GET", f"users/{quote(user_id, safe='')}/role-mappings/realm/composite"
    )
    if response.status_code == 404:
        return []
    if response.status_code != 200:
        raise client._fail(response, what)
    roles = client._json(response, what)
    if not isinstance(roles, list):
        return []
    return [str(r["name"]) for r in roles if isinstance(r, dict) and isinstance(r.get("name"), str)]
