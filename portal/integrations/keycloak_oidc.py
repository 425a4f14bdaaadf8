"""Signing in through Keycloak with OpenID Connect (authlib): code flow with PKCE S256, state and nonce.

Everything comes from the realm's discovery document, so pointing the portal at a real Keycloak or at
the emulator is a configuration change only (``KEYCLOAK_SERVER_URL``, ``KEYCLOAK_REALM``, client id and
secret). See ``shared/specs/keycloak.md`` sections 1, 4 and 8.1.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

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
