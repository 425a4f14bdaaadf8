"""Signing in through Keycloak with OpenID Connect (authlib): code flow with PKCE S256, state and nonce.

Everything comes from the realm's discovery document, so pointing the portal at a real Keycloak or at
the emulator is a configuration change only (``KEYCLOAK_SERVER_URL``, ``KEYCLOAK_REALM``, client id and
secret). See ``shared/specs/keycloak.md`` sections 1, 4 and 8.1.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry, extract_compact

CLIENT_NAME = "keycloak"
EXTENSION = "portal_oauth"


class SignInError(Exception):
    """Sign-in could not be completed; ``message`` is safe to show."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def realm_url(settings: Any) -> str:
    return f"{settings.keycloak_server_url.rstrip('/')}/realms/{settings.keycloak_realm}"


def init_oauth(app: Flask) -> None:
    """One authlib registry per app (a module-level one would keep the first app's client)."""
    settings = app.config["PORTAL"]
    oauth = OAuth(app)
    app.extensions[EXTENSION] = oauth
    oauth.register(
        CLIENT_NAME,
        client_id=settings.keycloak_client_id,
        client_secret=settings.keycloak_client_secret,
        server_metadata_url=f"{realm_url(settings)}/.well-known/openid-configuration",
        client_kwargs={
            "scope": f"openid email profile {settings.keycloak_org_scope}".strip(),
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            "default_timeout": settings.http_timeout_seconds,
        },
        overwrite=True,
    )


def client() -> Any:
    return getattr(current_app.extensions[EXTENSION], CLIENT_NAME)


def issuer() -> str:
    return str(client().load_server_metadata()["issuer"])


def realm_roles(access_token: str) -> list[str]:
    """Realm roles from the access token (the ID token carries none by default), signature checked."""
    keys = KeySet.import_key_set(client().fetch_jwk_set())
    token = jwt.decode(access_token, keys, registry=JWSRegistry(algorithms=["RS256"]))
    jwt.JWTClaimsRegistry(
        leeway=120, iss={"essential": True, "value": issuer()}, exp={"essential": True}
    ).validate(token.claims)
    realm_access = token.claims.get("realm_access")
    roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
    return [r for r in roles or [] if isinstance(r, str)]


def staff_role() -> str:
    return str(current_app.config["PORTAL"].keycloak_staff_role)


# -- back-channel logout (OpenID Connect Back-Channel Logout 1.0, section 2.6) ----------------------

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# A logout token is sent the moment the session ends: one older than this is refused.
LOGOUT_TOKEN_MAX_AGE_SECONDS = 300
CLOCK_LEEWAY_SECONDS = 60
_MAX_TOKEN_LENGTH = 8192
_MAX_ID_LENGTH = 255


class LogoutTokenError(Exception):
    """The logout token is not one Keycloak made for this client now; ``reason`` is for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LogoutToken:
    jti: str
    sub: str | None
    sid: str | None
    issued_at: int

    @property
    def remember_until(self) -> int:
        """Until when its ``jti`` must be remembered: afterwards the token is too old anyway."""
        return self.issued_at + LOGOUT_TOKEN_MAX_AGE_SECONDS + CLOCK_LEEWAY_SECONDS


def _decode_signed(token: str) -> dict[str, Any]:
    """The claims, once the RS256 signature checks out against the realm's JWKS (fetched again
    once if the key id is unknown: Keycloak rotated its keys)."""
    registry = JWSRegistry(algorithms=["RS256"])
    for force in (False, True):
        keys = KeySet.import_key_set(client().fetch_jwk_set(force=force))
        try:
            return dict(jwt.decode(token, keys, registry=registry).claims)
        except InvalidKeyIdError as exc:
            if force:
                raise LogoutTokenError(f"signature: {exc.error}") from exc
        except JoseError as exc:
            raise LogoutTokenError(f"signature or format: {exc.error}") from exc
        except (ValueError, TypeError) as exc:
            raise LogoutTokenError(f"unreadable token: {type(exc).__name__}") from exc
    raise LogoutTokenError("no key")  # pragma: no cover - the loop returns or raises


def _short_string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_LENGTH:
        raise LogoutTokenError(f"{name} is not a short string")
    return value


def verify_logout_token(token: str, *, now: float | None = None) -> LogoutToken:
    """Validate a back-channel logout token as section 2.6 of the specification asks: the realm's
    signature, ``iss``, ``aud`` (this client), a recent ``iat``, ``exp`` if present, the logout
    event, no ``nonce``, and a ``sub`` and/or ``sid``. Whether its ``jti`` was seen before is the
    caller's to check. Raises ``LogoutTokenError``."""
    if not token or len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise LogoutTokenError("not a compact JWS")
    try:  # malformed input is refused before any key is fetched from Keycloak
        header = extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise LogoutTokenError("not a compact JWS") from exc
    if header.get("alg") != "RS256":
        raise LogoutTokenError("not signed with RS256")
    claims = _decode_signed(token)
    moment = time.time() if now is None else now
    if claims.get("iss") != issuer():
        raise LogoutTokenError("wrong issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    client_id = current_app.config["PORTAL"].keycloak_client_id
    if not isinstance(audiences, list) or client_id not in audiences:
        raise LogoutTokenError("wrong audience")
    issued_at = claims.get("iat")
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        raise LogoutTokenError("no iat")
    if issued_at > moment + CLOCK_LEEWAY_SECONDS:
        raise LogoutTokenError("iat in the future")
    if issued_at < moment - LOGOUT_TOKEN_MAX_AGE_SECONDS - CLOCK_LEEWAY_SECONDS:
        raise LogoutTokenError("too old")
    expires = claims.get("exp")
    if expires is not None and (
        not isinstance(expires, int | float) or expires < moment - CLOCK_LEEWAY_SECONDS
    ):
        raise LogoutTokenError("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise LogoutTokenError("no back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenError("carries a nonce")
    jti = _short_string(claims, "jti")
    if jti is None:
        raise LogoutTokenError("no jti")
    sub, sid = _short_string(claims, "sub"), _short_string(claims, "sid")
    if sub is None and sid is None:
        raise LogoutTokenError("neither sub nor sid")
    return LogoutToken(jti=jti, sub=sub, sid=sid, issued_at=int(issued_at))
