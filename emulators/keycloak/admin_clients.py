"""``/admin/realms/{r}/clients``: create with secret and redirect URIs, list, get, update, secret."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from .admin_auth import admin_call, create_clients, manage_clients, view_clients
from .http_utils import (
    bad_json,
    base_url,
    created,
    empty,
    fail,
    fail_error,
    fail_message,
    json_response,
    page,
    paging,
    parse_bool,
    read_json,
    store,
)
from .models import Client, Realm
from .representations import client_rep, role_rep, user_rep
from .seed import ImportProblem, apply_client_rep, ensure_service_account, new_client

bp = Blueprint("kc_admin_clients", __name__)
CLIENTS = "/admin/realms/<realm_name>/clients"


def _client_or_404(realm: Realm, client_uuid: str) -> Client:
    client = realm.clients.get(client_uuid)
    if client is None:
        fail(404, {"error": "Could not find client"})
    return client


def _check_uris(body: dict[str, Any]) -> None:
    for key in ("redirectUris", "webOrigins"):
        values = body.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            bad_json()
        for value in values:
            if key == "redirectUris" and (any(c.isspace() for c in value) or "#" in value):
                fail_error(400, "invalid_input", "A redirect URI is not a valid URI")


def _body() -> dict[str, Any]:
    present, body = read_json()
    if not present or not isinstance(body, dict):
        bad_json()
    _check_uris(body)
    return body


@bp.get(CLIENTS)
def list_clients(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    wanted = request.args.get("clientId")
    search = parse_bool(request.args.get("search"))
    clients = sorted(realm.clients.values(), key=lambda c: c.client_id)
    if wanted:
        if search:
            clients = [c for c in clients if wanted.lower() in c.client_id.lower()]
        else:
            clients = [c for c in clients if c.client_id == wanted]
    first, maximum = paging(-1)
    return json_response([client_rep(c) for c in page(clients, first, maximum)])


@bp.post(CLIENTS)
def create_client(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, create_clients)
    body = _body()
    client_id = body.get("clientId")
    if isinstance(client_id, str) and store().client_by_client_id(realm, client_id):
        fail_message(409, f"Client {client_id} already exists")
    if isinstance(body.get("id"), str) and body["id"] in realm.clients:
        fail_message(409, f"Client {client_id} already exists")
    try:
        client = new_client(realm, body)
    except ImportProblem as exc:
        fail_message(400, str(exc))
    realm.clients[client.id] = client
    return created(f"{base_url()}/admin/realms/{realm.name}/clients/{client.id}")


@bp.get(CLIENTS + "/<client_uuid>")
def get_client(realm_name: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    return json_response(client_rep(_client_or_404(realm, client_uuid)))


@bp.put(CLIENTS + "/<client_uuid>")
def update_client(realm_name: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, manage_clients)
    client = _client_or_404(realm, client_uuid)
    body = _body()
    new_id = body.get("clientId")
    if (
        isinstance(new_id, str)
        and new_id != client.client_id
        and store().client_by_client_id(realm, new_id)
    ):
        fail_message(409, f"Client {new_id} already exists")
    try:
        apply_client_rep(realm, client, body)
    except ImportProblem as exc:
        fail_message(400, str(exc))
    return empty(204)


@bp.delete(CLIENTS + "/<client_uuid>")
def delete_client(realm_name: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, manage_clients)
    client = _client_or_404(realm, client_uuid)
    realm.clients.pop(client.id, None)
    for user in [u for u in realm.users.values() if u.service_account_client == client.id]:
        store().remove_user(realm, user.id)
    for session in realm.sessions.values():
        session.clients.pop(client.client_id, None)
    return empty(204)


@bp.get(CLIENTS + "/<client_uuid>/client-secret")
def get_secret(realm_name: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    client = _client_or_404(realm, client_uuid)
    return json_response({"type": "secret", "value": client.secret})


@bp.post(CLIENTS + "/<client_uuid>/client-secret")
def regenerate_secret(realm_name: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, manage_clients)
    client = _client_or_404(realm, client_uuid)
    if client.public_client or client.bearer_only:
        fail_message(400, "Client is public or bearer-only")
    client.secret = secrets.token_urlsafe(24)
    return json_response({"type": "secret", "value": client.secret})


@bp.get(CLIENTS + "/<client_uuid>/service-account-user")
def service_account_user(realm_name: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    client = _client_or_404(realm, client_uuid)
    if not client.service_accounts:
        fail_error(400, "unknown_error", "Service account not enabled for the client")
    user = ensure_service_account(realm, client)
    return json_response({**user_rep(user), "serviceAccountClientId": client.client_id})


@bp.get(CLIENTS + "/<client_uuid>/roles")
def list_client_roles(realm_name: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    client = _client_or_404(realm, client_uuid)
    roles = sorted(client.roles.values(), key=lambda r: r.name)
    return json_response([role_rep(r, client.id, client_role=True) for r in roles])


@bp.post(CLIENTS + "/<client_uuid>/roles")
def create_client_role(realm_name: str, client_uuid: str) -> Response:
    realm, _ = admin_call(realm_name, manage_clients)
    client = _client_or_404(realm, client_uuid)
    from .admin_roles import new_role

    role = new_role(client.roles)
    return created(f"{base_url()}/admin/realms/{realm.name}/clients/{client.id}/roles/{role.name}")


@bp.get(CLIENTS + "/<client_uuid>/roles/<role_name>")
def get_client_role(realm_name: str, client_uuid: str, role_name: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    client = _client_or_404(realm, client_uuid)
    role = client.roles.get(role_name)
    if role is None:
        fail(404, {"error": "Could not find role"})
    return json_response(role_rep(role, client.id, client_role=True))
