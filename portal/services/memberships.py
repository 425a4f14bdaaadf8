"""Organization membership from Keycloak's ``organization`` claim (b2b-rules section 2).

At every login the token's claim lists the user's Keycloak organizations. ``reconcile_memberships``:

* adds a membership (source SSO) for each portal organization whose Keycloak id or alias is claimed;
* removes memberships of organizations that have a Keycloak id but are no longer claimed, unless the
  membership is flagged *keep until seen* (a redeemed code or a hand-added member waiting for Keycloak);
* clears *keep until seen* on memberships whose organization now appears in the claim;
* never touches organizations without a Keycloak id (they are managed only in the portal);
* records per membership whether it was confirmed by the organization's own credentials
  (``Membership.managed_by_idp``, b2b-rules section 3): at login, whether the token's
  ``identity_provider`` claim names one of the organization's linked identity providers (a password
  login has no claim, so never); in a re-sync from the admin API, Keycloak's ``membershipType``
  ``MANAGED`` sets it (``UNMANAGED`` leaves what the last login established).

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
    # Keycloak's member record, when the admin API was read: "MANAGED" or "UNMANAGED".
    membership_type: str | None = None

    @property
    def managed(self) -> bool:
        return (self.membership_type or "").upper() == "MANAGED"


@dataclass
class ReconcileResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)  # keep-until-seen cleared
    kept: list[str] = field(default_factory=list)  # absent from the claim but kept until seen
    # managed_by_idp turned on / off (the organization's own credentials)
    idp_confirmed: list[str] = field(default_factory=list)
    idp_cleared: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.added or self.removed or self.confirmed or self.idp_confirmed or self.idp_cleared
        )


def identity_provider_of(claims: Any) -> str | None:
    """The ``identity_provider`` claim of a login (the alias of the identity provider Keycloak
    brokered it through, copied from the session note by an ``oidc-usersessionmodel-note-mapper``);
    None for a password login or anything that is not a non-empty string."""
    value = claims.get("identity_provider") if isinstance(claims, dict) else None
    return value if isinstance(value, str) and value else None


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
    user: User,
    claimed: list[ClaimedOrganization],
    *,
    source: str = "login",
    identity_provider: str | None = None,
) -> ReconcileResult:
    """Bring ``user``'s memberships in line with the organizations Keycloak says they belong to.

    At a login (``source="login"``) ``identity_provider`` is the login's ``identity_provider``
    claim: every membership is then confirmed by the organization's own credentials exactly when
    that alias is one of the organization's linked identity providers. A re-sync passes each
    organization's ``membership_type`` instead."""
    seen = _claimed_organizations(claimed)
    memberships = db.session.execute(
        select(Membership, Organization)
        .join(Organization, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
    ).all()
    existing = {m.organization_id: m for m, _ in memberships}
    result = ReconcileResult()
    managed = _managed_by_idp(claimed, seen, source == "login", identity_provider)
    new_rows = _join_or_confirm(user, seen, existing, result, managed)
    if source == "login":
        _clear_idp_confirmation(memberships, managed, result)
    to_remove = _unclaimed(memberships, seen, result)
    if new_rows:
        db.session.execute(insert(Membership), new_rows)  # one statement for all
    if to_remove:
        _delete_memberships(to_remove)
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


def _managed_by_idp(
    claimed: list[ClaimedOrganization],
    seen: dict[int, Organization],
    at_login: bool,
    identity_provider: str | None,
) -> set[int]:
    """The claimed organizations whose own credentials Keycloak says confirmed this member: at
    login, the login's identity provider is linked to the organization; in a re-sync, the member
    record says ``MANAGED``."""
    if at_login:
        if identity_provider is None:
            return set()
        return {
            org_id for org_id, org in seen.items() if identity_provider in (org.idp_aliases or [])
        }
    managed_ids = {c.id for c in claimed if c.managed and c.id}
    managed_aliases = {c.alias for c in claimed if c.managed}
    return {
        org_id
        for org_id, org in seen.items()
        if org.keycloak_id in managed_ids or org.keycloak_alias in managed_aliases
    }


def _join_or_confirm(
    user: User,
    seen: dict[int, Organization],
    existing: dict[int, Membership],
    result: ReconcileResult,
    managed: set[int],
) -> list[dict[str, Any]]:
    """The rows of the new SSO memberships; an existing *keep until seen* one is now confirmed,
    and one Keycloak says the organization's own credentials confirmed is marked so."""
    new_rows = []
    for org_id, org in seen.items():
        membership = existing.get(org_id)
        if membership is None:
            new_rows.append(
                {
                    "user_id": user.id,
                    "organization_id": org_id,
                    "source": MembershipSource.SSO,
                    "managed_by_idp": org_id in managed,
                }
            )
            result.added.append(org.key)
            continue
        if membership.keep_until_seen:
            membership.keep_until_seen = False
            result.confirmed.append(org.key)
        if org_id in managed and not membership.managed_by_idp:
            membership.managed_by_idp = True
            result.idp_confirmed.append(org.key)
    return new_rows


def _clear_idp_confirmation(
    memberships: Sequence[Row[Membership, Organization]],
    managed: set[int],
    result: ReconcileResult,
) -> None:
    """At login, the login decides: a password login, or one through another organization's
    identity provider, no longer counts as this organization's own credentials."""
    for membership, org in memberships:
        if membership.managed_by_idp and org.id not in managed:
            membership.managed_by_idp = False
            result.idp_cleared.append(org.key)


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
            "idp_confirmed": result.idp_confirmed,
            "idp_cleared": result.idp_cleared,
            "source": source,
        },
        actor_id=user.id if source == "login" else None,
    )


