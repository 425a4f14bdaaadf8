"""Orders, their lines, and payments (b2b-rules section 7): every grant of access is an order."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, str_enum, utcnow

if TYPE_CHECKING:
    from portal.models.users import User


class OrderState(enum.StrEnum):
    PENDING = "pending"  # waiting for a verified payment
    FULFILLED = "fulfilled"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("total >= 0", name="total"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Sent to the payment provider as its reference number.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    state: Mapped[OrderState] = mapped_column(
        str_enum(OrderState, "order_state"), default=OrderState.PENDING
    )
    total: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # The staff orders list reads newest first.
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    fulfilled_at: Mapped[dt.datetime | None]
    # Why the portal closed this order while it was pending (access ended: b2b-rules section 10).
    close_reason: Mapped[str | None] = mapped_column(Text)
    # "Paid, needs refund": a verified payment arrived that granted nothing, and why. The order is
    # on the staff list while ``refund_due_at`` is set and ``refund_resolved_at`` is not.
    refund_reason: Mapped[str | None] = mapped_column(Text)
    refund_due_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    refund_resolved_at: Mapped[dt.datetime | None]
    # How staff resolved it: "refunded", or "granted" (access given by hand).
    refund_resolution: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint(
            "(course_run_id IS NOT NULL) OR (program_id IS NOT NULL)", name="has_product"
        ),
        CheckConstraint(
            "unit_price >= 0 AND discount >= 0 AND discount <= unit_price", name="amounts"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    course_run_id: Mapped[int | None] = mapped_column(ForeignKey("course_runs.id"))
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"))
    # The redemption whose code priced this line, if any.
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("code_redemptions.id"))
    unit_price: Mapped[Decimal]
    discount: Mapped[Decimal] = mapped_column(default=Decimal("0.00"))

    order: Mapped[Order] = relationship(back_populates="lines")


class PaymentDecision(enum.StrEnum):
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"
    CANCEL = "CANCEL"
    REVIEW = "REVIEW"
    ERROR = "ERROR"


class Payment(Base):
    """One signed response from the payment provider; a repeated notification is a unique-key hit."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "transaction_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32), default="cybersource")
    transaction_id: Mapped[str] = mapped_column(String(64))
    decision: Mapped[PaymentDecision] = mapped_column(str_enum(PaymentDecision, "payment_decision"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    message: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RefundState(enum.StrEnum):
    REQUESTED = "requested"  # recorded; the refund job has not had CyberSource's answer yet
    SUCCEEDED = "succeeded"  # CyberSource accepted the refund
    FAILED = "failed"  # CyberSource refused it (or gave up): nothing was refunded


class RefundAccess(enum.StrEnum):
    """What happens to the learner's access when the refund succeeds, as staff chose."""

    KEEP = "keep"  # the seat and enrollments stay (a goodwill refund)
    REVOKE = "revoke"  # the seat is revoked and the order's enrollments end


class Refund(Base):
    """A refund staff started from an order, through CyberSource's REST refund call
    (``POST /pts/v2/payments/{id}/refunds``). ``request_key`` is sent as the client reference and
    is unique, so a retried job or a double click never refunds twice."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    access: Mapped[RefundAccess] = mapped_column(str_enum(RefundAccess, "refund_access"))
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[RefundState] = mapped_column(
        str_enum(RefundState, "refund_state"), default=RefundState.REQUESTED
    )
    # CyberSource's answer: the refund's id and status (e.g. PENDING), or why it failed.
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    provider_status: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]

    order: Mapped[Order] = relationship()
