"""``GET|POST …/protocol/openid-connect/auth``: request validation, SSO re-use, the first page."""

from __future__ import annotations

import re

from flask import Blueprint, request
from werkzeug.wrappers import Response

from .http_utils import store
from .login_flow import (
    error_to_client,
    issue_code,
    new_flow,
    remember_flow_cookie,
    sso_session,
)
from .login_pages import first_stage, render_stage
from .models import ClientSession
from .oidc_common import fail_page, realm_or_404, uri_matches
from .scopes import ScopeProblem, resolve

bp = Blueprint("kc_authorize", __name__)
CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
IMPLICIT = {"token", "id_token", "id_token token", "code id_token", "code token",
            "code id_token token"}  # fmt: skip
STANDARD_FLOW_DISABLED = (
    "Client is not allowed to initiate browser login with given response_type. "
    "Standard flow is disabled for the client."
)
IMPLICIT_DISABLED = (
    "Client is not allowed to initiate browser login with given response_type. "
    "Implicit flow is disabled for the client."
)


class _Reject(Exception):
    def __init__(self, error: str, description: str | None) -> None:
        super().__init__(error)
        self.error = error
        self.description = description


def _pkce(params: dict[str, str], required: str | None) -> None:
    challenge = params.get("code_challenge", "")
    method = params.get("code_challenge_method", "")
    if required in ("S256", "plain"):
        if not challenge:
            raise _Reject("invalid_request", "Missing parameter: code_challenge")
        if not method:
            raise _Reject("invalid_request", "Missing parameter: code_challenge_method")
        if method != required:
            raise _Reject("invalid_request", "Invalid parameter: code_challenge_method")
    if not challenge:
        if method:
            raise _Reject("invalid_request", "Missing parameter: code_challenge")
        return
    if not method:
        params["code_challenge_method"] = "plain"
    elif method not in ("S256", "plain"):
        raise _Reject("invalid_request", "Invalid parameter: code_challenge_method")
    if not CHALLENGE.match(challenge):
        raise _Reject("invalid_request", "Invalid parameter: code_challenge")


@bp.route("/realms/<realm_name>/protocol/openid-connect/auth", methods=["GET", "POST"])
def authorize(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    source = request.form if request.method == "POST" else request.args
    params = {key: source.get(key, "") for key in source}
    client_id = params.get("client_id", "")
    if not client_id:
        fail_page("Missing parameters: client_id", 400, realm)
    client = store().client_by_client_id(realm, client_id)
    if client is None:
        fail_page("Client not found.", 400, realm)
    if not client.enabled:
        fail_page("Login requester not enabled", 400, realm)
    if client.bearer_only:
        fail_page("Bearer-only applications are not allowed to initiate browser login", 400, realm)
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri:
        if not uri_matches(client, redirect_uri, client.redirect_uris):
            fail_page("Invalid parameter: redirect_uri", 400, realm)
        params["redirect_uri_sent"] = "1"
    else:
        exact = [u for u in client.redirect_uris if "*" not in u]
        if len(client.redirect_uris) != 1 or len(exact) != 1:
            fail_page("Invalid parameter: redirect_uri", 400, realm)
        params["redirect_uri"] = exact[0]
    mode = params.get("response_mode") or "query"
    if mode not in ("query", "fragment", "form_post"):
        params["response_mode"] = mode = "query"
        return error_to_client(realm, params["redirect_uri"], mode, params.get("state"),
                               "invalid_request", "Invalid parameter: response_mode")  # fmt: skip
    params["response_mode"] = mode
    try:
        _validate(params, client.standard_flow, client.implicit_flow)
        try:
            resolve(realm, client, params.get("scope"))
        except ScopeProblem as exc:
            raise _Reject("invalid_scope", str(exc)) from exc
        _pkce(params, client.attributes.get("pkce.code.challenge.method"))
    except _Reject as reject:
        return error_to_client(realm, params["redirect_uri"], mode, params.get("state"),
                               reject.error, reject.description)  # fmt: skip
    prompts = params.get("prompt", "").split()
    session = sso_session(realm)
    if session is not None and "login" not in prompts and not _too_old(params, session.auth_time):
        previous = session.clients.get(client.client_id)
        session.clients[client.client_id] = ClientSession(
            client.client_id, previous.org_pin if previous else None
        )
        session.last_refresh = store().now()
        return issue_code(realm, params, client.client_id, session, "0")
    if "none" in prompts:
        return error_to_client(realm, params["redirect_uri"], mode, params.get("state"),
                               "login_required", None)  # fmt: skip
    flow = new_flow(realm, client.client_id, params, first_stage(realm))
    return remember_flow_cookie(render_stage(realm, flow), realm, flow)


def _validate(params: dict[str, str], standard_flow: bool, implicit_flow: bool) -> None:
    response_type = " ".join(sorted(params.get("response_type", "").split(), key=_rt_order))
    if not response_type:
        raise _Reject("invalid_request", "Missing parameter: response_type")
    if response_type in IMPLICIT:
        if implicit_flow:
            raise _Reject("unsupported_response_type", "Implicit flow is not emulated")
        raise _Reject("unauthorized_client", IMPLICIT_DISABLED)
    if response_type != "code":
        raise _Reject("unsupported_response_type", None)
    if not standard_flow:
        raise _Reject("unauthorized_client", STANDARD_FLOW_DISABLED)


def _rt_order(value: str) -> int:
    return {"code": 0, "id_token": 1, "token": 2}.get(value, 3)


def _too_old(params: dict[str, str], auth_time: int) -> bool:
    raw = params.get("max_age", "")
    if not raw.isdigit():
        return False
    return store().now() - auth_time > int(raw)
