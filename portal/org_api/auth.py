"""Who is asking the organization API: a bearer token, nothing else.

``Authorization: Bearer <token>`` names one live token of one organization, and the view gets that
organization. A missing, malformed, unknown or revoked token is a 401 with ``WWW-Authenticate:
Bearer``; a signed-in session (a cookie) never counts, so a page another site makes a browser load
cannot read the API, and the API needs no CSRF protection. Each token has its own rate limit
(Flask-Limiter, keyed by the token's hash, shared by every endpoint): ``rate_limit()``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, request
from flask_limiter.util import get_remote_address

from portal.config import Settings
from portal.core.access import request_cache
from portal.extensions import db, limiter
from portal.org_api.responses import unauthorized
from portal.services import org_api_tokens
from portal.services.org_api_tokens import Authenticated

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_RATE_LIMIT = str(Settings.org_api_rate_limit)  # the documented default
_CACHE_KEY = "org_api_token"
HOW = "Send 'Authorization: Bearer <token>' with a token your organization's admins created."


def rate_limit() -> str:
    """The limit per token (``ORG_API_RATE_LIMIT``)."""
    return str(current_app.config["PORTAL"].org_api_rate_limit)


def _limit_key() -> str:
    """The authenticated token's hash (the raw value never reaches the limiter's storage)."""
    found: Authenticated | None = request_cache().get(_CACHE_KEY)
    if found is None:  # not reached: the limit is checked after authentication
        return f"org-api-ip:{get_remote_address()}"
    return f"org-api:{found.token.token_hash}"


per_token_limit = limiter.shared_limit(
    rate_limit,
    scope="org_api",
    key_func=_limit_key,
    error_message="Too many requests with this API token. Wait, then try again.",
)


def _presented_token() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        abort(unauthorized("This API needs a token. " + HOW))
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        abort(unauthorized("The Authorization header is not a bearer token. " + HOW))
    return value.strip()


def token_required(view: F) -> F:
    """Authenticate the request's bearer token, record its use (at most once a minute), apply
    its rate limit, and call ``view`` with the token's organization first."""
    limited = per_token_limit(view)

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        presented = _presented_token() or ""
        found = org_api_tokens.authenticate(presented[:512])
        if found is None:
            abort(unauthorized("This token is unknown or was revoked. " + HOW))
        if org_api_tokens.mark_used(found.token):
            # Committed here, not with the request: the token was used even if the request is
            # then refused (a bad parameter is a 400, which rolls back).
            db.session.commit()
        request_cache()[_CACHE_KEY] = found
        return limited(found.organization, *args, **kwargs)

    return wrapped  # type: ignore[return-value]
