"""Contracts: what an organization bought, for whom, until when (b2b-rules sections 1.3 and 3)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from portal.models.courseware import Program
    from portal.models.organizations import Organization


class MembershipType(enum.StrEnum):
    AUTO = "auto"  # every SSO member of the organization
    CODE = "code"  # whoever redeems a valid code
    MANAGED = "managed"  # a valid code AND an SSO membership


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
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="contracts")
    program_links: Mapped[list[ContractProgram]] = relationship(
        back_populates="contract", order_by="ContractProgram.position", cascade="all, delete-orphan"
    )

    @property
    def is_paid(self) -> bool:
        return bool(self.price_per_learner and self.price_per_learner > 0)

    def is_in_dates(self, at: dt.datetime) -> bool:
        return (self.start_at is None or self.start_at <= at) and (
            self.end_at is None or at < self.end_at
        )


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
