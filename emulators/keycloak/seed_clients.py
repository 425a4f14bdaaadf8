"""Clients from ClientRepresentations, and their service-account users."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from .builtins import default_role_name
from .models import Client, Realm, User, new_id
from .rep_fields import ImportProblem, as_bool, as_str, str_list, string_map

CLIENT_FIELDS = {
    "clientId": ("client_id", "str"),
    "name": ("name", "str"),
    "description": ("description", "str"),
    "enabled": ("enabled", "bool"),
    "publicClient": ("public_client", "bool"),
    "bearerOnly": ("bearer_only", "bool"),
    "secret": ("secret", "str"),
    "redirectUris": ("redirect_uris", "list"),
    "webOrigins": ("web_origins", "list"),
    "standardFlowEnabled": ("standard_flow", "bool"),
    "implicitFlowEnabled": ("implicit_flow", "bool"),
    "directAccessGrantsEnabled": ("direct_access_grants", "bool"),
    "serviceAccountsEnabled": ("service_accounts", "bool"),
    "frontchannelLogout": ("frontchannel_logout", "bool"),
    "rootUrl": ("root_url", "str"),
    "baseUrl": ("base_url", "str"),
    "defaultClientScopes": ("default_scopes", "list"),
    "optionalClientScopes": ("optional_scopes", "list"),
}

# The demo portal's client gets a back-channel logout URL on the portal's own address (the first
# redirect URI's origin), as an operator sets it on a real Keycloak client: Keycloak then posts a
# logout token to the portal whenever one of its sessions ends centrally. A client representation
# that names ``backchannel.logout.url`` (even empty, to switch it off) keeps its own.
DEMO_PORTAL_CLIENT = "b2b-portal"
DEMO_BACKCHANNEL_PATH = "/auth/backchannel-logout"


def demo_backchannel_url(client: Client) -> str | None:
    for uri in client.redirect_uris:
        parts = urlsplit(uri)
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}{DEMO_BACKCHANNEL_PATH}"
    return None


def _configure_demo_backchannel(client: Client) -> None:
    if client.client_id != DEMO_PORTAL_CLIENT or "backchannel.logout.url" in client.attributes:
        return
    url = demo_backchannel_url(client)
    if url:
        client.attributes["backchannel.logout.url"] = url
        client.attributes.setdefault("backchannel.logout.session.required", "true")


def apply_client_rep(realm: Realm, client: Client, rep: dict[str, Any]) -> None:
    """Merge a ClientRepresentation into ``client`` (fields absent from ``rep`` stay)."""
    for key, value in rep.items():
        if key in CLIENT_FIELDS:
            attr, kind = CLIENT_FIELDS[key]
            if value is None:
                continue
            if kind == "bool":
                setattr(client, attr, as_bool(value, False, key))
            elif kind == "list":
                setattr(client, attr, str_list(value, key))
            else:
                setattr(client, attr, as_str(value, key))
        elif key == "attributes":
            client.attributes.update(string_map(value, "attributes"))
        elif key in ("id", "protocolMappers", "access", "authorizationSettings"):
            continue
        else:
            client.extra[key] = value
    if not client.public_client and not client.bearer_only and not client.secret:
        client.secret = secrets.token_urlsafe(24)
    if client.service_accounts:
        ensure_service_account(realm, client)


def new_client(realm: Realm, rep: dict[str, Any]) -> Client:
    client_id = as_str(rep.get("clientId"), "clientId")
    if not client_id:
        raise ImportProblem("Client id is required")
    client_uuid = as_str(rep.get("id"), "id") or new_id()
    client = Client(id=client_uuid, client_id=client_id)
    client.default_scopes = list(realm.default_default_scopes)
    client.optional_scopes = list(realm.default_optional_scopes)
    apply_client_rep(realm, client, rep)
    _configure_demo_backchannel(client)
    return client


def ensure_service_account(realm: Realm, client: Client) -> User:
    for user in realm.users.values():
        if user.service_account_client == client.id:
            return user
    user = User(
        id=new_id(),
        username=f"service-account-{client.client_id}".lower(),
        created_ms=0,
        service_account_client=client.id,
        realm_roles={default_role_name(realm)},
    )
    realm.users[user.id] = user
    return user
