"""``/admin/realms/{r}/identity-provider/instances``: the identity providers organizations link."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from werkzeug.wrappers import Response

from .admin_auth import admin_call, manage_idps, view_idps
from .http_utils import (
    bad_json,
    base_url,
    created,
    empty,
    fail_generic,
    fail_message,
    json_response,
    read_json,
)
from .models import IdentityProvider, Realm, new_id
from .representations import idp_rep
from .seed import ImportProblem, string_map

bp = Blueprint("kc_admin_idps", __name__)
INSTANCES = "/admin/realms/<realm_name>/identity-provider/instances"
SIMPLE = {"displayName": ("display_name", str), "enabled": ("enabled", bool),
          "providerId": ("provider_id", str), "trustEmail": ("trust_email", bool),
          "hideOnLogin": ("hide_on_login", bool)}  # fmt: skip


def idp_or_404(realm: Realm, alias: str) -> IdentityProvider:
    idp = realm.identity_providers.get(alias)
    if idp is None:
        fail_generic(404)
    return idp


def _apply(idp: IdentityProvider, body: dict[str, Any]) -> None:
    for key, value in body.items():
        if key in SIMPLE:
            attr, kind = SIMPLE[key]
            if value is None:
                continue
            if not isinstance(value, kind):
                bad_json()
            setattr(idp, attr, value)
        elif key == "config":
            try:
                idp.config = string_map(value, "config")
            except ImportProblem:
                bad_json()
        elif key not in ("alias", "internalId", "organizationId"):
            idp.extra[key] = value


def _body() -> dict[str, Any]:
    present, body = read_json()
    if not present or not isinstance(body, dict):
        bad_json()
    return body


@bp.get(INSTANCES)
def list_idps(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, view_idps)
    idps = sorted(realm.identity_providers.values(), key=lambda i: i.alias)
    return json_response([idp_rep(i) for i in idps])


@bp.post(INSTANCES)
def create_idp(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, manage_idps)
    body = _body()
    alias = body.get("alias")
    if not isinstance(alias, str) or not alias.strip():
        fail_message(400, "Identity provider alias is required")
    if not isinstance(body.get("providerId"), str) or not body["providerId"]:
        fail_message(400, "Identity provider providerId is required")
    if alias in realm.identity_providers:
        fail_message(409, f"Identity Provider {alias} already exists")
    idp = IdentityProvider(internal_id=new_id(), alias=alias, provider_id=body["providerId"])
    _apply(idp, body)
    realm.identity_providers[alias] = idp
    return created(f"{base_url()}/admin/realms/{realm.name}/identity-provider/instances/{alias}")


@bp.get(INSTANCES + "/<alias>")
def get_idp(realm_name: str, alias: str) -> Response:
    realm, _ = admin_call(realm_name, view_idps)
    return json_response(idp_rep(idp_or_404(realm, alias)))


@bp.put(INSTANCES + "/<alias>")
def update_idp(realm_name: str, alias: str) -> Response:
    realm, _ = admin_call(realm_name, manage_idps)
    idp = idp_or_404(realm, alias)
    _apply(idp, _body())
    return empty(204)


@bp.delete(INSTANCES + "/<alias>")
def delete_idp(realm_name: str, alias: str) -> Response:
    realm, _ = admin_call(realm_name, manage_idps)
    idp_or_404(realm, alias)
    realm.identity_providers.pop(alias, None)
    for user in realm.users.values():
        user.federated = [f for f in user.federated if f.identity_provider != alias]
    return empty(204)
