"""``/admin/realms``: list, create (realm import), get, merge-update, delete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from werkzeug.wrappers import Response

from .admin_auth import admin_call, authenticate, manage_realm, view_realm
from .http_utils import (
    bad_json,
    base_url,
    created,
    empty,
    fail_generic,
    fail_message,
    json_response,
    read_json,
    store,
)
from .representations import realm_rep
from .seed import ImportProblem, apply_realm_settings, import_realm
from .sessions import end_session

bp = Blueprint("kc_admin_realms", __name__)


@bp.get("/admin/realms")
def list_realms() -> Response:
    caller = authenticate()
    realms = sorted(store().realms.values(), key=lambda r: r.name)
    visible = [
        r for r in realms if caller.superuser or (r.id == caller.realm.id and caller.roles_in(r))
    ]
    return json_response([realm_rep(r) for r in visible])


@bp.post("/admin/realms")
def create_realm() -> Response:
    caller = authenticate()
    if not caller.can_create_realm:
        fail_generic(403)
    present, body = read_json()
    if not present:
        fail_message(400, "Realm name cannot be empty")
    if not isinstance(body, dict):
        bad_json()
    if isinstance(body.get("realm"), str) and body["realm"] in store().realms:
        fail_message(409, "Conflict detected. See logs for details")
    try:
        realm = import_realm(store(), body)
    except ImportProblem as exc:
        fail_message(400, str(exc))
    store().realms[realm.name] = realm
    return created(f"{base_url()}/admin/realms/{realm.name}")


@bp.get("/admin/realms/<realm_name>")
def get_realm(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, view_realm)
    return json_response(realm_rep(realm))


@bp.put("/admin/realms/<realm_name>")
def update_realm(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, manage_realm)
    present, body = read_json()
    if not present or not isinstance(body, dict):
        bad_json()
    new_name = body.get("realm")
    if isinstance(new_name, str) and new_name and new_name != realm.name:
        if realm.name == "master":
            fail_message(400, "Cannot rename master realm")
        if new_name in store().realms:
            fail_message(409, "Realm with same name exists")
    try:
        apply_realm_settings(realm, _settings(body))
    except ImportProblem as exc:
        fail_message(400, str(exc))
    if isinstance(new_name, str) and new_name and new_name != realm.name:
        store().realms.pop(realm.name, None)
        realm.name = new_name
        store().realms[new_name] = realm
    return empty(204)


def _settings(body: dict[str, Any]) -> dict[str, Any]:
    sections = ("users", "clients", "roles", "organizations", "identityProviders", "clientScopes")
    return {key: value for key, value in body.items() if key not in sections}


@bp.delete("/admin/realms/<realm_name>")
def delete_realm(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, manage_realm)
    if realm.name == "master":
        fail_message(400, "Cannot delete master realm")
    for session in list(realm.sessions.values()):
        end_session(realm, session)
    store().drop_realm(realm)
    return empty(204)
