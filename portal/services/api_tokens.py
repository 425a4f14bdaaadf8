"""API tokens staff issue so a partner's catalog can see restricted runs; only a hash is stored."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from portal.extensions import db
from portal.models import ApiToken, utcnow
from portal.models.courseware import RESTRICTION_TYPES
from portal.services.audit import record_event
from portal.services.catalog import hash_token
from portal.services.courseware import snapshot

TOKEN_PREFIX = "pct_"  # noqa: S105 - a visible prefix that marks portal catalog tokens
TOKEN_FIELDS = ("name", "allowed_restrictions", "revoked_at")

# --------------------------------------------------------------------------- API tokens (staff)


def issue_api_token(
    name: str, types: Iterable[str], *, created_by_id: int | None
) -> tuple[ApiToken, str]:
    """A new token and its value, which is shown once and never stored (only its SHA-256 is)."""
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    allowed = sorted(set(types) & set(RESTRICTION_TYPES))
    token = ApiToken(
        name=name,
        token_hash=hash_token(value),
        allowed_restrictions=",".join(allowed),
        created_by_id=created_by_id,
    )
    db.session.add(token)
    db.session.flush()
    record_event("api_token.issued", "api_token", token.id, after=snapshot(token, TOKEN_FIELDS))
    return token, value


def revoke_api_token(token: ApiToken) -> bool:
    """Revoke at once; False if it already was."""
    return revoke(token, "api_token.revoked", "api_token", TOKEN_FIELDS)


def revoke(
    token: Any,
    action: str,
    object_type: str,
    fields: tuple[str, ...],
    *,
    organization_id: int | None = None,
) -> bool:
    """Revoke a token of either kind at once (the next request with it is refused) and audit
    ``action``; False if it already was."""
    if token.revoked_at is not None:
        return False
    before = snapshot(token, fields)
    token.revoked_at = utcnow()
    db.session.flush()
    record_event(
        action,
        object_type,
        token.id,
        organization_id=organization_id,
        before=before,
        after=snapshot(token, fields),
    )
    return True
