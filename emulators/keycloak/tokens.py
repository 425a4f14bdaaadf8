"""Building and checking tokens: access, ID and refresh tokens and the token response."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .builtins import effective_client_roles, expand_realm_roles
from .http_utils import issuer, store
from .jwt_codec import sign_hs512, sign_rs256, verify
from .keys import b64url
from .models import Client, Realm, User, UserSession, new_id
from .scopes import NoteClaim, Scopes, organization_claim, session_note_claims
from .sessions import active_session, session_expiry


@dataclass
class Grant:
    realm: Realm
    client: Client
    user: User
    session: UserSession | None
    scopes: Scopes
    nonce: str | None = None
    acr: str = "1"
    org_pin: str | None = None


def profile_claims(user: User, scopes: Scopes) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    if "email" in scopes.applied:
        claims["email_verified"] = user.email_verified
    if "profile" in scopes.applied:
        full = " ".join(part for part in (user.first_name, user.last_name) if part)
        if full:
            claims["name"] = full
        claims["preferred_username"] = user.username
        if user.first_name:
            claims["given_name"] = user.first_name
        if user.last_name:
            claims["family_name"] = user.last_name
    if "email" in scopes.applied and user.email:
        claims["email"] = user.email
    return claims


def allowed_origins(client: Client) -> list[str]:
    origins: list[str] = []
    for item in client.web_origins:
        candidates = client.redirect_uris if item == "+" else [item]
        for candidate in candidates:
            if candidate in ("*", "+"):
                origins.append("*")
                continue
            parts = urlsplit(candidate.rstrip("*"))
            if parts.scheme and parts.netloc:
                origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))


def role_claims(realm: Realm, user: User) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    realm_roles = expand_realm_roles(realm, user.realm_roles)
    if realm_roles:
        claims["realm_access"] = {"roles": sorted(realm_roles)}
    client_roles = effective_client_roles(realm, user)
    if client_roles:
        claims["resource_access"] = {
            k: {"roles": sorted(v)} for k, v in sorted(client_roles.items())
        }
    return claims


def access_lifespan(realm: Realm, client: Client) -> int:
    override = client.attributes.get("access.token.lifespan", "")
    return (
        int(override) if override.isdigit() and int(override) > 0 else realm.access_token_lifespan
    )


def _org_claim(grant: Grant) -> Any:
    return organization_claim(
        store(), grant.realm, grant.user, grant.scopes.organization, grant.org_pin
    )


def _note_claims(grant: Grant) -> list[NoteClaim]:
    if grant.session is None:
        return []
    return session_note_claims(grant.realm, grant.scopes, grant.session.notes)


def build_access_token(grant: Grant, now: int) -> tuple[str, dict[str, Any]]:
    realm, client, user, session = grant.realm, grant.client, grant.user, grant.session
    claims: dict[str, Any] = {"exp": now + access_lifespan(realm, client), "iat": now}
    if session is not None:
        claims["auth_time"] = session.auth_time
    claims["jti"] = new_id()
    claims["iss"] = issuer(realm.name)
    roles = role_claims(realm, user) if "roles" in grant.scopes.applied else {}
    audience = sorted(k for k in roles.get("resource_access", {}) if k != client.client_id)
    if audience:
        claims["aud"] = audience[0] if len(audience) == 1 else audience
    claims.update({"sub": user.id, "typ": "Bearer", "azp": client.client_id})
    if session is not None:
        claims["sid"] = session.id
    if "acr" in grant.scopes.applied:
        claims["acr"] = grant.acr
    if "web-origins" in grant.scopes.applied and allowed_origins(client):
        claims["allowed-origins"] = allowed_origins(client)
    claims.update(roles)
    claims["scope"] = grant.scopes.text
    if user.service_account_client is not None:
        claims["clientHost"] = "127.0.0.1"
    claims.update(profile_claims(user, grant.scopes))
    if user.service_account_client is not None:
        claims["clientAddress"] = "127.0.0.1"
        claims["client_id"] = client.client_id
    org = _org_claim(grant)
    if org is not None and org.access_token:
        claims[org.name] = org.value
    claims.update({n.name: n.value for n in _note_claims(grant) if n.access_token})
    return sign_rs256(claims, store().keys(realm)), claims


def build_id_token(grant: Grant, access_token: str, now: int) -> str:
    realm, client, user, session = grant.realm, grant.client, grant.user, grant.session
    claims: dict[str, Any] = {
        "exp": now + access_lifespan(realm, client),
        "iat": now,
        "auth_time": session.auth_time if session else now,
        "jti": new_id(),
        "iss": issuer(realm.name),
        "aud": client.client_id,
        "sub": user.id,
        "typ": "ID",
        "azp": client.client_id,
    }
    if grant.nonce:
        claims["nonce"] = grant.nonce
    if session is not None:
        claims["sid"] = session.id
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    claims["at_hash"] = b64url(digest[: len(digest) // 2])
    if "acr" in grant.scopes.applied:
        claims["acr"] = grant.acr
    claims.update(profile_claims(user, grant.scopes))
    org = _org_claim(grant)
    if org is not None and org.id_token:
        claims[org.name] = org.value
    claims.update({n.name: n.value for n in _note_claims(grant) if n.id_token})
    return sign_rs256(claims, store().keys(realm))


def build_refresh_token(grant: Grant, now: int) -> tuple[str, int]:
    assert grant.session is not None
    expires = session_expiry(grant.realm, grant.session)
    claims = {
        "exp": expires,
        "iat": now,
        "jti": new_id(),
        "iss": issuer(grant.realm.name),
        "aud": issuer(grant.realm.name),
        "sub": grant.user.id,
        "typ": "Refresh",
        "azp": grant.client.client_id,
        "sid": grant.session.id,
        "scope": grant.scopes.text,
    }
    return sign_hs512(claims, store().keys(grant.realm)), expires - now


def token_response(grant: Grant, *, refresh: bool = True, id_token: bool = True) -> dict[str, Any]:
    now = store().now()
    access_token, _ = build_access_token(grant, now)
    body: dict[str, Any] = {
        "access_token": access_token,
        "expires_in": access_lifespan(grant.realm, grant.client),
    }
    if refresh and grant.session is not None:
        refresh_token, refresh_in = build_refresh_token(grant, now)
        body["refresh_expires_in"] = refresh_in
        body["refresh_token"] = refresh_token
    else:
        body["refresh_expires_in"] = 0
    body["token_type"] = "Bearer"
    if grant.scopes.openid and id_token:
        body["id_token"] = build_id_token(grant, access_token, now)
    body["not-before-policy"] = 0
    if grant.session is not None:
        body["session_state"] = grant.session.id
    body["scope"] = grant.scopes.text
    return body


def check_access_token(realm: Realm, token: str | None) -> dict[str, Any] | None:
    """Claims of a live access token issued by ``realm``, else None."""
    if not token:
        return None
    claims = verify(token, store().keys(realm))
    if claims is None or claims.get("typ") != "Bearer":
        return None
    if claims.get("iss") != issuer(realm.name):
        return None
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= store().now():
        return None
    if claims.get("jti") in realm.revoked_token_ids:
        return None
    user = realm.users.get(str(claims.get("sub")))
    if user is None or not user.enabled:
        return None
    if claims.get("sid") is not None and active_session(realm, str(claims["sid"])) is None:
        return None
    return claims
