"""``POST /oauth2/access_token`` and request authentication (``Bearer``/``JWT``/``jwt`` headers)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote

from flask import Blueprint, Response, g, request

from .errors import PERMISSION_DENIED, ApiError, json_response
from .faults import fault_point
from .models import User
from .passwords import check_password
from .state import emulator
from .tokens import unauthorized

bp = Blueprint("oauth2", __name__)

GRANTS = ("client_credentials", "password", "refresh_token")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user: User

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def is_staff(self) -> bool:
        return self.user.is_staff


def _oauth_error(status: int, error: str, description: str | None = None) -> ApiError:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return ApiError(status, body, dict(_NO_STORE))


def _client_credentials() -> tuple[str, str | None]:
    """Client id and secret from HTTP Basic or the form (Basic wins, as in oauthlib)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _oauth_error(401, "invalid_client") from exc
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return request.form.get("client_id", ""), request.form.get("client_secret")


@bp.post("/oauth2/access_token")
@bp.post("/oauth2/access_token/")
@fault_point("token")
def access_token() -> Response:
    """The three grants of edX's DOT setup; ``token_type=jwt`` switches the access token to a JWT."""
    emu = emulator()
    settings = emu.settings
    form = request.form  # oauthlib only reads form bodies; anything else is an empty request
    grant_type = form.get("grant_type", "")
    if not grant_type:
        raise _oauth_error(400, "invalid_request", "Request is missing grant type.")
    if grant_type not in GRANTS:
        raise _oauth_error(400, "unsupported_grant_type")
    client_id, secret = _client_credentials()
    if client_id == settings.client_id:
        if secret != settings.client_secret:
            raise _oauth_error(401, "invalid_client")
    elif client_id == settings.public_client_id and settings.public_client_id:
        if grant_type == "client_credentials":
            raise _oauth_error(401, "invalid_client")
    else:
        raise _oauth_error(401, "invalid_client")

    store = emu.store
    user: User | None
    if grant_type == "client_credentials":
        user = store.get_user(settings.service_username)
    elif grant_type == "password":
        username, password = form.get("username", ""), form.get("password", "")
        if not username or not password:
            raise _oauth_error(400, "invalid_request", "Request is missing username parameter.")
        user = store.get_user(username) or store.get_user_by_email(username)
        if user is None or not check_password(password, user.password_hash):
            raise _oauth_error(400, "invalid_grant", "Invalid credentials given.")
    else:
        refresh = form.get("refresh_token", "")
        owner = emu.tokens.use_refresh_token(refresh, client_id) if refresh else None
        if owner is None:
            raise _oauth_error(400, "invalid_grant")
        user = store.get_user(owner)
    if user is None:
        raise _oauth_error(400, "invalid_grant")
    issued = emu.tokens.issue(
        user,
        client_id,
        grant_type,
        as_jwt=form.get("token_type", "").lower() == "jwt",
        with_refresh=grant_type != "client_credentials",
    )
    return json_response(issued.as_dict(), 200, dict(_NO_STORE))


def authenticate() -> Principal:
    """The caller behind ``Authorization: Bearer|JWT|jwt <token>``, else a 401 :class:`ApiError`."""
    cached: Principal | None = g.get("emulator_principal")
    if cached is not None:
        return cached
    parts = request.headers.get("Authorization", "").split()
    if not parts or parts[0].lower() not in ("bearer", "jwt"):
        raise unauthorized()
    if len(parts) == 1:
        raise unauthorized({"detail": "Invalid token header. No credentials provided."})
    if len(parts) > 2:
        raise unauthorized(
            {"detail": "Invalid token header. Token string should not contain spaces."}
        )
    emu = emulator()
    username = emu.tokens.username_for(parts[1])
    user = emu.store.get_user(username)
    if user is None:
        raise unauthorized({"detail": "User retrieval failed."})
    principal = Principal(user)
    g.emulator_principal = principal
    return principal


def optional_principal() -> Principal | None:
    """The caller if an ``Authorization`` header is present (a bad one is still a 401)."""
    if not request.headers.get("Authorization"):
        return None
    return authenticate()


def require_staff() -> Principal:
    """An authenticated global-staff caller (DRF ``IsAdminUser``): 401 or 403 otherwise."""
    principal = authenticate()
    if not principal.is_staff:
        raise ApiError(403, PERMISSION_DENIED)
    return principal
