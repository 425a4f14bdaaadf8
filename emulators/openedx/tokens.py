"""Issuing and resolving access tokens: signed JWTs (``token_type=jwt``) and opaque Bearer tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError
from joserfc.jwk import OctKey

from .dates import now
from .errors import ApiError
from .models import User
from .store import Store

DEFAULT_SCOPE = "read write email profile"
_SECRET_META = "jwt_signing_secret"

_NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
_BAD_JWT = {"detail": "Error decoding token."}
_EXPIRED_JWT = {"detail": "Signature has expired."}
_NO_SUCH_TOKEN = {
    "error_code": "token_nonexistent",
    "developer_message": "The provided access token does not match any valid tokens.",
}
_EXPIRED_TOKEN = {
    "error_code": "token_expired",
    "developer_message": "The provided access token has expired and is no longer valid.",
}
_WWW_AUTHENTICATE = {"WWW-Authenticate": 'JWT realm="api"'}


def unauthorized(body: dict[str, Any] | None = None) -> ApiError:
    """A 401 in the shape of edX's authentication classes."""
    return ApiError(401, body or _NOT_PROVIDED, dict(_WWW_AUTHENTICATE))


@dataclass(frozen=True)
class IssuedToken:
    """What the token endpoint answers."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    refresh_token: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return body


class TokenService:
    """Signs JWTs with a per-database HS256 key and keeps opaque tokens in the store."""

    def __init__(
        self, store: Store, ttl: int, issuer: str = "http://openedx-emulator/oauth2"
    ) -> None:
        self._store = store
        self.ttl = ttl
        self.issuer = issuer
        secret = store.get_meta(_SECRET_META)
        if secret is None:
            secret = secrets.token_hex(32)
            store.set_meta(_SECRET_META, secret)
        self._key = OctKey.import_key(bytes.fromhex(secret))

    def issue(
        self,
        user: User,
        client_id: str,
        grant_type: str,
        as_jwt: bool,
        scope: str = DEFAULT_SCOPE,
        with_refresh: bool = False,
    ) -> IssuedToken:
        """A JWT or an opaque token for ``user``; optionally with an opaque refresh token."""
        issued = now()
        expires = issued + timedelta(seconds=self.ttl)
        if as_jwt:
            claims = {
                "iss": self.issuer,
                "aud": "lms-key",
                "sub": f"emulator-user-{user.id}",
                "preferred_username": user.username,
                "email": user.email,
                "name": user.name,
                "administrator": user.is_staff,
                "scopes": scope.split(),
                "grant_type": grant_type.replace("_", "-"),
                "filters": [],
                "is_restricted": False,
                "version": "1.2.0",
                "jti": secrets.token_hex(8),
                "iat": int(issued.timestamp()),
                "exp": int(expires.timestamp()),
            }
            access = jwt.encode({"alg": "HS256"}, claims, self._key)
            token_type = "JWT"
        else:
            access = secrets.token_urlsafe(22)
            self._store.save_token(access, "access", user.username, client_id, scope, expires)
            token_type = "Bearer"
        refresh = None
        if with_refresh:
            refresh = secrets.token_urlsafe(22)
            self._store.save_token(
                refresh, "refresh", user.username, client_id, scope, issued + timedelta(days=30)
            )
        return IssuedToken(access, token_type, self.ttl, scope, refresh)

    def use_refresh_token(self, token: str, client_id: str) -> str | None:
        """Consume a refresh token (they rotate); the username it belongs to, or ``None``."""
        with self._store.atomic():
            record = self._store.get_token(token, "refresh")
            if record is None or record["client_id"] != client_id:
                return None
            self._store.delete_token(token)
            if record["expires_at"] is None or record["expires_at"] < now():
                return None
            return str(record["username"])

    def username_for(self, token: str) -> str:
        """The username a presented access token belongs to; raises a 401 :class:`ApiError`."""
        if token.count(".") == 2:
            try:
                decoded = jwt.decode(token, self._key, algorithms=["HS256"])
            except Exception as exc:  # any malformed or foreign token
                raise unauthorized(_BAD_JWT) from exc
            try:
                jwt.JWTClaimsRegistry(exp={"essential": True}).validate(decoded.claims)
            except ExpiredTokenError as exc:
                raise unauthorized(_EXPIRED_JWT) from exc
            except Exception as exc:
                raise unauthorized(_BAD_JWT) from exc
            username = decoded.claims.get("preferred_username")
            if not isinstance(username, str):
                raise unauthorized(_BAD_JWT)
            return username
        record = self._store.get_token(token, "access")
        if record is None:
            raise unauthorized(_NO_SUCH_TOKEN)
        if record["expires_at"] is None or record["expires_at"] < now():
            raise unauthorized(_EXPIRED_TOKEN)
        return str(record["username"])
