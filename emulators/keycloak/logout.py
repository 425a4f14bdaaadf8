"""``…/protocol/openid-connect/logout``: RP-initiated logout and python-keycloak's back-channel form."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, render_template, request
from werkzeug.wrappers import Response

from .client_auth import authenticate_client
from .http_utils import base_url, empty, fail_error, issuer, store
from .jwt_codec import verify
from .login_flow import clear_sso_cookies, sso_session
from .models import Client, Realm
from .oidc_common import fail_page, post_logout_uris, realm_or_404, uri_matches
from .sessions import active_session, end_session

bp = Blueprint("kc_logout", __name__)
LOGOUT_PATH = "/realms/<realm_name>/protocol/openid-connect/logout"


def _params() -> dict[str, str]:
    source = request.form if request.method == "POST" else request.args
    keys = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales")
    return {key: source.get(key, "") for key in keys}


def _client_for(realm: Realm, params: dict[str, str]) -> tuple[Client | None, str | None]:
    """(client, sid from the hint) after checking ``id_token_hint`` and ``client_id``."""
    sid = None
    client = None
    if params["id_token_hint"]:
        claims = verify(params["id_token_hint"], store().keys(realm))
        if claims is None or claims.get("typ") != "ID" or claims.get("iss") != issuer(realm.name):
            fail_page("Invalid parameter: id_token_hint", 400, realm)
        client = store().client_by_client_id(realm, str(claims.get("azp", "")))
        if params["client_id"] and client is not None and params["client_id"] != client.client_id:
            fail_page("Invalid parameter: client_id", 400, realm)
        sid = claims.get("sid")
    elif params["client_id"]:
        client = store().client_by_client_id(realm, params["client_id"])
    if params["client_id"] and client is None:
        fail_page("Invalid parameter: client_id", 400, realm)
    if params["post_logout_redirect_uri"]:
        if client is None:
            fail_page("Missing parameters: id_token_hint", 400, realm)
        uri = params["post_logout_redirect_uri"]
        if not uri_matches(client, uri, post_logout_uris(client)):
            fail_page("Invalid redirect uri", 400, realm)
    return client, (str(sid) if sid else None)


def _finish(realm: Realm, params: dict[str, str], sid: str | None) -> Response:
    session = active_session(realm, sid) if sid else None
    session = session or sso_session(realm)
    if session is not None:
        end_session(realm, session)
    uri = params["post_logout_redirect_uri"]
    if uri:
        query = urlencode({"state": params["state"]}) if params["state"] else ""
        response = Response(b"", status=302)
        response.headers["Location"] = (
            f"{uri}{('&' if '?' in uri else '?') + query if query else ''}"
        )
    else:
        html = render_template(
            "logged-out.html", realm=realm, title=realm.display_name or realm.name
        )
        response = Response(html, status=200, mimetype="text/html")
    clear_sso_cookies(response, realm)
    return response


@bp.route(LOGOUT_PATH, methods=["GET", "POST"])
def logout(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    if request.method == "POST" and "refresh_token" in request.form:
        return _backchannel(realm)
    params = _params()
    _, sid = _client_for(realm, params)
    if not params["id_token_hint"]:
        html = render_template(
            "logout-confirm.html",
            realm=realm,
            title=realm.display_name or realm.name,
            action=f"{base_url()}/realms/{realm.name}/protocol/openid-connect/logout/logout-confirm",
            params={k: v for k, v in params.items() if v},
        )
        return Response(html, status=200, mimetype="text/html")
    return _finish(realm, params, sid)


@bp.post(LOGOUT_PATH + "/logout-confirm")
def logout_confirm(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    params = _params()
    _, sid = _client_for(realm, params)
    return _finish(realm, params, sid)


def _backchannel(realm: Realm) -> Response:
    client = authenticate_client(realm)
    claims = verify(request.form.get("refresh_token", ""), store().keys(realm))
    if claims is None or claims.get("typ") != "Refresh":
        fail_error(400, "invalid_grant", "Invalid refresh token")
    if claims.get("azp") != client.client_id:
        fail_error(400, "invalid_grant", "Invalid refresh token")
    session = active_session(realm, claims.get("sid"))
    if session is not None:
        end_session(realm, session)
    return empty(204)
