"""Deny by default: every route needs a signed-in user unless it is on a short allowlist.
Roles are decorators that also load and pass the object they authorize."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, has_request_context, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import bindparam, select
from werkzeug.wrappers import Response

from portal.core.params import parse_id
from portal.extensions import db, login_manager
from portal.models import Membership, Organization, User

# Endpoints anyone may reach. Blueprints named here are public as a whole.
PUBLIC_ENDPOINTS = {
    "static",
    "core.home",
    "core.healthz",
    "core.favicon",
    "i18n.set_language",  # a visitor chooses the language before signing in, too
    # The payment provider posts these; neither relies on a session (the response is signed).
    "checkout.notify",
    "checkout.receipt",
}
# The APIs answer for themselves (401 JSON with ``WWW-Authenticate: Bearer``).
PUBLIC_BLUEPRINTS = {"auth", "catalog", "catalog_api", "org_api"}

F = TypeVar("F", bound=Callable[..., Any])
SESSION_VERSION_KEY = "_sv"


# Built once: every signed-in request runs it, where ``session.get`` would build a new statement
# (and its cache key) each time.
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    uid = parse_id(user_id)
    user = db.session.execute(_USER_BY_ID, {"user_id": uid}).scalar_one_or_none() if uid else None
    if user is None or (session.get(SESSION_VERSION_KEY) or 0) != (user.session_version or 0):
        return None  # e.g. a cookie copied before its holder signed out
    return user


def require_login_by_default() -> Response | None:
    endpoint = request.endpoint
    if endpoint is None:  # 404/405: let the error handlers answer
        return None
    if endpoint in PUBLIC_ENDPOINTS or request.blueprint in PUBLIC_BLUEPRINTS:
        return None
    if current_user.is_authenticated:
        return None
    if request.path.startswith("/api/"):
        abort(401)
    return redirect(url_for("auth.login", next=safe_next(request.full_path)))


def safe_next(target: str | None, default: str = "/") -> str:
    """Only our own relative paths: no scheme, no host, no '//' or backslash tricks."""
    if not target:
        return default
    target = target.strip()
    if target.endswith("?"):
        target = target[:-1]
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 for ch in target)
    ):
        return default
    return target


def staff_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            abort(401)
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def request_cache() -> dict[str, Any]:
    """A dict that lives as long as the current request (a fresh one outside requests).

    Not ``flask.g``: that belongs to the app context, which a test's outer context keeps alive
    across requests."""
    if not has_request_context():
        return {}
    cache: dict[str, Any] = request.environ.setdefault("portal.request_cache", {})
    return cache


_MANAGED_BY = select(Membership.organization_id).where(
    Membership.user_id == bindparam("user_id"), Membership.is_manager.is_(True)
)


def managed_organization_ids(user: User) -> list[int]:
    """The organizations ``user`` administers, read once per request (the access check and the
    nav both ask)."""
    known: dict[int, list[int]] = request_cache().setdefault("managed_organization_ids", {})
    if user.id not in known:
        known[user.id] = list(db.session.scalars(_MANAGED_BY, {"user_id": user.id}))
    return list(known[user.id])


def org_admin_required(view: F) -> F:
    """For routes taking ``org_key``: passes ``organization`` to the view.

    A learner who manages no organization gets 403; an admin asking for an organization they do not
    manage gets 404, so nobody can even learn that another organization's key exists. Staff pass.
    """

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            abort(401)
        org_key = kwargs.pop("org_key", None)
        managed = managed_organization_ids(current_user)
        if not managed and not current_user.is_staff:
            abort(403)
        if org_key is None:
            return view(*args, **kwargs)
        org = db.session.scalar(select(Organization).where(Organization.key == org_key))
        if org is None or (org.id not in managed and not current_user.is_staff):
            abort(404)
        return view(*args, organization=org, **kwargs)

    return wrapped  # type: ignore[return-value]
