"""Realm roles and user role mappings (how tests give a service account its admin roles)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from werkzeug.wrappers import Response

from .admin_auth import admin_call, manage_realm, manage_users, view_roles, view_users
from .builtins import effective_client_roles, expand_realm_roles
from .http_utils import (
    bad_json,
    base_url,
    created,
    empty,
    fail,
    fail_message,
    json_response,
    read_json,
)
from .models import Client, Realm, Role, User, new_id

bp = Blueprint("kc_admin_roles", __name__)
REALM = "/admin/realms/<realm_name>"
MAPPINGS = REALM + "/users/<user_id>/role-mappings"


def _role_body() -> dict[str, Any]:
    present, body = read_json()
    if not present or not isinstance(body, dict):
        bad_json()
    return body


def new_role(container: dict[str, Role]) -> Role:
    body = _role_body()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        fail_message(400, "Role name is required")
    if name in container:
        fail_message(409, f"Role with name {name} already exists")
    description = body.get("description")
    role = Role(
        id=new_id(), name=name, description=description if isinstance(description, str) else None
    )
    container[name] = role
    return role


def _rep(role: Role, container_id: str, client_role: bool) -> dict[str, Any]:
    from .representations import role_rep

    return role_rep(role, container_id, client_role)


@bp.get(REALM + "/roles")
def list_roles(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, view_roles)
    roles = sorted(realm.roles.values(), key=lambda r: r.name)
    return json_response([_rep(r, realm.id, False) for r in roles])


@bp.post(REALM + "/roles")
def create_role(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, manage_realm)
    role = new_role(realm.roles)
    return created(f"{base_url()}/admin/realms/{realm.name}/roles/{role.name}")


@bp.get(REALM + "/roles/<role_name>")
def get_role(realm_name: str, role_name: str) -> Response:
    realm, _ = admin_call(realm_name, view_roles)
    role = realm.roles.get(role_name)
    if role is None:
        fail(404, {"error": "Could not find role"})
    return json_response(_rep(role, realm.id, False))


def _user(realm: Realm, user_id: str) -> User:
    user = realm.users.get(user_id)
    if user is None:
        fail(404, {"error": "User not found"})
    return user


def _client(realm: Realm, client_uuid: str) -> Client:
    client = realm.clients.get(client_uuid)
    if client is None:
        fail(404, {"error": "Client not found"})
    return client


def _named_roles(container: dict[str, Role]) -> list[str]:
    present, body = read_json()
    if not present or not isinstance(body, list):
        bad_json()
    names = []
    for item in body:
        if not isinstance(item, dict):
            bad_json()
        role = container.get(str(item.get("name", "")))
        if role is None:
            role = next((r for r in container.values() if r.id == item.get("id")), None)
        if role is None:
            fail(404, {"error": "Could not find role"})
        names.append(role.name)
    return names


@bp.get(MAPPINGS)
def all_mappings(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_users)
    user = _user(realm, user_id)
    realm_roles = [realm.roles[n] for n in sorted(user.realm_roles) if n in realm.roles]
    body: dict[str, Any] = {"realmMappings": [_rep(r, realm.id, False) for r in realm_roles]}
    client_mappings = {}
    for client in realm.clients.values():
        names = sorted(user.client_roles.get(client.client_id, set()))
        roles = [client.roles[n] for n in names if n in client.roles]
        if roles:
            client_mappings[client.client_id] = {
                "id": client.id,
                "client": client.client_id,
                "mappings": [_rep(r, client.id, True) for r in roles],
            }
    if client_mappings:
        body["clientMappings"] = client_mappings
    return json_response(body)


@bp.route(MAPPINGS + "/realm", methods=["GET", "POST", "DELETE"])
def realm_mappings(realm_name: str, user_id: str) -> Response:
    from flask import request

    realm, _ = admin_call(realm_name, view_users if request.method == "GET" else manage_users)
    user = _user(realm, user_id)
    if request.method == "GET":
        roles = [realm.roles[n] for n in sorted(user.realm_roles) if n in realm.roles]
        return json_response([_rep(r, realm.id, False) for r in roles])
    names = _named_roles(realm.roles)
    if request.method == "POST":
        user.realm_roles.update(names)
    else:
        user.realm_roles.difference_update(names)
    return empty(204)


@bp.get(MAPPINGS + "/realm/composite")
def realm_composite(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_users)
    user = _user(realm, user_id)
    names = sorted(expand_realm_roles(realm, user.realm_roles))
    return json_response([_rep(realm.roles[n], realm.id, False) for n in names if n in realm.roles])


@bp.route(MAPPINGS + "/clients/<client_uuid>", methods=["GET", "POST", "DELETE"])
def client_mappings(realm_name: str, user_id: str, client_uuid: str) -> Response:
    from flask import request

    realm, _ = admin_call(realm_name, view_users if request.method == "GET" else manage_users)
    user = _user(realm, user_id)
    client = _client(realm, client_uuid)
    current = user.client_roles.setdefault(client.client_id, set())
    if request.method == "GET":
        roles = [client.roles[n] for n in sorted(current) if n in client.roles]
        return json_response([_rep(r, client.id, True) for r in roles])
    names = _named_roles(client.roles)
    if request.method == "POST":
        current.update(names)
    else:
        current.difference_update(names)
    return empty(204)


@bp.get(MAPPINGS + "/clients/<client_uuid>/composite")
def client_composite(realm_name: str, user_id: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, view_users)
    user = _user(realm, user_id)
    client = _client(realm, client_uuid)
    names = sorted(effective_client_roles(realm, user).get(client.client_id, set()))
    return json_response(
        [_rep(client.roles[n], client.id, True) for n in names if n in client.roles]
    )
