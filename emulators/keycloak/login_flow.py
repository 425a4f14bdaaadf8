"""The browser login's plumbing: SSO cookies, pending login flows, the redirect back to the client."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from flask import render_template, request
from werkzeug.wrappers import Response

from .http_utils import base_url, issuer, store
from .jwt_codec import hmac_tag
from .models import AuthCode, ClientSession, LoginFlow, Realm, User, UserSession, new_id
from .oidc_common import fail_page
from .sessions import active_session, new_code, start_session

IDENTITY_COOKIE = "KEYCLOAK_IDENTITY"
SESSION_COOKIE = "KEYCLOAK_SESSION"
AUTH_SESSION_COOKIE = "AUTH_SESSION_ID"
FLOW_LIFESPAN = 1800


def cookie_path(realm: Realm) -> str:
    return f"/realms/{realm.name}/"


def sso_session(realm: Realm) -> UserSession | None:
    raw = request.cookies.get(IDENTITY_COOKIE, "")
    sid, _, tag = raw.partition(".")
    if not sid or tag != hmac_tag(store().keys(realm), sid):
        return None
    return active_session(realm, sid)


def set_sso_cookies(response: Response, realm: Realm, session: UserSession) -> None:
    path = cookie_path(realm)
    tag = hmac_tag(store().keys(realm), session.id)
    response.set_cookie(IDENTITY_COOKIE, f"{session.id}.{tag}", path=path, httponly=True,
                        samesite="Lax")  # fmt: skip
    digest = hashlib.sha256(session.id.encode("ascii")).hexdigest()
    response.set_cookie(SESSION_COOKIE, digest, path=path, samesite="Lax")


def clear_sso_cookies(response: Response, realm: Realm) -> None:
    for name in (IDENTITY_COOKIE, SESSION_COOKIE):
        response.delete_cookie(name, path=cookie_path(realm))


def new_flow(realm: Realm, client_id: str, params: dict[str, str], stage: str) -> LoginFlow:
    root_id = request.cookies.get(AUTH_SESSION_COOKIE) or new_id()
    now = store().now()
    for tab_id in [t for t, f in realm.flows.items() if now - f.created > FLOW_LIFESPAN]:
        realm.flows.pop(tab_id, None)
    flow = LoginFlow(
        tab_id=new_id()[:11], root_id=root_id, client_id=client_id, params=params, created=now,
        stage=stage, attempted_username=params.get("login_hint") or None,
    )  # fmt: skip
    realm.flows[flow.tab_id] = flow
    return flow


def current_flow(realm: Realm) -> LoginFlow:
    """The flow named by ``tab_id``, checked against the browser's auth-session cookie."""
    root_id = request.cookies.get(AUTH_SESSION_COOKIE)
    if not root_id:
        fail_page(
            "Cookie not found. Please make sure cookies are enabled in your browser.", 400, realm
        )
    flow = realm.flows.get(request.args.get("tab_id", ""))
    if (
        flow is None
        or flow.root_id != root_id
        or flow.client_id != request.args.get("client_id")
        or store().now() - flow.created > FLOW_LIFESPAN
    ):
        fail_page("Your login attempt timed out. Login will start from the beginning.", 400, realm)
    return flow


def flow_query(flow: LoginFlow) -> str:
    return urlencode({"client_id": flow.client_id, "tab_id": flow.tab_id})


def action_url(realm: Realm, flow: LoginFlow, action: str = "authenticate") -> str:
    return f"{base_url()}/realms/{realm.name}/login-actions/{action}?{flow_query(flow)}"


def remember_flow_cookie(response: Response, realm: Realm, flow: LoginFlow) -> Response:
    response.set_cookie(AUTH_SESSION_COOKIE, flow.root_id, path=cookie_path(realm),
                        httponly=True, samesite="Lax")  # fmt: skip
    return response


def redirect_to_client(uri: str, params: list[tuple[str, str]], mode: str) -> Response:
    if mode == "form_post":
        html = render_template("form-post.html", action=uri, params=params, realm=None)
        return Response(html, status=200, mimetype="text/html")
    if mode == "fragment":
        location = f"{uri}#{urlencode(params)}"
    else:
        location = f"{uri}{'&' if '?' in uri else '?'}{urlencode(params)}"
    response = Response(b"", status=302)
    response.headers["Location"] = location
    return response


def error_to_client(
    realm: Realm, uri: str, mode: str, state: str | None, error: str, description: str | None
) -> Response:
    params = [("error", error)]
    if description:
        params.append(("error_description", description))
    if state:
        params.append(("state", state))
    params.append(("iss", issuer(realm.name)))
    return redirect_to_client(uri, params, mode)


def issue_code(
    realm: Realm, params: dict[str, str], client_id: str, session: UserSession, acr: str
) -> Response:
    """Store a single-use code and redirect back with ``state``, ``session_state``, ``iss``."""
    code = AuthCode(
        code=new_code(),
        client_id=client_id,
        session_id=session.id,
        redirect_uri=params["redirect_uri"],
        redirect_uri_sent=params.get("redirect_uri_sent") == "1",
        scope=params.get("scope", ""),
        nonce=params.get("nonce") or None,
        code_challenge=params.get("code_challenge") or None,
        code_challenge_method=params.get("code_challenge_method") or None,
        expires_at=store().now() + realm.access_code_lifespan,
        acr=acr,
    )
    realm.codes[code.code] = code
    out = []
    if params.get("state"):
        out.append(("state", params["state"]))
    out += [("session_state", session.id), ("iss", issuer(realm.name)), ("code", code.code)]
    response = redirect_to_client(params["redirect_uri"], out, params.get("response_mode", "query"))
    set_sso_cookies(response, realm, session)
    return response


BROKER_NOTES = ("identity_provider", "identity_provider_identity")


def finish_login(
    realm: Realm,
    flow: LoginFlow,
    user: User,
    org_pin: str | None,
    notes: dict[str, str] | None = None,
) -> Response:
    """The user is authenticated: (re)use the SSO session and send the code to the client.

    ``notes`` are the user-session notes this authentication sets: a brokered login passes
    ``identity_provider`` and ``identity_provider_identity``; a password login passes none, and
    re-authenticating with a password drops the notes of an earlier brokered login."""
    session = sso_session(realm)
    now = store().now()
    if session is None or session.user_id != user.id:
        session = start_session(realm, user.id, request.remote_addr or "127.0.0.1")
    else:
        session.auth_time = now
        session.last_refresh = now
    for name in BROKER_NOTES:
        session.notes.pop(name, None)
    session.notes.update(notes or {})
    session.clients[flow.client_id] = ClientSession(flow.client_id, org_pin)
    realm.flows.pop(flow.tab_id, None)
    return issue_code(realm, flow.params, flow.client_id, session, "1")
