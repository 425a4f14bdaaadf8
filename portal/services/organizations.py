"""Organizations and Keycloak (b2b-rules section 1.2): pulled from Keycloak (create and update, never
delete, never change a short key) or created in the portal and pushed there."""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, or_, select, union

from portal.core.domain_errors import Conflict, DomainError
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import (
    BackgroundJob,
    Contract,
    CourseRun,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    Seat,
    User,
    normalize_email,
    utcnow,
)
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


# --------------------------------------------------------------------------- staff console
#
# Creating, editing, (de)activating organizations, their logos and their members by hand
# (b2b-rules 1.2, 2 and 9). Each function flushes and audits with before/after; the view commits.

ORG_KEY_RE = re.compile(r"^[A-Z0-9_]{1,30}$")
LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_PIXELS = 4096 * 4096  # checked on the header, before any pixel is decoded
LOGO_BOX = (256, 256)
LOGO_FORMATS = ("PNG", "JPEG", "WEBP")
LOGO_CONTENT_TYPE = "image/png"


class InvalidLogo(DomainError):
    code = "invalid_logo"


@dataclass(frozen=True)
class OrganizationImpact:
    """What deactivating an organization takes away: its active contracts, and the learners who
    can use them now (members, for ``auto`` and ``managed`` contracts, and seat holders)."""

    contracts: int
    learners: int


@dataclass(frozen=True)
class MemberImpact:
    """What removing a member takes away: access to the organization's active ``auto`` contracts
    and the SSO half of ``managed`` ones (b2b-rules 3). Code seats and enrollments are kept."""

    contracts: int
    seats_kept: int


def _org_state(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "key": org.key,
        "description": org.description,
        "keycloak_alias": org.keycloak_alias,
        "active": org.active,
    }


def key_locked(org: Organization) -> bool:
    """True once a contract of ``org`` has course runs: their edX keys embed the short key."""
    if org.id is None:
        return False
    return (
        db.session.scalar(
            select(CourseRun.id)
            .join(Contract, CourseRun.contract_id == Contract.id)
            .where(Contract.organization_id == org.id)
            .limit(1)
        )
        is not None
    )


def save_organization(org: Organization, values: dict[str, Any]) -> Organization:
    """Create (``org.id`` is None) or update an organization from validated form values.

    The short key never changes once contract runs use it (b2b-rules 1.2); the Keycloak alias
    never changes once the organization is linked (Keycloak refuses alias changes, keycloak.md 6.5)."""
    creating = org.id is None
    before = None if creating else _org_state(org)
    key = values["key"]
    if not ORG_KEY_RE.match(key):
        raise DomainError("Use 1 to 30 upper-case letters, digits or '_' for the key.")
    if not creating and key != org.key and key_locked(org):
        raise DomainError("This organization's contracts have course runs; its key can't change.")
    alias = values.get("keycloak_alias") or None
    if not creating and org.keycloak_id and alias != org.keycloak_alias:
        raise DomainError("This organization is linked to Keycloak; its alias can't change.")
    org.name = values["name"]
    org.key = key
    org.description = values.get("description") or ""
    org.keycloak_alias = alias
    org.active = bool(values.get("active", True))
    if creating:
        db.session.add(org)
    db.session.flush()
    after = _org_state(org)
    if creating or after != before:
        record_event(
            "organization.created" if creating else "organization.updated",
            "organization",
            org.id,
            organization_id=org.id,
            before=before,
            after=after,
        )
    return org


def deactivation_impact(org: Organization) -> OrganizationImpact:
    active_contracts = select(Contract.id).where(
        Contract.organization_id == org.id, Contract.active.is_(True)
    )
    contracts = db.session.scalar(select(func.count()).select_from(active_contracts.subquery()))
    seated = select(Seat.user_id).where(
        Seat.contract_id.in_(active_contracts), Seat.revoked_at.is_(None)
    )
    member_contracts = db.session.scalar(
        select(func.count(Contract.id)).where(
            Contract.organization_id == org.id,
            Contract.active.is_(True),
            Contract.membership_type.in_([MembershipType.AUTO, MembershipType.MANAGED]),
        )
    )
    members = select(Membership.user_id).where(Membership.organization_id == org.id)
    who = (union(seated, members) if member_contracts else union(seated)).subquery()
    learners = db.session.scalar(select(func.count(func.distinct(who.c.user_id))))
    return OrganizationImpact(contracts=contracts or 0, learners=learners or 0)


