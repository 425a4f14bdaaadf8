"""Enrollment codes, their redemptions, and seats (b2b-rules sections 5 and 6)."""

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
    Numeric,
    String,
    Text,
    UniqueConstraint,
    case,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from portal.models.contracts import Contract
    from portal.models.users import User


class RedemptionType(enum.StrEnum):
    ONE_TIME = "one_time"  # one use in all
    ONE_PER_LEARNER = "one_per_learner"  # any number of learners, once each
    MULTI_USE = "multi_use"  # up to max_uses uses


class CodeStatus(enum.StrEnum):
    """Where a code stands, from the first that holds: used (redeemed at least once, even if it
    was deactivated since), deactivated, assigned (to an email address, not used yet), unused."""

    UNUSED = "unused"
    ASSIGNED = "assigned"
    USED = "used"
    DEACTIVATED = "deactivated"


class EnrollmentCode(Base):
    __tablename__ = "enrollment_codes"
    __table_args__ = (
        CheckConstraint("code = upper(code)", name="code_normalized"),
        CheckConstraint(
            "(redemption_type = 'multi_use' AND (max_uses IS NULL OR max_uses > 0))"
            " OR (redemption_type = 'one_time' AND max_uses IS NOT NULL AND max_uses = 1)"
            " OR (redemption_type = 'one_per_learner' AND max_uses IS NULL)",
            name="max_uses",
        ),
        CheckConstraint("times_redeemed >= 0", name="times_redeemed"),
        CheckConstraint("max_uses IS NULL OR times_redeemed <= max_uses", name="uses_within_max"),
        CheckConstraint(
            "expires_at IS NULL OR activates_at IS NULL OR expires_at > activates_at",
            name="window",
        ),
        CheckConstraint("discount_amount IS NULL OR discount_amount >= 0", name="discount_amount"),
        CheckConstraint(
            "discount_percent IS NULL OR (discount_percent > 0 AND discount_percent <= 100)",
            name="discount_percent",
        ),
        CheckConstraint("discount_amount IS NULL OR discount_percent IS NULL", name="one_discount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored upper-case; entry is case-insensitive and trimmed.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    redemption_type: Mapped[RedemptionType] = mapped_column(
        str_enum(RedemptionType, "redemption_type")
    )
    max_uses: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    activates_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    # The discount the code gives on the contract's price per learner (b2b-rules section 5): a
    # percentage or a fixed amount, never both, never more than the price (``services.pricing``).
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    discount_amount: Mapped[Decimal | None]
    deactivated_at: Mapped[dt.datetime | None]
    # Generated for a seat (one per seat on seat-limited contracts) rather than as an extra batch.
    for_seat: Mapped[bool] = mapped_column(default=False)
    batch: Mapped[str | None] = mapped_column(String(64), index=True)
    assigned_email: Mapped[str | None] = mapped_column(String(320), index=True)
    assigned_at: Mapped[dt.datetime | None]
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reminded_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    contract: Mapped[Contract] = relationship()

    @hybrid_property
    def status(self) -> CodeStatus:
        """The code's ``CodeStatus``; in SQL the same rule as one ``CASE`` expression, for the
        status tabs' filters and counts."""
        if self.times_redeemed > 0:
            return CodeStatus.USED
        if self.deactivated_at is not None:
            return CodeStatus.DEACTIVATED
        if self.assigned_email is not None:
            return CodeStatus.ASSIGNED
        return CodeStatus.UNUSED

    @status.inplace.expression
    @classmethod
    def _status_expression(cls) -> ColumnElement[CodeStatus]:
        return case(
            (cls.times_redeemed > 0, CodeStatus.USED.value),
            (cls.deactivated_at.is_not(None), CodeStatus.DEACTIVATED.value),
            (cls.assigned_email.is_not(None), CodeStatus.ASSIGNED.value),
            else_=CodeStatus.UNUSED.value,
        )


class CodeRedemption(Base):
    __tablename__ = "code_redemptions"
    __table_args__ = (UniqueConstraint("code_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("enrollment_codes.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    redeemed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    code: Mapped[EnrollmentCode] = relationship()
    user: Mapped[User] = relationship()


class SeatSource(enum.StrEnum):
    CODE = "code"
    AUTO = "auto"  # first enrollment in an auto contract's run
    ASSIGNED = "assigned"  # redeemed a code an org admin assigned
    STAFF = "staff"


class Seat(Base):
    """One learner holding access to one contract; claimed under the contract row lock."""

    __tablename__ = "seats"
    __table_args__ = (
        UniqueConstraint("contract_id", "user_id"),
        # The org admin's learners table: a contract's seats, newest claim first.
        Index("ix_seats_contract_id_claimed_at", "contract_id", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    source: Mapped[SeatSource] = mapped_column(str_enum(SeatSource, "seat_source"))
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("code_redemptions.id"), index=True)
    claimed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Seats are freed only by an explicit revoke, recorded with actor and reason (b2b-rules 6).
    revoked_at: Mapped[dt.datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    contract: Mapped[Contract] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
