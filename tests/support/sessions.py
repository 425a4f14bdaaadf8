"""Signing in without Keycloak: a test client's session set directly, or the signed session cookie a
signed-in browser would send to a live portal (forged with the app's own key)."""

from __future__ import annotations

import re

from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import User


def sign_in(client: FlaskClient, user: User | int | None, *, clear: bool = False) -> FlaskClient:
    """Make ``client`` signed in as ``user`` (a user, or a user's id), or with None as nobody;
    ``clear`` empties the session first. Returns the client.

    Requests share the test's app context, where Flask-Login caches the current user: forget it,
    so the next request loads whoever this is. A user's session carries their session version as
    stored now (a cookie from before their last sign-out no longer works); an id alone stands for
    a user who never signed out."""
    if has_app_context():
        g.pop("_login_user", None)
    with client.session_transaction() as session:
        if clear:
            session.clear()
        if user is not None:
            session["_user_id"] = str(user if isinstance(user, int) else user.id)
            session["_fresh"] = True
            if isinstance(user, User):
                session["_sv"] = stored_session_version(user)
    return client


def csrf_token_of(page: str) -> str:
    """The CSRF token a page's form carries."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def stored_session_version(user: User) -> int:
    """The user's session version as stored now (signing out bumps it, maybe through another
    app's session than the one ``user`` was loaded in)."""
    with db.session.no_autoflush:
        return int(db.session.scalar(select(User.session_version).where(User.id == user.id)) or 0)


def signed_in(app: Flask, user: User | int) -> FlaskClient:
    """A new test client of ``app``, signed in as ``user`` (a user, or a user's id)."""
    return sign_in(app.test_client(), user)


def signed_session(app: Flask, user_id: int) -> str:
    """The value of the session cookie of a signed-in ``user_id``, signed with ``app``'s key."""
    return str(
        app.session_interface.get_signing_serializer(app).dumps(
            {"_user_id": str(user_id), "_fresh": True}
        )
    )


def session_cookie(app: Flask, user_id: int) -> dict[str, str]:
    """The signed session cookie of a signed-in learner, for requests to a live portal."""
    return {"session": signed_session(app, user_id)}


__all__ = [
    "csrf_token_of",
    "session_cookie",
    "sign_in",
    "signed_in",
    "signed_session",
    "stored_session_version",
]
