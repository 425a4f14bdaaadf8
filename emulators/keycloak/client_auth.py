"""Client authentication at the token, introspection, revocation and logout endpoints."""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import unquote_plus

from flask import request

from .http_utils import fail_error, store
from .models import Client, Realm

INVALID_CLIENT = "Invalid client or Invalid client credentials"


def _basic_credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        fail_error(400, "invalid_request", "Invalid Authorization header")
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        fail_error(400, "invalid_request", "Invalid Authorization header")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Base64
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(realm: Realm) -> Client:
    """``client_secret_basic`` or ``client_secret_post``; public clients send only client_id."""
    basic = _basic_credentials()
    if basic is not None:
        client_id, secret = basic
        form_id = request.form.get("client_id")
        if form_id and form_id != client_id:
            fail_error(400, "invalid_request", "Parameter client_id does not match")
    else:
        client_id = request.form.get("client_id", "")
        secret = request.form.get("client_secret", "")
    if not client_id:
        fail_error(400, "invalid_request", "Missing parameter: client_id")
    client = store().client_by_client_id(realm, client_id)
    if client is None or not client.enabled:
        fail_error(401, "unauthorized_client", INVALID_CLIENT)
    if client.bearer_only:
        fail_error(400, "unauthorized_client", "Bearer-only not allowed")
    if client.public_client:
        return client
    if not secret or not client.secret or not hmac.compare_digest(secret, client.secret):
        fail_error(401, "unauthorized_client", INVALID_CLIENT)
    return client
