"""``/admin/realms/{r}/client-scopes``: read scopes, add mappers (e.g. the ``identity_provider``
session-note mapper of keycloak.md section 9) and edit mapper config (organization options)."""

from __future__ import annotations

from flask import Blueprint
from werkzeug.wrappers import Response

from .admin_auth import admin_call, manage_clients, view_clients
from .http_utils import bad_json, base_url, empty, fail, json_response, read_json
from .models import ClientScope, ProtocolMapper, Realm, new_id
from .representations import client_scope_rep
from .seed import ImportProblem, string_map

bp = Blueprint("kc_admin_client_scopes", __name__)
SCOPES = "/admin/realms/<realm_name>/client-scopes"


def _scope(realm: Realm, scope_id: str) -> ClientScope:
    scope = realm.client_scopes.get(scope_id)
    if scope is None:
        fail(404, {"error": "Could not find client scope"})
    return scope


def _mapper(scope: ClientScope, mapper_id: str) -> ProtocolMapper:
    mapper = next((m for m in scope.mappers if m.id == mapper_id), None)
    if mapper is None:
        fail(404, {"error": "Model not found"})
    return mapper


def _mapper_rep(mapper: ProtocolMapper) -> dict[str, object]:
    return {
        "id": mapper.id,
        "name": mapper.name,
        "protocol": mapper.protocol,
        "protocolMapper": mapper.protocol_mapper,
        "consentRequired": False,
        "config": dict(mapper.config),
    }


@bp.get(SCOPES)
def list_scopes(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    scopes = sorted(realm.client_scopes.values(), key=lambda s: s.name)
    return json_response([client_scope_rep(s) for s in scopes])


@bp.get(SCOPES + "/<scope_id>")
def get_scope(realm_name: str, scope_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    return json_response(client_scope_rep(_scope(realm, scope_id)))


@bp.get(SCOPES + "/<scope_id>/protocol-mappers/models")
def list_mappers(realm_name: str, scope_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    return json_response([_mapper_rep(m) for m in _scope(realm, scope_id).mappers])


@bp.post(SCOPES + "/<scope_id>/protocol-mappers/models")
def add_mapper(realm_name: str, scope_id: str) -> Response:
    """Add a protocol mapper (``{"name","protocol","protocolMapper","config"}``): 201 with its
    ``Location``; 409 when the scope already has a mapper of that name."""
    realm, _ = admin_call(realm_name, manage_clients)
    scope = _scope(realm, scope_id)
    present, body = read_json()
    if not present or not isinstance(body, dict):
        bad_json()
    name, kind = body.get("name"), body.get("protocolMapper")
    if not isinstance(name, str) or not name or not isinstance(kind, str) or not kind:
        fail(400, {"errorMessage": "Mapper name and protocolMapper are required"})
    if any(m.name == name for m in scope.mappers):
        fail(409, {"errorMessage": f"Protocol mapper exists with same name: {name}"})
    try:
        config = string_map(body.get("config") or {}, "config")
    except ImportProblem:
        bad_json()
    mapper = ProtocolMapper(id=new_id(), name=name, protocol_mapper=kind, config=config)
    scope.mappers.append(mapper)
    response = empty(201)
    response.headers["Location"] = (
        f"{base_url()}/admin/realms/{realm.name}/client-scopes/{scope.id}"
        f"/protocol-mappers/models/{mapper.id}"
    )
    return response


@bp.get(SCOPES + "/<scope_id>/protocol-mappers/models/<mapper_id>")
def get_mapper(realm_name: str, scope_id: str, mapper_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_clients)
    return json_response(_mapper_rep(_mapper(_scope(realm, scope_id), mapper_id)))


@bp.put(SCOPES + "/<scope_id>/protocol-mappers/models/<mapper_id>")
def update_mapper(realm_name: str, scope_id: str, mapper_id: str) -> Response:
    """Replace a mapper's config, e.g. ``addOrganizationId`` on the organization mapper."""
    realm, _ = admin_call(realm_name, manage_clients)
    mapper = _mapper(_scope(realm, scope_id), mapper_id)
    present, body = read_json()
    if not present or not isinstance(body, dict):
        bad_json()
    if body.get("config") is not None:
        try:
            mapper.config = string_map(body["config"], "config")
        except ImportProblem:
            bad_json()
    if isinstance(body.get("name"), str) and body["name"]:
        mapper.name = body["name"]
    return empty(204)
