"""User sessions (SSO), their end, and back-channel logout notifications to clients."""

from __future__ import annotations

import logging
import secrets

import requests
from flask import g, has_request_context

from .http_utils import issuer, store
from .jwt_codec import sign_rs256
from .models import Realm, UserSession, new_id

log = logging.getLogger(__name__)
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
BACKCHANNEL_TIMEOUT = 3.0


def start_session(realm: Realm, user_id: str, ip_address: str = "127.0.0.1") -> UserSession:
    now = store().now()
    session = UserSession(
        id=new_id(), user_id=user_id, auth_time=now, started=now, last_refresh=now,
        ip_address=ip_address,
    )  # fmt: skip
    realm.sessions[session.id] = session
    return session


def active_session(realm: Realm, sid: str | None) -> UserSession | None:
    """The session if it is still alive (not logged out, not idle or too old, user enabled)."""
    if not sid:
        return None
    session = realm.sessions.get(sid)
    if session is None or not session.active:
        return None
    now = store().now()
    if now - session.last_refresh > realm.sso_idle or now - session.started > realm.sso_max:
        end_session(realm, session)
        return None
    user = realm.users.get(session.user_id)
    if user is None or not user.enabled:
        return None
    return session


def session_expiry(realm: Realm, session: UserSession) -> int:
    """When the session's refresh tokens stop working (idle timeout capped by max lifespan)."""
    now = store().now()
    return min(now + realm.sso_idle, session.started + realm.sso_max)


def end_session(realm: Realm, session: UserSession) -> None:
    """Log the session out and queue a back-channel logout token for each client that asks."""
    if not session.active:
        return
    session.active = False
    realm.sessions.pop(session.id, None)
    for code in [c for c, item in realm.codes.items() if item.session_id == session.id]:
        realm.codes.pop(code, None)
    if not has_request_context():
        return
    for client_session in session.clients.values():
        client = store().client_by_client_id(realm, client_session.client_id)
        if client is None:
            continue
        url = client.attributes.get("backchannel.logout.url")
        if not url:
            continue
        now = store().now()
        claims = {
            "iat": now,
            "exp": now + 120,
            "jti": new_id(),
            "iss": issuer(realm.name),
            "aud": client.client_id,
            "sub": session.user_id,
            "typ": "Logout",
            "events": {BACKCHANNEL_EVENT: {}},
        }
        if client.attributes.get("backchannel.logout.session.required", "true") == "true":
            claims["sid"] = session.id
        token = sign_rs256(claims, store().keys(realm))
        pending: list[tuple[str, str]] = g.setdefault("kc_backchannel", [])
        pending.append((url, token))


def end_user_sessions(realm: Realm, user_id: str) -> None:
    for session in [s for s in realm.sessions.values() if s.user_id == user_id]:
        end_session(realm, session)


def deliver_backchannel_logouts() -> None:
    """Send queued logout tokens; runs after the view, outside the state lock."""
    pending: list[tuple[str, str]] = g.pop("kc_backchannel", [])
    for url, token in pending:
        try:
            response = requests.post(url, data={"logout_token": token}, timeout=BACKCHANNEL_TIMEOUT)
            if response.status_code >= 400:
                log.warning("back-channel logout to %s answered %s", url, response.status_code)
        except requests.RequestException as exc:
            log.warning("back-channel logout to %s failed: %s", url, exc)


def new_code() -> str:
    return f"{secrets.token_urlsafe(24)}.{new_id()}.{new_id()}"
