"""Turning a verified ID token into the portal's user (b2b-rules section 2; keycloak.md section 1)."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from portal.core.domain_errors import Conflict, DomainError
from portal.extensions import db
from portal.integrations.keycloak_oidc import staff_role
from portal.models import User, normalize_email, utcnow
from portal.services.audit import record_event

BAD_EMAIL = (
    "Keycloak sent an email address for this account that is not a valid address, so the sign-in "
    "was refused and nothing was stored. Ask your administrator to correct the email address in "
    "Keycloak, then sign in again."
)


def email_from_claim(raw: object) -> str:
    """The ``email`` claim, validated and normalized as every other address the portal takes
    (``email_validator``, then trimmed and lower-cased); "" when the claim is absent or empty.
    A claim that is not a valid address (bidi or control characters such as U+202E included)
    is refused with ``DomainError``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ""
    if not isinstance(raw, str) or len(raw) > 320:
        raise DomainError(BAD_EMAIL, code="bad_email")
    text = raw.strip()
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in text):
        raise DomainError(BAD_EMAIL, code="bad_email")
    try:
        return normalize_email(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise DomainError(BAD_EMAIL, code="bad_email") from exc


def _clean_name(raw: object) -> str:
    """A display name without control or bidi-format characters (they would reorder the text
    around it on every page that shows it)."""
    text = "".join(
        ch for ch in str(raw or "") if unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp"}
    )
    return " ".join(text.split())[:200]


def follow_staff_role(
    user: User, has_role: bool, *, source: str, actor_id: int | None = None
) -> None:
    """Staff rights follow Keycloak's realm role (b2b-rules section 10), at each sign-in and each
    re-sync. The role present makes the user staff, governed by Keycloak from then on; the role
    absent takes away staff rights Keycloak gave. A local grant (``grant-staff``, demo data) that
    Keycloak never governed is left alone: it is the way to bootstrap staff before the realm
    role exists. Each change is audited with before and after."""
    before = {
        "is_staff": bool(user.is_staff),
        "staff_from_keycloak": bool(user.staff_from_keycloak),
    }
    if has_role:
        user.is_staff = True
        user.staff_from_keycloak = True
    elif user.staff_from_keycloak:
        user.is_staff = False
        user.staff_from_keycloak = False
    after = {"is_staff": bool(user.is_staff), "staff_from_keycloak": bool(user.staff_from_keycloak)}
    if after["is_staff"] != before["is_staff"]:
        record_event(
            "user.staff_granted" if after["is_staff"] else "user.staff_revoked",
            "user",
            user.id,
            before=before,
            after=after,
            reason=f"Keycloak realm role {staff_role()!r} "
            + ("present" if has_role else "removed")
            + f" ({source})",
            actor_id=actor_id,
            actor_kind=None if actor_id else "job",
        )


def follow_keycloak_realm_roles(user: User, realm_roles: Collection[str], *, source: str) -> None:
    """The staff re-sync's half of ``follow_staff_role``: the user's realm roles as the Admin API
    lists them."""
    follow_staff_role(user, staff_role() in realm_roles, source=source)


def user_from_claims(claims: Mapping[str, Any], *, is_staff_by_role: bool) -> User:
    """Find or create the user keyed on the token's ``sub``.

    An account made before its first sign-in (``grant-staff``, a code assigned to an email, demo data)
    is linked by email, but only when Keycloak says the email is verified: an unverified address is
    never trusted to claim someone else's account.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise DomainError("The sign-in token has no subject; sign-in was refused.", code="no_sub")
    email = email_from_claim(claims.get("email"))
    verified = claims.get("email_verified") is True
    name = _clean_name(claims.get("name") or claims.get("preferred_username"))

    user = db.session.scalar(select(User).where(User.keycloak_sub == sub))
    holder = db.session.scalar(select(User).where(User.email == email)) if email else None
    if user is None and holder is not None and holder.keycloak_sub is None and verified:
        user = holder  # link the pre-made account
        user.keycloak_sub = sub
        record_event("user.linked", "user", user.id, after={"keycloak_sub": sub}, actor_id=user.id)
    if holder is not None and holder is not user:
        raise Conflict(
            "Another portal account already uses this email address. Ask support to merge the "
            "accounts; nothing was changed.",
            code="email_in_use",
        )
    if user is None:
        if not email:
            email = f"{sub}@users.invalid"  # no email from Keycloak: a stable, unusable placeholder
        user = User(keycloak_sub=sub, email=email)
        db.session.add(user)
        db.session.flush()
        record_event("user.created", "user", user.id, after={"email": email}, actor_id=user.id)
    elif email and user.email != email:
        user.email = email
    user.email_verified = verified
    if name:
        user.name = name
    follow_staff_role(user, is_staff_by_role, source="sign-in", actor_id=user.id)
    user.last_login_at = utcnow()
    db.session.flush()
    return user