@dataclass(frozen=True)
class KeycloakMember:
    """One member of a Keycloak organization, as its admin API lists them."""

    keycloak_id: str
    email: str | None
    membership_type: str  # "MANAGED" or "UNMANAGED"


@dataclass
class OrganizationResyncResult:
    added: list[int] = field(default_factory=list)  # user ids
    removed: list[int] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)  # keep-until-seen cleared
    idp_confirmed: list[int] = field(default_factory=list)  # MANAGED in Keycloak
    unknown: int = 0  # Keycloak members who never signed in to the portal

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "confirmed": self.confirmed,
            "idp_confirmed": self.idp_confirmed,
            "unknown": self.unknown,
        }


def _delete_memberships(ids: list[int]) -> None:
    db.session.execute(
        delete(Membership)
        .where(Membership.id.in_(ids))
        .execution_options(synchronize_session="fetch")
    )


def _known_members(members: list[KeycloakMember]) -> dict[int, KeycloakMember]:
    """The Keycloak members the portal knows, by user id (matched by Keycloak id or email)."""
    by_id = {m.keycloak_id: m for m in members}
    by_email = {m.email.lower(): m for m in members if m.email}
    users = db.session.scalars(
        select(User).where(or_(User.keycloak_sub.in_(list(by_id)), User.email.in_(list(by_email))))
    )
    listed: dict[int, KeycloakMember] = {}
    for user in users:
        member = by_id.get(user.keycloak_sub or "") or by_email.get((user.email or "").lower())
        if member is not None:
            listed[user.id] = member
    return listed


def _confirm_listed(
    org: Organization,
    listed: dict[int, KeycloakMember],
    existing: dict[int, Membership],
    result: OrganizationResyncResult,
) -> None:
    """Every listed member holds an SSO membership: new ones added (in one statement), kept ones
    confirmed, and ``managed_by_idp`` set where Keycloak says ``MANAGED``."""
    new_rows = []
    for user_id, member in listed.items():
        managed = member.membership_type.upper() == "MANAGED"
        membership = existing.get(user_id)
        if membership is None:
            new_rows.append(
                {
                    "user_id": user_id,
                    "organization_id": org.id,
                    "source": MembershipSource.SSO,
                    "managed_by_idp": managed,
                }
            )
            result.added.append(user_id)
            continue
        if membership.keep_until_seen:
            membership.keep_until_seen = False
            result.confirmed.append(user_id)
        if managed and not membership.managed_by_idp:
            membership.managed_by_idp = True
            result.idp_confirmed.append(user_id)
    if new_rows:
        db.session.execute(insert(Membership), new_rows)


def reconcile_organization_members(
    org: Organization, members: list[KeycloakMember]
) -> OrganizationResyncResult:
    """Bring every membership of ``org`` in line with its Keycloak member list (staff re-sync):
    the same rules as a login, for one organization and all its members at once. A member the
    portal knows (by Keycloak id or email) gets an SSO membership, *keep until seen* cleared, and
    ``managed_by_idp`` set when Keycloak says ``MANAGED``; memberships of people Keycloak no longer
    lists are removed unless kept until seen. Portal-only organizations are not touched."""
    result = OrganizationResyncResult()
    if not org.keycloak_id:
        return result
    listed = _known_members(members)
    result.unknown = len(members) - len({m.keycloak_id for m in listed.values()})
    existing = {
        m.user_id: m
        for m in db.session.scalars(select(Membership).where(Membership.organization_id == org.id))
    }
    _confirm_listed(org, listed, existing, result)
    to_remove = [m.id for uid, m in existing.items() if uid not in listed and not m.keep_until_seen]
    result.removed = [uid for uid, m in existing.items() if m.id in to_remove]
    if to_remove:
        _delete_memberships(to_remove)
    db.session.flush()
    record_event(
        "membership.organization_resynced",
        "organization",
        org.id,
        organization_id=org.id,
        after=result.as_dict(),
        actor_kind="job",
    )
    return result
