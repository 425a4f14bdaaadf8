"""Keycloak's back-channel logout (OpenID Connect Back-Channel Logout 1.0; b2b-rules section 10):
a session Keycloak ends centrally ends in the portal at once, on every web process.

The portal session remembers the Keycloak session (``sid``) it was signed in through. A logout
token naming a ``sid`` records that session as ended (``EndedSsoSession``): each signed-in request
checks its own ``sid`` against that table (one primary-key lookup). A token naming only a ``sub``
bumps that user's session version, which the user loader already checks, so all their portal
sessions end. Each token's ``jti`` is kept (``UsedLogoutToken``) until the token would be too old
to accept, so a replay is refused, whichever process it reaches."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, delete, select

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.integrations.keycloak_oidc import LogoutToken
from portal.models import User, utcnow
from portal.models.users import EndedSsoSession, UsedLogoutToken
from portal.services.audit import record_event

# Built once: every signed-in request with a Keycloak session runs it.
_SID_ENDED = select(EndedSsoSession.sid).where(EndedSsoSession.sid == bindparam("sid"))


class ReplayedLogoutToken(DomainError):
    def __init__(self) -> None:
        super().__init__("This logout token was already used.", code="logout_token_replayed")


def _purge(now: dt.datetime) -> None:
    db.session.execute(delete(UsedLogoutToken).where(UsedLogoutToken.expires_at < now))
    db.session.execute(delete(EndedSsoSession).where(EndedSsoSession.expires_at < now))


def end_sso_sessions(token: LogoutToken, *, keep_ended_for: dt.timedelta) -> dict[str, object]:
    """End the portal sessions a verified logout token names; raises ``ReplayedLogoutToken`` if
    its ``jti`` was accepted before. ``keep_ended_for`` is how long an ended ``sid`` is kept:
    as long as a portal session can live. Flushes; the caller commits (a unique-key failure on
    the flush is a concurrent replay)."""
    now = utcnow()
    _purge(now)
    if db.session.get(UsedLogoutToken, token.jti) is not None:
        raise ReplayedLogoutToken()
    db.session.add(
        UsedLogoutToken(
            jti=token.jti, expires_at=dt.datetime.fromtimestamp(token.remember_until, dt.UTC)
        )
    )
    db.session.flush()
    user = (
        db.session.scalar(select(User).where(User.keycloak_sub == token.sub)) if token.sub else None
    )
    outcome: dict[str, object] = {"sid": token.sid, "sub": token.sub}
    if token.sid:
        if db.session.get(EndedSsoSession, token.sid) is None:
            db.session.add(EndedSsoSession(sid=token.sid, expires_at=now + keep_ended_for))
        outcome["ended"] = "session"
    elif user is not None:
        user.session_version = (user.session_version or 0) + 1
        outcome["ended"] = "all sessions"
    else:
        outcome["ended"] = "nothing (unknown user)"
    record_event(
        "user.sso_logout",
        "user",
        user.id if user is not None else None,
        after=outcome,
        reason="Keycloak back-channel logout",
        actor_kind="system",
    )
    db.session.flush()
    return outcome


def sso_session_ended(sid: str) -> bool:
    """Whether Keycloak ended the session ``sid`` (one primary-key lookup)."""
    return db.session.execute(_SID_ENDED, {"sid": sid}).first() is not None
