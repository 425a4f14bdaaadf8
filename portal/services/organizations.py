"""Organizations and Keycloak (b2b-rules section 1.2): pulled from Keycloak (create and update, never
delete, never change a short key) or created in the portal and pushed there."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import Organization
from portal.services.audit import record_event

KEY_MAX = 30


def alias_for(org: Organization) -> str:
    """The Keycloak alias to use: the stored one, or the short key in lower case."""
    return org.keycloak_alias or org.key.lower()


def derive_key(alias: str, taken: set[str]) -> str:
    """A unique short key (<= 30 characters, A-Z 0-9 _) for an organization pulled from Keycloak."""
    base = re.sub(r"[^A-Z0-9_]+", "_", alias.upper()).strip("_")[:KEY_MAX] or "ORG"
    key, n = base, 1
    while key in taken:
        n += 1
        suffix = f"_{n}"
        key = base[: KEY_MAX - len(suffix)] + suffix
    return key


def upsert_from_keycloak(representations: list[dict[str, Any]]) -> dict[str, int]:
    """Create or update portal organizations from Keycloak's; returns counts. A fixed number of
    queries whatever the number of organizations."""
    valid = [
        r
        for r in representations
        if isinstance(r.get("id"), str) and isinstance(r.get("alias"), str) and r.get("name")
    ]
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
    taken = set(db.session.scalars(select(Organization.key)))
    counts = {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": len(representations) - len(valid),
    }
    for rep in valid:
        org = by_id.get(rep["id"]) or by_alias.get(rep["alias"])
        name = str(rep["name"])[:200]
        description = str(rep.get("description") or "")
        if org is None:
            key = derive_key(rep["alias"], taken)
            taken.add(key)
            org = Organization(
                name=name,
                key=key,
                description=description,
                keycloak_id=rep["id"],
                keycloak_alias=rep["alias"],
                active=bool(rep.get("enabled", True)),
            )
            db.session.add(org)
            db.session.flush()
            counts["created"] += 1
            record_event(
                "organization.pulled",
                "organization",
                org.id,
                organization_id=org.id,
                after={"name": name, "key": key, "keycloak_id": rep["id"]},
                actor_kind="job",
            )
            continue
        before = {
            "name": org.name,
            "keycloak_id": org.keycloak_id,
            "keycloak_alias": org.keycloak_alias,
        }
        org.name = name
        org.keycloak_id = rep["id"]
        org.keycloak_alias = rep["alias"]
        if description:
            org.description = description
        after = {
            "name": org.name,
            "keycloak_id": org.keycloak_id,
            "keycloak_alias": org.keycloak_alias,
        }
        if after != before:
            counts["updated"] += 1
            record_event(
                "organization.updated_from_keycloak",
                "organization",
                org.id,
                organization_id=org.id,
                before=before,
                after=after,
                actor_kind="job",
            )
        else:
            counts["unchanged"] += 1
    db.session.flush()
    return counts
