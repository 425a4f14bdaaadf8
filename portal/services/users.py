"""Turning a verified ID token into the portal's user (b2b-rules section 2; keycloak.md section 1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from portal.core.domain_errors import Conflict, DomainError
from portal.extensions import db
from portal.models import User, normalize_email, utcnow
from portal.services.audit import record_event


def user_from_claims(claims: Mapping[str, Any], *, is_staff_by_role: bool) -> User:
    """Find or create the user keyed on the token's ``sub``.

    An account made before its first sign-in (``grant-staff``, a code assigned to an email, demo data)
    is linked by email, but only when Keycloak says the email is verified: an unverified address is
    never trusted to claim someone else's account.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise DomainError("The sign-in token has no subject; sign-in was refused.", code="no_sub")
    raw_email = claims.get("email")
    email = normalize_email(raw_email) if isinstance(raw_email, str) and raw_email.strip() else ""
    verified = claims.get("email_verified") is True
    name = str(claims.get("name") or claims.get("preferred_username") or "")[:200]

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
    if is_staff_by_role and not user.is_staff:
        user.is_staff = True
        record_event(
            "user.staff_granted",
            "user",
            user.id,
            before={"is_staff": False},
            after={"is_staff": True},
            reason="Keycloak realm role",
            actor_id=user.id,
        )
    user.last_login_at = utcnow()
    db.session.flush()
    return user
