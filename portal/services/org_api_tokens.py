"""Tokens an organization's admins create for the organization API (``/api/org/v1``).

A token reads one organization's data and nothing else. Its value is shown once, when it is made;
the portal keeps only its SHA-256 (``services.catalog.hash_token``, as for the staff catalog
tokens) and its first characters, so a person can tell tokens apart in the list. Issuing and
revoking are audited on the organization; using a token writes nothing but ``last_used_at``, and
that at most once a minute per token.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, or_, select, update

from portal.core.domain_errors import NotFound
from portal.extensions import db
from portal.models import Organization, OrganizationApiToken, utcnow
from portal.services.api_tokens import revoke
from portal.services.audit import record_event
from portal.services.catalog import hash_token
from portal.services.courseware import snapshot

TOKEN_PREFIX = "poa_"  # noqa: S105 - a visible prefix that marks portal organization API tokens
PREFIX_SHOWN = 12  # "poa_" and 8 characters of the random part: enough to tell tokens apart
TOKEN_FIELDS = ("organization_id", "name", "prefix", "revoked_at")
# How stale ``last_used_at`` may be before a request writes it again.
LAST_USED_EVERY = dt.timedelta(minutes=1)

_BY_HASH = (
    select(OrganizationApiToken, Organization)
    .join(Organization, Organization.id == OrganizationApiToken.organization_id)
    .where(OrganizationApiToken.token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True)
class Authenticated:
    """A live token and the organization it reads."""

    token: OrganizationApiToken
    organization: Organization


def organization_tokens(organization: Organization) -> list[OrganizationApiToken]:
    """The organization's tokens, live ones first, newest first."""
    return list(
        db.session.scalars(
            select(OrganizationApiToken)
            .where(OrganizationApiToken.organization_id == organization.id)
            .order_by(
                OrganizationApiToken.revoked_at.is_not(None),
                OrganizationApiToken.created_at.desc(),
                OrganizationApiToken.id.desc(),
            )
        )
    )


def organization_token(organization: Organization, token_id: int) -> OrganizationApiToken:
    """One of the organization's tokens; ``NotFound`` for another organization's, as for none."""
    token = db.session.get(OrganizationApiToken, token_id)
    if token is None or token.organization_id != organization.id:
        raise NotFound("This organization has no such API token.")
    return token


def issue_token(
    organization: Organization, name: str, *, created_by_id: int | None
) -> tuple[OrganizationApiToken, str]:
    """A new token of ``organization`` and its value, which the caller shows once: it is never
    stored (only its SHA-256 is)."""
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = OrganizationApiToken(
        organization_id=organization.id,
        name=name.strip(),
        token_hash=hash_token(value),
        prefix=value[:PREFIX_SHOWN],
        created_by_id=created_by_id,
    )
    db.session.add(token)
    db.session.flush()
    record_event(
        "org_api_token.issued",
        "organization_api_token",
        token.id,
        organization_id=organization.id,
        after=snapshot(token, TOKEN_FIELDS),
    )
    return token, value


def revoke_token(token: OrganizationApiToken) -> bool:
    """Revoke at once (the next request with it is a 401); False if it already was."""
    return revoke(
        token,
        "org_api_token.revoked",
        "organization_api_token",
        TOKEN_FIELDS,
        organization_id=token.organization_id,
    )


def authenticate(presented: str) -> Authenticated | None:
    """The live token with this value and its organization (one query); None if the value is
    empty, unknown or revoked."""
    if not presented:
        return None
    row = db.session.execute(_BY_HASH, {"token_hash": hash_token(presented)}).first()
    if row is None or row[0].revoked_at is not None:
        return None
    return Authenticated(token=row[0], organization=row[1])


def mark_used(token: OrganizationApiToken, *, now: dt.datetime | None = None) -> bool:
    """Record that ``token`` was used, unless that was recorded less than a minute ago: no write
    at all then. The condition is in the UPDATE too, so concurrent requests on several processes
    write at most once a minute between them. Returns whether a row was written; the caller
    commits."""
    now = now or utcnow()
    cutoff = now - LAST_USED_EVERY
    if token.last_used_at is not None and token.last_used_at > cutoff:
        return False
    result = db.session.execute(
        update(OrganizationApiToken)
        .where(
            OrganizationApiToken.id == token.id,
            or_(
                OrganizationApiToken.last_used_at.is_(None),
                OrganizationApiToken.last_used_at <= cutoff,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
