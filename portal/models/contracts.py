"""Contracts: what an organization bought, for whom, until when (b2b-rules sections 1.3 and 3)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
)
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from portal.models.courseware import Program
    from portal.models.organizations import Organization


class MembershipType(enum.StrEnum):
    AUTO = "auto"  # every SSO member of the organization
    CODE = "code"  # whoever redeems a valid code
    MANAGED = "managed"  # a valid code AND an SSO membership


class NotLive(enum.StrEnum):
    """Why a contract gives no new access and no new enrollment now (b2b-rules section 3), in the
    order they are checked; the values are the refusal reasons the learner's pages record."""

    ORGANIZATION_INACTIVE = "organization_inactive"
    CONTRACT_INACTIVE = "contract_inactive"
    NOT_STARTED = "contract_not_started"
    ENDED = "contract_ended"


def _live_at_sql(cls: type[Contract], at: dt.datetime) -> ColumnElement[bool]:
    """``Contract.is_live_at`` in SQL: the organization's flag through an EXISTS, so the condition
    needs no join."""
    return and_(
        cls.active.is_(True),
        cls.organization.has(active=True),
        or_(cls.start_at.is_(None), cls.start_at <= at),
        or_(cls.end_at.is_(None), cls.end_at > at),
    )


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        UniqueConstraint("organization_id", "slug"),
        CheckConstraint("end_at IS NULL OR start_at IS NULL OR end_at > start_at", name="dates"),
        # Seats are limited by a number >= 0, or explicitly unlimited: never 0-means-unlimited.
        CheckConstraint(
            "(unlimited_seats AND seat_limit IS NULL) OR (NOT unlimited_seats AND seat_limit IS NOT NULL AND seat_limit >= 0)",
            name="seat_limit",
        ),
        CheckConstraint("price_per_learner IS NULL OR price_per_learner >= 0", name="price"),
        CheckConstraint("run_counter >= 0", name="run_counter"),
        # A contract is renewed at most once (a unique index: SQLite adds no constraint in place).
        Index("uq_contracts_renewed_from_id", "renewed_from_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    welcome_message: Mapped[str] = mapped_column(Text, default="")
    membership_type: Mapped[MembershipType] = mapped_column(
        str_enum(MembershipType, "membership_type")
    )
    start_at: Mapped[dt.datetime | None]
    end_at: Mapped[dt.datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    unlimited_seats: Mapped[bool] = mapped_column(default=False)
    seat_limit: Mapped[int | None]
    price_per_learner: Mapped[Decimal | None]
    # Whether org admins may revoke a learner's seat (staff always may).
    seat_revoke_allowed: Mapped[bool] = mapped_column(default=True)
    # Last run number minted for this contract's course runs; bumped under the contract row lock.
    run_counter: Mapped[int] = mapped_column(default=0)
    # The contract this one renews (the previous term); the previous one's ``renewal`` is this one.
    renewed_from_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="contracts")
    renewed_from: Mapped[Contract | None] = relationship(
        remote_side="Contract.id", back_populates="renewal", foreign_keys=[renewed_from_id]
    )
    renewal: Mapped[Contract | None] = relationship(
        back_populates="renewed_from", foreign_keys=[renewed_from_id], uselist=False
    )
    program_links: Mapped[list[ContractProgram]] = relationship(
        back_populates="contract", order_by="ContractProgram.position", cascade="all, delete-orphan"
    )

    @property
    def is_paid(self) -> bool:
        return bool(self.price_per_learner and self.price_per_learner > 0)

    def not_live_reason(
        self, at: dt.datetime, organization: Organization | None = None
    ) -> NotLive | None:
        """Why the contract is not live at ``at``, or None when it is: "the contract is live" is
        an active contract of an active organization, started (``start_at <= at``) and not ended
        (``at < end_at``). ``is_live_at`` is the same rule, in Python and in SQL."""
        org = organization if organization is not None else self.organization
        if not org.active:
            return NotLive.ORGANIZATION_INACTIVE
        if not self.active:
            return NotLive.CONTRACT_INACTIVE
        if self.start_at is not None and at < self.start_at:
            return NotLive.NOT_STARTED
        if self.end_at is not None and at >= self.end_at:
            return NotLive.ENDED
        return None

    def _is_live_at(self, at: dt.datetime) -> bool:
        """Whether the contract gives new access and new enrollments at ``at`` (b2b-rules 3):
        ``not_live_reason`` is None; in SQL the same rule as one condition (``_live_at_sql``)."""
        return self.not_live_reason(at) is None

    is_live_at = hybrid_method(_is_live_at, _live_at_sql)


class ContractProgram(Base):
    """The ordered many-to-many link between contracts and programs (seed: 'a more flexible mapping')."""

    __tablename__ = "contract_programs"
    __table_args__ = (
        UniqueConstraint("contract_id", "program_id"),
        CheckConstraint("position >= 0", name="position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contract: Mapped[Contract] = relationship(back_populates="program_links")
    program: Mapped[Program] = relationship()
