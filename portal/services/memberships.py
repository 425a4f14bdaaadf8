"""Organization membership from Keycloak's ``organization`` claim (b2b-rules section 2).

At every login the token's claim lists the user's Keycloak organizations. ``reconcile_memberships``:

* adds a membership (source SSO) for each portal organization whose Keycloak id or alias is claimed;
* removes memberships of organizations that have a Keycloak id but are no longer claimed, unless the
  membership is flagged *keep until seen* (a redeemed code or a hand-added member waiting for Keycloak);
* clears *keep until seen* on memberships whose organization now appears in the claim;
* never touches organizations without a Keycloak id (they are managed only in the portal).

Access to ``auto`` contracts follows membership (see ``services.access``), so adding a membership
attaches the organization's active auto contracts and removing one detaches exactly those; code-based
access (a seat from a redeemed code) and existing enrollments are kept.

It runs a fixed number of queries whatever the number of organizations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, delete, insert, or_, select

from portal.extensions import db
from portal.models import Membership, MembershipSource, Organization, User
from portal.services.audit import record_event

log = logging.getLogger(__name__)


class MalformedClaim(ValueError):
    """The claim is neither a list of aliases, an object keyed by alias, nor a single alias."""


@dataclass(frozen=True)
class ClaimedOrganization:
    alias: str
    id: str | None = None


@dataclass
class ReconcileResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)  # keep-until-seen cleared
    kept: list[str] = field(default_factory=list)  # absent from the claim but kept until seen

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.confirmed)


def parse_organization_claim(claim: Any) -> list[ClaimedOrganization]:
    """Normalise Keycloak 26's claim shapes to ``[ClaimedOrganization]``.

    ``None`` (absent) means no organizations. Accepted: ``["acme", "globex"]`` (default mapper),
    ``{"acme": {"id": "…", …}}`` (with *add organization id/attributes*), ``{"acme": {}}``, and
    ``"acme"`` (single-valued mapper). Anything else raises ``MalformedClaim``.
    """
    if claim is None:
        return []
    if isinstance(claim, str):
        claim = [claim]
    if isinstance(claim, list):
        if not all(isinstance(alias, str) and alias for alias in claim):
            raise MalformedClaim("organization claim list must hold alias strings")
        return [ClaimedOrganization(alias=alias) for alias in dict.fromkeys(claim)]
    if isinstance(claim, dict):
        result = []
        for alias, details in claim.items():
            if not isinstance(alias, str) or not alias or not isinstance(details, dict | None):
                raise MalformedClaim("organization claim object must map aliases to objects")
            org_id = (details or {}).get("id")
            if org_id is not None and not isinstance(org_id, str):
                raise MalformedClaim("organization id in the claim must be a string")
            result.append(ClaimedOrganization(alias=alias, id=org_id or None))
        return result
    raise MalformedClaim(f"unexpected organization claim type {type(claim).__name__}")


def reconcile_memberships(
    user: User, claimed: list[ClaimedOrganization], *, source: str = "login"
) -> ReconcileResult:
    """Bring ``user``'s memberships in line with the organizations Keycloak says they belong to."""
    seen = _claimed_organizations(claimed)
    memberships = db.session.execute(
        select(Membership, Organization)
        .join(Organization, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
    ).all()
    existing = {m.organization_id: m for m, _ in memberships}
    result = ReconcileResult()
    new_rows = _join_or_confirm(user, seen, existing, result)
    to_remove = _unclaimed(memberships, seen, result)
    if new_rows:
        db.session.execute(insert(Membership), new_rows)  # one statement for all
    if to_remove:
        db.session.execute(
            delete(Membership)
            .where(Membership.id.in_(to_remove))
            .execution_options(synchronize_session="fetch")
        )
    db.session.flush()
    if result.changed:
        _record(user, result, source)
    return result


def _claimed_organizations(claimed: list[ClaimedOrganization]) -> dict[int, Organization]:
    """The linked portal organizations that the claim names, by Keycloak id or alias (one query)."""
    ids = {c.id for c in claimed if c.id}
    aliases = {c.alias for c in claimed}
    conditions = []
    if ids:
        conditions.append(Organization.keycloak_id.in_(ids))
    if aliases:
        conditions.append(Organization.keycloak_alias.in_(aliases))
    if not conditions:
        return {}
    return {
        org.id: org
        for org in db.session.scalars(
            select(Organization).where(Organization.keycloak_id.is_not(None), or_(*conditions))
        )
    }


def _join_or_confirm(
    user: User,
    seen: dict[int, Organization],
    existing: dict[int, Membership],
    result: ReconcileResult,
) -> list[dict[str, Any]]:
    """The rows of the new SSO memberships; an existing *keep until seen* one is now confirmed."""
    new_rows = []
    for org_id, org in seen.items():
        membership = existing.get(org_id)
        if membership is None:
            new_rows.append(
                {"user_id": user.id, "organization_id": org_id, "source": MembershipSource.SSO}
            )
            result.added.append(org.key)
        elif membership.keep_until_seen:
            membership.keep_until_seen = False
            result.confirmed.append(org.key)
    return new_rows


def _unclaimed(
    memberships: Sequence[Row[Membership, Organization]],
    seen: dict[int, Organization],
    result: ReconcileResult,
) -> list[int]:
    """The ids of memberships of linked organizations no longer claimed, except those kept until
    seen; portal-only organizations are never touched."""
    to_remove = []
    for membership, org in memberships:
        if org.keycloak_id is None or org.id in seen:
            continue  # portal-managed organization, or still claimed
        if membership.keep_until_seen:
            result.kept.append(org.key)
            continue
        to_remove.append(membership.id)
        result.removed.append(org.key)
    return to_remove


def _record(user: User, result: ReconcileResult, source: str) -> None:
    record_event(
        "membership.reconciled",
        "user",
        user.id,
        after={
            "added": result.added,
            "removed": result.removed,
            "confirmed": result.confirmed,
            "kept": result.kept,
            "source": source,
        },
        actor_id=user.id if source == "login" else None,
    )