def set_active(org: Organization, active: bool) -> None:
    """Deactivating closes every contract of the organization to its learners (services.access);
    nothing is deleted, and reactivating restores it."""
    if org.active == active:
        return
    before = {"active": org.active}
    org.active = active
    db.session.flush()
    record_event(
        "organization.activated" if active else "organization.deactivated",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after={"active": active},
    )


def process_logo(data: bytes) -> tuple[bytes, str]:
    """Check an uploaded logo by its content and re-encode it: PNG, JPEG or WebP only (whatever the
    name or declared type says), at most ``LOGO_MAX_BYTES`` and ``LOGO_MAX_PIXELS``; metadata and
    anything appended after the image are dropped, and the result is a fresh PNG that fits
    ``LOGO_BOX``. Raises ``InvalidLogo`` with the reason."""
    if not data:
        raise InvalidLogo("Choose an image file to upload.")
    if len(data) > LOGO_MAX_BYTES:
        raise InvalidLogo(f"That file is larger than {LOGO_MAX_BYTES // (1024 * 1024)} MB.")
    unreadable = "That file is not a PNG, JPEG or WebP image (or it is damaged)."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=LOGO_FORMATS) as probe:
                _check_pixels(probe.size)
                probe.verify()
            with Image.open(io.BytesIO(data), formats=LOGO_FORMATS) as image:
                _check_pixels(image.size)
                image.seek(0)
                image.load()
                upright = ImageOps.exif_transpose(image)
                has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
                    upright.mode == "P" and "transparency" in upright.info
                )
                mode = "RGBA" if has_alpha else "RGB"
                converted = upright.convert(mode)
                converted.thumbnail(LOGO_BOX, Image.Resampling.LANCZOS)
                # A new image from the raw pixels alone: no EXIF, ICC, text chunks or trailers.
                clean = Image.frombytes(mode, converted.size, converted.tobytes())
    except InvalidLogo:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidLogo("That image has too many pixels.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidLogo(unreadable) from exc
    out = io.BytesIO()
    clean.save(out, "PNG", optimize=True)
    return out.getvalue(), LOGO_CONTENT_TYPE


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1 or width * height > LOGO_MAX_PIXELS:
        raise InvalidLogo(
            f"That image is {width} x {height} pixels; logos may have at most "
            f"{LOGO_MAX_PIXELS:,} pixels (e.g. 4096 x 4096)."
        )


def _logo_state(org: Organization) -> dict[str, Any]:
    logo = org.logo
    return {
        "content_type": org.logo_content_type,
        "bytes": len(logo) if logo else 0,
        "sha256": hashlib.sha256(logo).hexdigest() if logo else None,
    }


def set_logo(org: Organization, data: bytes) -> None:
    """Validate, re-encode and store a logo (``process_logo``); audited with both digests."""
    encoded, content_type = process_logo(data)
    before = _logo_state(org)
    org.logo = encoded
    org.logo_content_type = content_type
    org.logo_updated_at = utcnow()
    db.session.flush()
    record_event(
        "organization.logo_set",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after=_logo_state(org),
    )


def remove_logo(org: Organization) -> bool:
    if not org.logo_content_type and not org.logo:
        return False
    before = _logo_state(org)
    org.logo = None
    org.logo_content_type = None
    org.logo_updated_at = utcnow()
    db.session.flush()
    record_event(
        "organization.logo_removed",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after=_logo_state(org),
    )
    return True


def request_keycloak_link(org: Organization, alias: str) -> BackgroundJob:
    """Record the job that links ``org`` to the existing Keycloak organization ``alias``."""
    if org.keycloak_id:
        raise Conflict(f"{org.name} is already linked to Keycloak ({org.keycloak_alias}).")
    other = db.session.scalar(
        select(Organization).where(Organization.keycloak_alias == alias, Organization.id != org.id)
    )
    if other is not None:
        raise Conflict(f"{other.name} ({other.key}) already uses the Keycloak alias {alias}.")
    job = record_job(
        JobKind.KEYCLOAK_LINK_ORGANIZATION,
        {"organization_id": org.id, "alias": alias},
        object_type="organization",
        object_id=org.id,
        organization_id=org.id,
    )
    record_event(
        "job.queued",
        "background_job",
        job.id,
        organization_id=org.id,
        after={"kind": job.kind, "organization_id": org.id, "alias": alias},
    )
    return job


def link_to_keycloak(org: Organization, kc_id: str, alias: str, *, actor_kind: str) -> None:
    """Store the Keycloak id and alias of ``org`` (the link job, after finding it by alias)."""
    before = {"keycloak_id": org.keycloak_id, "keycloak_alias": org.keycloak_alias}
    org.keycloak_id = kc_id
    org.keycloak_alias = alias
    db.session.flush()
    record_event(
        "keycloak.organization_linked",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after={"keycloak_id": kc_id, "keycloak_alias": alias},
        actor_kind=actor_kind,
    )


def _member_state(membership: Membership) -> dict[str, Any]:
    return {
        "user_id": membership.user_id,
        "email": membership.user.email,
        "source": membership.source.value,
        "keep_until_seen": membership.keep_until_seen,
        "is_manager": membership.is_manager,
    }


def add_member(org: Organization, email: str, *, is_manager: bool = False) -> Membership:
    """Add a person to ``org`` by email (b2b-rules 2: staff add members by hand).

    The user is created if needed (normalized email); the membership is STAFF and *keep until
    seen*, so sign-in reconciliation keeps it until Keycloak lists the organization. When the
    organization is linked, a ``keycloak.push_member`` job puts the person in Keycloak too."""
    address = normalize_email(email)
    user = db.session.scalar(select(User).where(User.email == address))
    if user is None:
        user = User(email=address)
        db.session.add(user)
        db.session.flush()
        record_event("user.created", "user", user.id, after={"email": address, "by": "staff"})
    existing = db.session.scalar(
        select(Membership).where(
            Membership.organization_id == org.id, Membership.user_id == user.id
        )
    )
    if existing is not None:
        raise Conflict(f"{address} is already a member of {org.name}.")
    membership = Membership(
        user=user,
        organization=org,
        source=MembershipSource.STAFF,
        keep_until_seen=True,
        is_manager=is_manager,
    )
    db.session.add(membership)
    db.session.flush()
    record_event(
        "organization.member_added",
        "organization",
        org.id,
        organization_id=org.id,
        after=_member_state(membership),
    )
    if org.keycloak_id:
        record_job(
            JobKind.KEYCLOAK_PUSH_MEMBER,
            {"user_id": user.id, "organization_id": org.id},
            object_type="organization",
            object_id=org.id,
            organization_id=org.id,
        )
    return membership


def member_removal_impact(membership: Membership) -> MemberImpact:
    org_id = membership.organization_id
    contracts = db.session.scalar(
        select(func.count(Contract.id)).where(
            Contract.organization_id == org_id,
            Contract.active.is_(True),
            Contract.membership_type.in_([MembershipType.AUTO, MembershipType.MANAGED]),
        )
    )
    seats = db.session.scalar(
        select(func.count(Seat.id))
        .join(Contract, Seat.contract_id == Contract.id)
        .where(
            Contract.organization_id == org_id,
            Seat.user_id == membership.user_id,
            Seat.revoked_at.is_(None),
        )
    )
    return MemberImpact(contracts=contracts or 0, seats_kept=seats or 0)


def remove_member(membership: Membership) -> None:
    """Remove a membership; when the organization is linked, a ``keycloak.remove_member`` job
    takes the person out of the Keycloak organization too (otherwise their next sign-in would
    bring the membership back). Code seats and enrollments are kept (b2b-rules 2)."""
    org = membership.organization
    before = _member_state(membership)
    user_id = membership.user_id
    db.session.delete(membership)
    db.session.flush()
    record_event(
        "organization.member_removed",
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
    )
    if org.keycloak_id:
        record_job(
            JobKind.KEYCLOAK_REMOVE_MEMBER,
            {"user_id": user_id, "organization_id": org.id},
            object_type="organization",
            object_id=org.id,
            organization_id=org.id,
        )


def set_manager(membership: Membership, is_manager: bool) -> bool:
    """Mark or unmark an org admin (b2b-rules 9). Returns whether anything changed."""
    if membership.is_manager == is_manager:
        return False
    before = _member_state(membership)
    membership.is_manager = is_manager
    db.session.flush()
    record_event(
        "organization.admin_granted" if is_manager else "organization.admin_revoked",
        "organization",
        membership.organization_id,
        organization_id=membership.organization_id,
        before=before,
        after=_member_state(membership),
    )
    return True
