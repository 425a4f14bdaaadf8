"""Pieces shared by the OIDC endpoints: realm lookup, HTML error pages, redirect-URI matching."""

from __future__ import annotations

from typing import NoReturn
from urllib.parse import urlsplit

from flask import render_template
from werkzeug.wrappers import Response

from .http_utils import KcError, fail, store
from .models import Client, Realm


def realm_or_404(name: str) -> Realm:
    realm = store().realm(name)
    if realm is None or not realm.enabled:
        fail(404, {"error": "Realm does not exist"})
    return realm


def error_page(message: str, status: int = 400, realm: Realm | None = None) -> Response:
    html = render_template("error.html", message=message, realm=realm, title="We are sorry...")
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store, must-revalidate, max-age=0"
    return response


def fail_page(message: str, status: int = 400, realm: Realm | None = None) -> NoReturn:
    raise KcError(error_page(message, status, realm))


def _resolve(client: Client, registered: str) -> str:
    if registered.startswith("/") and client.root_url:
        return client.root_url.rstrip("/") + registered
    return registered


def uri_matches(client: Client, uri: str, registered_uris: list[str]) -> bool:
    """Keycloak's redirect URI rule: exact match, or prefix match for a trailing ``*``."""
    if not uri or "#" in uri:
        return False
    parts = urlsplit(uri)
    if not parts.scheme:
        return False
    for registered in registered_uris:
        pattern = _resolve(client, registered.strip())
        if not pattern:
            continue
        if pattern == "*":
            return True
        if pattern.endswith("*"):
            prefix = pattern[:-1]
            if uri.startswith(prefix) or (prefix.endswith("/") and uri == prefix[:-1]):
                return True
        elif uri == pattern:
            return True
    return False


def post_logout_uris(client: Client) -> list[str]:
    """``post.logout.redirect.uris`` (``##``-separated); ``+`` means the redirect URIs."""
    raw = client.attributes.get("post.logout.redirect.uris")
    items = raw.split("##") if raw else ["+"]
    result: list[str] = []
    for item in items:
        if item.strip() == "+":
            result.extend(client.redirect_uris)
        elif item.strip():
            result.append(item.strip())
    return result
