"""Discovery, realm info, JWKS, userinfo, token introspection and revocation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from .client_auth import authenticate_client
from .http_utils import issuer, json_response, store
from .jwt_codec import verify
from .models import Realm
from .oidc_common import realm_or_404
from .scopes import (
    organization_claim,
    parse_org_scope,
    resolve,
    session_note_claims,
    split_scope,
)
from .sessions import active_session, end_session
from .tokens import check_access_token, profile_claims

bp = Blueprint("kc_oidc", __name__)
DISCOVERY_CACHE = "no-cache, must-revalidate, no-transform, no-store"
ALGS = ["PS384", "RS384", "EdDSA", "ES384", "HS256", "HS512", "ES256", "RS256", "HS384",
        "ES512", "PS256", "PS512", "RS512"]  # fmt: skip
AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "client_secret_post",
                "tls_client_auth", "client_secret_jwt"]  # fmt: skip
SCOPES = ["acr", "address", "basic", "email", "microprofile-jwt", "offline_access", "openid",
          "organization", "phone", "profile", "roles", "service_account", "web-origins"]  # fmt: skip
GRANTS = ["authorization_code", "client_credentials", "implicit", "password", "refresh_token",
          "urn:ietf:params:oauth:grant-type:device_code",
          "urn:ietf:params:oauth:grant-type:jwt-bearer",
          "urn:ietf:params:oauth:grant-type:token-exchange",
          "urn:ietf:params:oauth:grant-type:uma-ticket", "urn:openid:params:grant-type:ciba"]  # fmt: skip


def discovery_document(realm: Realm) -> dict[str, Any]:
    iss = issuer(realm.name)
    oidc = f"{iss}/protocol/openid-connect"
    scopes = [s for s in SCOPES if s != "organization" or realm.organizations_enabled]
    enc_algs = ["ECDH-ES+A256KW", "ECDH-ES+A192KW", "ECDH-ES+A128KW", "RSA-OAEP",
                "RSA-OAEP-256", "RSA1_5", "ECDH-ES"]  # fmt: skip
    enc_values = ["A256GCM", "A192GCM", "A128GCM", "A128CBC-HS256", "A192CBC-HS384",
                  "A256CBC-HS512"]  # fmt: skip
    return {
        "issuer": iss,
        "authorization_endpoint": f"{oidc}/auth",
        "token_endpoint": f"{oidc}/token",
        "introspection_endpoint": f"{oidc}/token/introspect",
        "userinfo_endpoint": f"{oidc}/userinfo",
        "end_session_endpoint": f"{oidc}/logout",
        "frontchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "jwks_uri": f"{oidc}/certs",
        "check_session_iframe": f"{oidc}/login-status-iframe.html",
        "grant_types_supported": GRANTS,
        "acr_values_supported": ["0", "1"],
        "response_types_supported": [
            "code",
            "none",
            "id_token",
            "token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token",
        ],
        "subject_types_supported": ["public", "pairwise"],
        "prompt_values_supported": ["none", "login", "consent"]
        + (["create"] if realm.registration_allowed else []),
        "id_token_signing_alg_values_supported": ALGS,
        "id_token_encryption_alg_values_supported": enc_algs,
        "id_token_encryption_enc_values_supported": enc_values,
        "userinfo_signing_alg_values_supported": [*ALGS, "none"],
        "request_object_signing_alg_values_supported": [*ALGS, "none"],
        "response_modes_supported": [
            "query",
            "fragment",
            "form_post",
            "query.jwt",
            "fragment.jwt",
            "form_post.jwt",
            "jwt",
        ],
        "registration_endpoint": f"{iss}/clients-registrations/openid-connect",
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ALGS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": ALGS,
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "email",
            "acr",
            "azp",
            "nonce",
        ],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "scopes_supported": scopes,
        "request_parameter_supported": True,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": True,
        "code_challenge_methods_supported": ["plain", "S256"],
        "tls_client_certificate_bound_access_tokens": True,
        "dpop_signing_alg_values_supported": [
            "PS384",
            "RS384",
            "EdDSA",
            "ES384",
            "ES256",
            "RS256",
            "ES512",
            "PS256",
            "PS512",
            "RS512",
        ],
        "revocation_endpoint": f"{oidc}/revoke",
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "device_authorization_endpoint": f"{oidc}/auth/device",
        "backchannel_token_delivery_modes_supported": ["poll", "ping"],
        "backchannel_authentication_endpoint": f"{oidc}/ext/ciba/auth",
        "require_pushed_authorization_requests": False,
        "pushed_authorization_request_endpoint": f"{oidc}/ext/par/request",
        "mtls_endpoint_aliases": {
            "token_endpoint": f"{oidc}/token",
            "revocation_endpoint": f"{oidc}/revoke",
            "introspection_endpoint": f"{oidc}/token/introspect",
            "device_authorization_endpoint": f"{oidc}/auth/device",
            "registration_endpoint": f"{iss}/clients-registrations/openid-connect",
            "userinfo_endpoint": f"{oidc}/userinfo",
            "pushed_authorization_request_endpoint": f"{oidc}/ext/par/request",
            "backchannel_authentication_endpoint": f"{oidc}/ext/ciba/auth",
        },
        "authorization_response_iss_parameter_supported": True,
    }


@bp.get("/realms/<realm_name>/.well-known/openid-configuration")
def discovery(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    response = json_response(discovery_document(realm))
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = DISCOVERY_CACHE
    return response


@bp.get("/realms/<realm_name>")
def realm_info(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    iss = issuer(realm.name)
    return json_response(
        {
            "realm": realm.name,
            "public_key": store().keys(realm).signing.public_key_b64(),
            "token-service": f"{iss}/protocol/openid-connect",
            "account-service": f"{iss}/account",
            "tokens-not-before": 0,
        }
    )


@bp.get("/realms/<realm_name>/protocol/openid-connect/certs")
def certs(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    response = json_response(store().keys(realm).jwks())
    response.headers["Content-Type"] = "application/jwk-set+json"
    return response


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token") or None
    return None


def _unauthorized(realm_name: str, error: str, description: str) -> Response:
    response = Response(b"", status=401)
    del response.headers["Content-Type"]
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="{realm_name}", error="{error}", error_description="{description}"'
    )
    return response


@bp.route("/realms/<realm_name>/protocol/openid-connect/userinfo", methods=["GET", "POST"])
def userinfo(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    token = _bearer()
    if token is None:
        return _unauthorized(realm.name, "invalid_request", "Token not provided")
    claims = check_access_token(realm, token)
    if claims is None:
        return _unauthorized(realm.name, "invalid_token", "Token verification failed")
    user = realm.users[str(claims["sub"])]
    client = store().client_by_client_id(realm, str(claims.get("azp")))
    if client is None:
        return _unauthorized(realm.name, "invalid_token", "Token verification failed")
    scopes = resolve(realm, client, str(claims.get("scope", "")))
    body: dict[str, Any] = {"sub": user.id, **profile_claims(user, scopes)}
    session = active_session(realm, claims.get("sid"))
    pin = None
    if session is not None and client.client_id in session.clients:
        pin = session.clients[client.client_id].org_pin
    org = organization_claim(store(), realm, user, scopes.organization, pin)
    if org is not None and org.userinfo:
        body[org.name] = org.value
    notes = session.notes if session is not None else {}
    body.update({n.name: n.value for n in session_note_claims(realm, scopes, notes) if n.userinfo})
    response = json_response(body)
    response.headers["Content-Type"] = "application/json"
    return response


@bp.post("/realms/<realm_name>/protocol/openid-connect/token/introspect")
def introspect(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    authenticate_client(realm)
    token = request.form.get("token", "")
    claims = check_access_token(realm, token)
    if claims is None:
        refresh = verify(token, store().keys(realm)) if token else None
        if (
            refresh is not None
            and refresh.get("typ") == "Refresh"
            and isinstance(refresh.get("exp"), int)
            and refresh["exp"] > store().now()
            and active_session(realm, refresh.get("sid")) is not None
        ):
            return json_response({**refresh, "client_id": refresh.get("azp"), "active": True})
        return json_response({"active": False})
    user = realm.users[str(claims["sub"])]
    body = dict(claims)
    org_scope = parse_org_scope(split_scope(str(claims.get("scope", ""))))
    org = organization_claim(store(), realm, user, org_scope, None)
    if org is not None and org.introspection and org.name not in body:
        body[org.name] = org.value
    body.update(
        {
            "client_id": claims.get("azp"),
            "username": user.username,
            "token_type": "Bearer",
            "active": True,
        }
    )
    return json_response(body)


@bp.post("/realms/<realm_name>/protocol/openid-connect/revoke")
def revoke(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    client = authenticate_client(realm)
    token = request.form.get("token", "")
    claims = verify(token, store().keys(realm)) if token else None
    if claims is not None and claims.get("azp") == client.client_id:
        if claims.get("typ") == "Refresh":
            session = active_session(realm, claims.get("sid"))
            if session is not None:
                session.clients.pop(client.client_id, None)
                if not session.clients:
                    end_session(realm, session)
        elif claims.get("jti"):
            realm.revoked_token_ids.add(str(claims["jti"]))
    response = Response(b"", status=200)
    del response.headers["Content-Type"]
    return response
