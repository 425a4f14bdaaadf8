"""``POST …/protocol/openid-connect/token``: the four grants the portal and its tests use."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from .client_auth import authenticate_client
from .http_utils import CONSUMES_MISMATCH, fail, fail_error, issuer, json_response, store
from .jwt_codec import verify
from .keys import b64url
from .models import Client, ClientSession, Realm
from .oidc_common import realm_or_404
from .scopes import ORG, ScopeProblem, Scopes, resolve, split_scope
from .seed import ensure_service_account
from .sessions import active_session, start_session
from .tokens import Grant, token_response

bp = Blueprint("kc_token", __name__)
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def _scopes(realm: Realm, client: Client, text: str | None) -> Scopes:
    try:
        return resolve(realm, client, text)
    except ScopeProblem as exc:
        fail_error(400, "invalid_scope", str(exc))


def _reply(body: dict[str, Any]) -> Response:
    response = json_response(body)
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/realms/<realm_name>/protocol/openid-connect/token")
def token(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    content_type = request.headers.get("Content-Type")
    if content_type and request.mimetype not in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        fail(415, {"error": CONSUMES_MISMATCH})
    grant_type = request.form.get("grant_type")
    if not grant_type:
        fail_error(400, "invalid_request", "Missing form parameter: grant_type")
    client = authenticate_client(realm)
    handlers = {
        "authorization_code": _authorization_code,
        "refresh_token": _refresh_token,
        "password": _password,
        "client_credentials": _client_credentials,
    }
    handler = handlers.get(grant_type)
    if handler is None:
        fail_error(400, "unsupported_grant_type", "Unsupported grant_type")
    return _reply(handler(realm, client))


def _check_pkce(challenge: str | None, method: str | None) -> None:
    verifier = request.form.get("code_verifier")
    if not challenge:
        if verifier:
            fail_error(
                400,
                "invalid_grant",
                "PKCE code verifier specified but challenge not present in authorization",
            )
        return
    if not verifier:
        fail_error(400, "invalid_grant", "PKCE code verifier not specified")
    if not VERIFIER.match(verifier):
        fail_error(400, "invalid_grant", "PKCE verification failed: Invalid code verifier")
    if method == "S256":
        computed = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    else:
        computed = verifier
    if computed != challenge:
        fail_error(400, "invalid_grant", "PKCE verification failed: Code mismatch")


def _authorization_code(realm: Realm, client: Client) -> dict[str, Any]:
    code = request.form.get("code")
    if not code:
        fail_error(400, "invalid_request", "Missing parameter: code")
    item = realm.codes.pop(code, None)  # single use: any attempt burns the code
    if item is None or item.expires_at < store().now():
        fail_error(400, "invalid_grant", "Code not valid")
    if item.client_id != client.client_id:
        fail_error(400, "invalid_grant", "Auth error")
    if item.redirect_uri_sent and request.form.get("redirect_uri") != item.redirect_uri:
        fail_error(400, "invalid_grant", "Incorrect redirect_uri")
    _check_pkce(item.code_challenge, item.code_challenge_method)
    session = active_session(realm, item.session_id)
    if session is None:
        fail_error(400, "invalid_grant", "Session not active")
    client_session = session.clients.setdefault(client.client_id, ClientSession(client.client_id))
    grant = Grant(
        realm=realm,
        client=client,
        user=realm.users[session.user_id],
        session=session,
        scopes=_scopes(realm, client, item.scope),
        nonce=item.nonce,
        acr=item.acr,
        org_pin=client_session.org_pin,
    )
    return token_response(grant)


def _narrowed_scope(original: list[str], requested: list[str]) -> bool:
    for item in requested:
        if item in original:
            continue
        if item.startswith(ORG + ":") and f"{ORG}:*" in original:
            continue
        return False
    return True


def _refresh_token(realm: Realm, client: Client) -> dict[str, Any]:
    raw = request.form.get("refresh_token")
    if not raw:
        fail_error(400, "invalid_request", "Missing parameter: refresh_token")
    claims = verify(raw, store().keys(realm))
    if claims is None or claims.get("typ") != "Refresh" or claims.get("iss") != issuer(realm.name):
        fail_error(400, "invalid_grant", "Invalid refresh token")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= store().now():
        fail_error(400, "invalid_grant", "Token is not active")
    if claims.get("azp") != client.client_id:
        fail_error(
            400,
            "invalid_grant",
            "Invalid refresh token. Token client and authorized client don't match",
        )
    session = active_session(realm, str(claims.get("sid")))
    if session is None or client.client_id not in session.clients:
        fail_error(400, "invalid_grant", "Session not active")
    if claims.get("jti") in realm.revoked_token_ids:
        fail_error(400, "invalid_grant", "Token is not active")
    if realm.revoke_refresh_token:
        if claims.get("jti") in realm.used_refresh_ids:
            fail_error(400, "invalid_grant", "Maximum allowed refresh token reuse exceeded")
        realm.used_refresh_ids.add(str(claims.get("jti")))
    scope_text = str(claims.get("scope", ""))
    if request.form.get("scope"):
        requested = split_scope(request.form["scope"])
        if not _narrowed_scope(split_scope(scope_text), requested):
            fail_error(400, "invalid_scope", "Invalid scopes: " + request.form["scope"])
        scope_text = " ".join(requested)
    user = realm.users.get(session.user_id)
    if user is None or not user.enabled:
        fail_error(400, "invalid_grant", "User disabled")
    session.last_refresh = store().now()
    scopes = _scopes(realm, client, scope_text)
    org_form = scopes.organization.form if scopes.organization else None
    pin = session.clients[client.client_id].org_pin if org_form == "alias" else None
    grant = Grant(realm, client, user, session, scopes, org_pin=pin)
    return token_response(grant)


def _password(realm: Realm, client: Client) -> dict[str, Any]:
    if not client.direct_access_grants:
        fail_error(400, "unauthorized_client", "Client not allowed for direct access grants")
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    user = store().user_by_login(realm, username) if username else None
    if user is None or not store().check_password(user, password):
        fail_error(401, "invalid_grant", "Invalid user credentials")
    if not user.enabled:
        fail_error(400, "invalid_grant", "Account disabled")
    if user.required_actions:
        fail_error(400, "invalid_grant", "Account is not fully set up")
    scopes = _scopes(realm, client, request.form.get("scope"))
    session = start_session(realm, user.id, request.remote_addr or "127.0.0.1")
    session.clients[client.client_id] = ClientSession(client.client_id)
    return token_response(Grant(realm, client, user, session, scopes))


def _client_credentials(realm: Realm, client: Client) -> dict[str, Any]:
    if client.public_client:
        fail_error(
            401, "unauthorized_client", "Public client not allowed to retrieve service account"
        )
    if not client.service_accounts:
        fail_error(401, "unauthorized_client", "Client not enabled to retrieve service account")
    user = ensure_service_account(realm, client)
    scopes = _scopes(realm, client, request.form.get("scope"))
    return token_response(Grant(realm, client, user, None, scopes), refresh=False, id_token=False)
