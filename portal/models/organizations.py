"""Organizations that buy access, and who belongs to them (b2b-rules sections 1.2 and 2)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from portal.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from portal.models.contracts import Contract
    from portal.models.users import User


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        # The short key is part of every contract course key in edX; it never changes once used.
        CheckConstraint("length(key) BETWEEN 1 AND 30", name="key_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(30), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    logo: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    logo_content_type: Mapped[str | None] = mapped_column(String(32))
    logo_updated_at: Mapped[dt.datetime | None]
    keycloak_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    keycloak_alias: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The aliases of the identity providers Keycloak links to this organization (its own sign-in),
    # read from the admin API when it is linked, pulled or re-synced, so a login needs no admin call.
    idp_aliases: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    active: Mapped[bool] = mapped_column(default=True)
    # Whether invitees with an unredeemed assigned code get the scheduled reminders
    # (``CODE_REMINDER_DAYS``); org admins switch it off on their notices page.
    invite_reminders: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="organization")
    contracts: Mapped[list[Contract]] = relationship(back_populates="organization")

    def __repr__(self) -> str:
        return f"<Organization {self.key}>"


class MembershipSource(enum.StrEnum):
    SSO = "sso"  # from the token's organization claim at login
    CODE = "code"  # redeemed an enrollment code
    STAFF = "staff"  # added by hand by staff or an org admin


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[MembershipSource] = mapped_column(
        str_enum(MembershipSource, "membership_source")
    )
    # Kept across logins until the organization shows up in the token's claim (b2b-rules section 2).
    keep_until_seen: Mapped[bool] = mapped_column(default=False)
    # What Keycloak says about the credentials: this member's last login came through one of the
    # organization's linked identity providers (the token's ``identity_provider`` claim), or
    # Keycloak's member record says ``MANAGED`` (provisioned by that provider). Set at login and by
    # the re-sync jobs; a password login and a member the portal pushed (``UNMANAGED``) clear it.
    managed_by_idp: Mapped[bool] = mapped_column(default=False, server_default=false())
    is_manager: Mapped[bool] = mapped_column(default=False)
    # An org admin's choice: no notices by email about this organization (ending contracts, seats,
    # the unredeemed codes digest). Their scheduled reports are a separate subscription.
    notices_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(back_populates="memberships")

    @hybrid_property
    def through_sso(self) -> bool:
        """Confirmed by the organization's own credentials, as Keycloak records them: the login came
        through an identity provider linked to the organization, or Keycloak lists the member as
        ``MANAGED`` (``managed_by_idp``). Being in the token's ``organization`` claim is not enough:
        Keycloak lists hand-added members and the code redeemers the portal pushes there too, so a
        ``managed`` contract is not theirs (b2b-rules section 3). The same rule in SQL."""
        return bool(self.managed_by_idp)

    @through_sso.inplace.expression
    @classmethod
    def _through_sso_expression(cls) -> ColumnElement[bool]:
        return cls.managed_by_idp.is_(True)
