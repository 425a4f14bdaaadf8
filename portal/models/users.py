"""People who sign in: learners, organization admins (via memberships) and staff."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow

if TYPE_CHECKING:
    from portal.models.organizations import Membership


def normalize_email(email: str) -> str:
    """Emails are matched case-insensitively: store and compare them trimmed and lower-cased."""
    return email.strip().lower()


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keycloak's `sub`; null until the person first signs in (e.g. a code assigned to an email).
    keycloak_sub: Mapped[str | None] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(200), default="")
    is_staff: Mapped[bool] = mapped_column(default=False)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    edx_username: Mapped[str | None] = mapped_column(String(150), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    # Bumped at sign-out: a session cookie carries the version it was issued under, and one from
    # before the sign-out (a copied cookie) no longer signs anyone in.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # True while the staff right comes from Keycloak's realm role (KEYCLOAK_STAFF_ROLE): the next
    # sign-in or re-sync without the role takes it away. A local grant (``grant-staff``, demo data)
    # leaves it False and is kept until Keycloak's role has once governed the account.
    staff_from_keycloak: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The language they read the portal in (``portal.i18n``: chosen, else their browser's at
    # sign-in); the emails sent to them in jobs use it. Null: never signed in, English.
    locale: Mapped[str | None] = mapped_column(String(8))

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # flask-login
        return self.is_active_account

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class EndedSsoSession(Base):
    """A Keycloak session (its ``sid``) that Keycloak ended by back-channel logout: a portal session
    signed in through it is signed out at its next request, on every web process. Kept as long as
    a portal session can live, then purged."""

    __tablename__ = "ended_sso_sessions"

    sid: Mapped[str] = mapped_column(String(255), primary_key=True)
    ended_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class UsedLogoutToken(Base):
    """The ``jti`` of each back-channel logout token accepted, until the token would be too old to
    accept anyway: a token posted twice (a replay) is refused, across processes."""

    __tablename__ = "used_logout_tokens"

    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
