"""Organizations pulled from Keycloak (b2b-rules section 1.2): created and updated, never deleted,
and a short key, once given, never changes. A fixed number of queries whatever the number of
organizations. The pull also caches each organization's linked identity providers
(``Organization.idp_aliases``), which a login checks its ``identity_provider`` claim against.

``schedule_organization_sync`` records the same pull on a timer (``KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS``),
called by the long-running worker, so organizations follow Keycloak without anyone asking."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from portal.extensions import db
from portal.jobs import JobKind, record_job
from portal.models import BackgroundJob, JobState, Organization, utcnow
from portal.services.audit import record_event

KEY_MAX = 30


def derive_key(alias: str, taken: set[str]) -> str:
    """A unique short key (<= 30 characters, A-Z 0-9 _) for an organization pulled from Keycloak."""
    base = re.sub(r"[^A-Z0-9_]+", "_", alias.upper()).strip("_")[:KEY_MAX] or "ORG"
    key, n = base, 1
    while key in taken:
        n += 1
        suffix = f"_{n}"
        key = base[: KEY_MAX - len(suffix)] + suffix
    return key


def upsert_from_keycloak(
    representations: list[dict[str, Any]], idp_aliases: dict[str, list[str]] | None = None
) -> dict[str, int]:
    """Create or update portal organizations from Keycloak's; returns counts. ``idp_aliases``
    (Keycloak organization id -> linked identity provider aliases) refreshes each one's cache."""
    valid = _valid(representations)
    by_id, by_alias = _existing(valid)
    taken = set(db.session.scalars(select(Organization.key)))
    counts = {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": len(representations) - len(valid),
    }
    for rep in valid:
        org = by_id.get(rep["id"]) or by_alias.get(rep["alias"])
        aliases = (idp_aliases or {}).get(rep["id"])
        if org is None:
            org = _create(rep, taken)
            if aliases is not None:
                org.idp_aliases = sorted(aliases)
            counts["created"] += 1
        elif _update(org, rep, aliases):
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    db.session.flush()
    return counts


def _valid(representations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The representations with a string id and alias and a name; the others are skipped."""
    return [
        r
        for r in representations
        if isinstance(r.get("id"), str) and isinstance(r.get("alias"), str) and r.get("name")
    ]


def _existing(
    valid: list[dict[str, Any]],
) -> tuple[dict[str, Organization], dict[str, Organization]]:
    """The portal organizations already known by one of these Keycloak ids or aliases (one query),
    by id and by alias."""
    ids = [r["id"] for r in valid]
    aliases = [r["alias"] for r in valid]
    existing = list(
        db.session.scalars(
            select(Organization).where(
                or_(Organization.keycloak_id.in_(ids), Organization.keycloak_alias.in_(aliases))
            )
        )
    )
    by_id = {o.keycloak_id: o for o in existing if o.keycloak_id}
    by_alias = {o.keycloak_alias: o for o in existing if o.keycloak_alias}
    return by_id, by_alias


def _create(rep: dict[str, Any], taken: set[str]) -> Organization:
    """A new portal organization for ``rep``, with a fresh short key (added to ``taken``)."""
    name = str(rep["name"])[:200]
    key = derive_key(rep["alias"], taken)
    taken.add(key)
    org = Organization(
        name=name,
        key=key,
        description=str(rep.get("description") or ""),
        keycloak_id=rep["id"],
        keycloak_alias=rep["alias"],
        active=bool(rep.get("enabled", True)),
    )
    db.session.add(org)
    db.session.flush()
    record_event(
        "organization.pulled",
        "organization",
        org.id,
        organization_id=org.id,
        after={"name": name, "key": key, "keycloak_id": rep["id"]},
        actor_kind="job",
    )
    return org


def _linked_state(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "keycloak_id": org.keycloak_id,
        "keycloak_alias": org.keycloak_alias,
        "idp_aliases": list(org.idp_aliases or []),
    }


def record_idp_aliases(org: Organization, aliases: list[str]) -> bool:
    """Cache the identity providers Keycloak links to ``org``; audited when that changes them.
    Returns whether it did."""
    new = sorted(set(aliases))
    old = list(org.idp_aliases or [])
    if new == old:
        return False
    org.idp_aliases = new
    db.session.flush()
    record_event(
        "organization.idps_from_keycloak",
        "organization",
        org.id,
        organization_id=org.id,
        before={"idp_aliases": old},
        after={"idp_aliases": new},
        actor_kind="job",
    )
    return True


def schedule_organization_sync(now: dt.datetime | None = None) -> BackgroundJob | None:
    """Record the organization pull when ``KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS`` have passed since
    the last one was recorded and none is still waiting or running; 0 turns it off. Returns the
    job recorded, if any (the caller commits)."""
    interval = float(current_app.config["PORTAL"].keycloak_org_sync_interval_seconds)
    if interval <= 0:
        return None
    now = now or utcnow()
    kind = str(JobKind.KEYCLOAK_PULL_ORGANIZATIONS)
    busy = db.session.scalar(
        select(BackgroundJob.id)
        .where(
            BackgroundJob.kind == kind,
            BackgroundJob.state.in_([JobState.PENDING, JobState.QUEUED, JobState.RUNNING]),
        )
        .limit(1)
    )
    if busy is not None:
        return None
    last = db.session.scalar(
        select(BackgroundJob.created_at)
        .where(BackgroundJob.kind == kind)
        .order_by(BackgroundJob.created_at.desc())
        .limit(1)
    )
    if last is not None and last > now - dt.timedelta(seconds=interval):
        return None
    return record_job(JobKind.KEYCLOAK_PULL_ORGANIZATIONS, {"scheduled": True})


def _update(org: Organization, rep: dict[str, Any], aliases: list[str] | None = None) -> bool:
    """Take Keycloak's name, id and alias (and description, when it has one); audited when that
    changes anything. Returns whether it did. The short key and the active flag are the portal's."""
    before = _linked_state(org)
    org.name = str(rep["name"])[:200]
    org.keycloak_id = rep["id"]
    org.keycloak_alias = rep["alias"]
    description = str(rep.get("description") or "")
    if description:
        org.description = description
    if aliases is not None:
        org.idp_aliases = sorted(set(aliases))
    after = _linked_state(org)
    if after == before:
        return False
    record_event(
        "organization.updated_from_keycloak",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after=after,
        actor_kind="job",
    )
    return True
