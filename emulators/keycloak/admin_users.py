"""``/admin/realms/{r}/users``: search, count, create with credentials, get, update, passwords."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from .admin_auth import admin_call, manage_users, query_users, view_users
from .builtins import default_role_name
from .http_utils import (
    bad_json,
    base_url,
    check_fields,
    created,
    empty,
    fail,
    fail_message,
    json_response,
    page,
    paging,
    parse_bool,
    read_json,
    store,
)
from .models import Realm, User, new_id
from .representations import user_rep
from .sessions import end_user_sessions

bp = Blueprint("kc_admin_users", __name__)
USERS = "/admin/realms/<realm_name>/users"
USER_FIELDS = {
    "id", "username", "firstName", "lastName", "email", "emailVerified", "attributes",
    "userProfileMetadata", "enabled", "self", "origin", "createdTimestamp", "totp",
    "federationLink", "serviceAccountClientId", "credentials", "disableableCredentialTypes",
    "requiredActions", "federatedIdentities", "realmRoles", "clientRoles", "clientConsents",
    "notBefore", "applicationRoles", "socialLinks", "groups", "access",
}  # fmt: skip
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BAD_USERNAME = re.compile(r"[<>&\"'\s$%!#?§;*~/\\|^=\[\]{}()\x00-\x1f\x7f]")


def user_or_404(realm: Realm, user_id: str) -> User:
    user = realm.users.get(user_id)
    if user is None:
        fail(404, {"error": "User not found"})
    return user


def _field_error(field: str, message: str, *params: str) -> None:
    fail(400, {"field": field, "errorMessage": message, "params": [field, *params]})


def _matches(value: str | None, wanted: str, exact: bool) -> bool:
    if value is None:
        return False
    return value.lower() == wanted.lower() if exact else wanted.lower() in value.lower()


def _search(user: User, text: str) -> bool:
    fields = [f.lower() for f in (user.username, user.email, user.first_name, user.last_name) if f]
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1].lower() in fields
    pattern = re.escape(text.lower().strip("*")).replace(r"\*", ".*")
    regex = re.compile(f".*{pattern}.*" if text.startswith("*") else f"{pattern}.*")
    return any(regex.fullmatch(f) for f in fields)


def filter_users(realm: Realm, args: MultiDict[str, str]) -> list[User]:
    users = [u for u in realm.users.values() if u.service_account_client is None]
    exact = bool(parse_bool(args.get("exact")))
    search = (args.get("search") or "").strip()
    if search.startswith("id:"):
        users = [u for u in users if u.id == search[3:].strip()]
    elif search and search != "*":
        users = [u for u in users if _search(u, search)]
    for param, attr in (("username", "username"), ("email", "email"),
                        ("firstName", "first_name"), ("lastName", "last_name")):  # fmt: skip
        wanted = args.get(param)
        if wanted:
            users = [u for u in users if _matches(getattr(u, attr), wanted, exact)]
    for param, attr in (("emailVerified", "email_verified"), ("enabled", "enabled")):
        flag = parse_bool(args.get(param))
        if flag is not None:
            users = [u for u in users if getattr(u, attr) == flag]
    idp_alias, idp_user = args.get("idpAlias"), args.get("idpUserId")
    if idp_alias or idp_user:
        users = [
            u
            for u in users
            if any(
                (not idp_alias or f.identity_provider == idp_alias)
                and (not idp_user or f.user_id == idp_user)
                for f in u.federated
            )
        ]
    for pair in (args.get("q") or "").split():
        key, _, value = pair.partition(":")
        users = [u for u in users if value in u.attributes.get(key, [])]
    return sorted(users, key=lambda u: u.username)


@bp.get(USERS)
def list_users(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, query_users)
    first, maximum = paging(100)
    brief = bool(parse_bool(request.args.get("briefRepresentation")))
    users = page(filter_users(realm, request.args), first, maximum)
    return json_response([user_rep(u, brief=brief, list_entry=True) for u in users])


@bp.get(USERS + "/count")
def count_users(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, query_users)
    return json_response(len(filter_users(realm, request.args)))


def _user_body() -> dict[str, Any]:
    present, body = read_json()
    if not present or not isinstance(body, dict):
        bad_json()
    check_fields(body, USER_FIELDS, "UserRepresentation")
    for key in ("username", "email", "firstName", "lastName"):
        if body.get(key) is not None and not isinstance(body[key], str):
            bad_json()
    for key in ("enabled", "emailVerified"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            bad_json()
    attributes = body.get("attributes")
    if attributes is not None and (
        not isinstance(attributes, dict)
        or not all(
            isinstance(v, list) and all(isinstance(i, str) for i in v) for v in attributes.values()
        )
    ):
        bad_json()
    actions = body.get("requiredActions")
    if actions is not None and (
        not isinstance(actions, list) or not all(isinstance(a, str) for a in actions)
    ):
        bad_json()
    return body


def _apply(realm: Realm, user: User, body: dict[str, Any]) -> None:
    email = body.get("email")
    if email is not None:
        email = email.strip().lower() or None
        if email and not EMAIL.match(email):
            _field_error("email", "error-invalid-email", email)
        other = store().user_by_email(realm, email) if email else None
        if other is not None and other.id != user.id and not realm.duplicate_emails_allowed:
            fail_message(409, "User exists with same email")
    if "email" in body:
        user.email = email
    for key, attr in (("firstName", "first_name"), ("lastName", "last_name")):
        if key in body:
            setattr(user, attr, body[key] or None)
    for key, attr in (("enabled", "enabled"), ("emailVerified", "email_verified")):
        if body.get(key) is not None:
            setattr(user, attr, body[key])
    if body.get("attributes") is not None:
        user.attributes = {k: list(v) for k, v in body["attributes"].items()}
    if body.get("requiredActions") is not None:
        user.required_actions = list(body["requiredActions"])
    for credential in body.get("credentials") or []:
        if not isinstance(credential, dict) or not isinstance(credential.get("value", ""), str):
            bad_json()
        if credential.get("type", "password") == "password" and credential.get("value"):
            store().set_password(user, credential["value"], bool(credential.get("temporary")))


def _check_username(realm: Realm, username: str, user_id: str | None) -> str:
    username = username.strip().lower()
    if not username:
        _field_error("username", "error-user-attribute-required")
    if BAD_USERNAME.search(username):
        _field_error("username", "error-username-invalid-character", username)
    other = store().user_by_username(realm, username)
    if other is not None and other.id != user_id:
        fail_message(409, "User exists with same username")
    return username


@bp.post(USERS)
def create_user(realm_name: str) -> Response:
    realm, _ = admin_call(realm_name, manage_users)
    body = _user_body()
    username = _check_username(realm, body.get("username") or "", None)
    user = User(
        id=new_id(),
        username=username,
        created_ms=store().now_ms(),
        realm_roles={default_role_name(realm)},
    )
    _apply(realm, user, body)
    realm.users[user.id] = user
    return created(f"{base_url()}/admin/realms/{realm.name}/users/{user.id}")


@bp.get(USERS + "/<user_id>")
def get_user(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_users)
    user = user_or_404(realm, user_id)
    rep = user_rep(user)
    client = realm.clients.get(user.service_account_client or "")
    if client is not None:
        rep["serviceAccountClientId"] = client.client_id
    return json_response(rep)


@bp.put(USERS + "/<user_id>")
def update_user(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, manage_users)
    user = user_or_404(realm, user_id)
    body = _user_body()
    new_name = body.get("username")
    if new_name is not None and new_name.strip().lower() != user.username:
        if not realm.edit_username_allowed:
            _field_error("username", "error-user-attribute-read-only")
        user.username = _check_username(realm, new_name, user.id)
    _apply(realm, user, body)
    if not user.enabled:
        end_user_sessions(realm, user.id)
    return empty(204)


@bp.delete(USERS + "/<user_id>")
def delete_user(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, manage_users)
    user = user_or_404(realm, user_id)
    end_user_sessions(realm, user.id)
    store().remove_user(realm, user.id)
    return empty(204)


@bp.put(USERS + "/<user_id>/reset-password")
def reset_password(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, manage_users)
    user = user_or_404(realm, user_id)
    present, body = read_json()
    if not present or not isinstance(body, dict):
        bad_json()
    value = body.get("value")
    if not isinstance(value, str) or not value:
        fail_message(400, "Missing password value")
    store().set_password(user, value, body.get("temporary") is True)
    return empty(204)


@bp.post(USERS + "/<user_id>/logout")
def logout_user(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, manage_users)
    user = user_or_404(realm, user_id)
    end_user_sessions(realm, user.id)
    return empty(204)


@bp.get(USERS + "/<user_id>/sessions")
def user_sessions(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_users)
    user = user_or_404(realm, user_id)
    sessions = [s for s in realm.sessions.values() if s.user_id == user.id and s.active]
    body = []
    for session in sorted(sessions, key=lambda s: s.started):
        clients = {}
        for client_id in session.clients:
            client = store().client_by_client_id(realm, client_id)
            if client is not None:
                clients[client.id] = client_id
        body.append(
            {
                "id": session.id,
                "username": user.username,
                "userId": user.id,
                "ipAddress": session.ip_address,
                "start": session.started * 1000,
                "lastAccess": session.last_refresh * 1000,
                "rememberMe": False,
                "clients": clients,
            }
        )
    return json_response(body)


@bp.get(USERS + "/<user_id>/federated-identity")
def federated_identities(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_users)
    user = user_or_404(realm, user_id)
    return json_response(
        [
            {"identityProvider": f.identity_provider, "userId": f.user_id, "userName": f.user_name}
            for f in user.federated
        ]
    )


@bp.get(USERS + "/<user_id>/groups")
def user_groups(realm_name: str, user_id: str) -> Response:
    realm, _ = admin_call(realm_name, view_users)
    user_or_404(realm, user_id)
    return json_response([])
