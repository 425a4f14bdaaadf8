"""Refunds staff start from an order, through CyberSource's REST refund call
(``POST /pts/v2/payments/{id}/refunds``, ``integrations.cybersource_rest``).

Starting one (:func:`start_refund`) only records it: a :class:`Refund` row (state ``requested``)
and a ``cybersource.refund`` job, in the caller's transaction, under the order's row lock. The job
(``tasks.refunds``) makes the call after the commit and records the answer through
:func:`refund_succeeded` or :func:`refund_failed`.

The rules:

* only a paid order can be refunded: one with a CyberSource ``ACCEPT`` payment. The amount is that
  payment's amount (a full refund);
* which payment: for a fulfilled order, the one that paid for it (its first approval); for an order
  on the "Paid, needs refund" list (``services.refunds``), the approval that granted nothing (its
  latest one not refunded yet). Refunding a payment that granted nothing leaves the learner's access
  as it is, so only *keep* is allowed there;
* never twice: one refund at a time per order (a second start while one is ``requested`` is a
  ``Conflict``), none for a payment refunded already, and ``Refund.request_key`` (unique) is sent as
  CyberSource's ``clientReferenceInformation.code``, so a retried job asks for the same refund;
* a failed refund (CyberSource refused it) changes nothing and shows its message; staff may start
  a new one;
* on success the order is ``refunded`` and the learner's access follows the staff's choice: *keep*
  leaves seat and enrollments, *revoke* revokes the seat (``services.seat_revocation``, which ends
  the learner's enrollments in the contract) and ends the order's enrollments
  (``services.enrollment.deactivate_enrollment``). A refund of the payment a flagged order waits
  for resolves the flag (``refund_resolution = "refunded"``).

Every step is audited: ``order.refund_requested``, ``order.refund_succeeded``,
``order.refund_failed``. Services flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.domain_errors import Conflict, DomainError
from portal.core.text import count_text
from portal.extensions import db
from portal.jobs import JobKind, record_job
from portal.models import (
    Contract,
    Enrollment,
    MembershipType,
    Order,
    OrderState,
    Payment,
    PaymentDecision,
    Refund,
    RefundAccess,
    RefundState,
    Seat,
    User,
    utcnow,
)
from portal.services.audit import record_event
from portal.services.enrollment import deactivate_enrollment
from portal.services.locks import lock_contract
from portal.services.orders import locked_order
from portal.services.refunds import REFUNDED as RESOLVED_REFUNDED
from portal.services.seat_revocation import MAX_REASON, check_revocable, revoke_seat

__all__ = [
    "MAX_REASON",
    "RefundPlan",
    "order_exists",
    "order_refunds",
    "refund_failed",
    "refund_plan",
    "refund_succeeded",
    "start_refund",
]

OPEN_STATES = (RefundState.REQUESTED, RefundState.SUCCEEDED)


@dataclass(frozen=True)
class RefundPlan:
    """What a refund of an order would be now: the payment it returns, or why there is none."""

    payment: Payment | None
    refusal: str | None = None
    # The payment granted nothing (an order on the "Paid, needs refund" list): access stays.
    keep_only: bool = False

    @property
    def possible(self) -> bool:
        return self.payment is not None


def _is_flagged(order: Order) -> bool:
    return order.refund_due_at is not None and order.refund_resolved_at is None


def _approvals(order: Order) -> list[Payment]:
    return list(
        db.session.scalars(
            select(Payment)
            .where(Payment.order_id == order.id, Payment.decision == PaymentDecision.ACCEPT)
            .order_by(Payment.id)
        )
    )


def _refunds_of(order: Order) -> list[Refund]:
    return list(
        db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
    )


def _extra_approvals(order: Order, approvals: list[Payment]) -> list[Payment]:
    """The approvals that granted nothing: all of them unless the order is fulfilled, where the
    first one paid for it."""
    return approvals[1:] if order.state is OrderState.FULFILLED else approvals


def refund_plan(order: Order, refunds: list[Refund] | None = None) -> RefundPlan:
    """Whether ``order`` can be refunded now, and which payment that returns (see the module).
    ``refunds``: the order's refunds, oldest first, when the caller has read them already."""
    refunds = _refunds_of(order) if refunds is None else refunds
    if any(refund.state is RefundState.REQUESTED for refund in refunds):
        return RefundPlan(
            None,
            _(
                "A refund of order %(reference)s is in progress: wait for CyberSource.",
                reference=order.reference,
            ),
        )
    approvals = _approvals(order)
    if not approvals:
        return RefundPlan(
            None,
            _(
                "Order %(reference)s was not paid: there is nothing to refund.",
                reference=order.reference,
            ),
        )
    refunded = {refund.payment_id for refund in refunds if refund.state in OPEN_STATES}
    if _is_flagged(order):
        waiting = [p for p in _extra_approvals(order, approvals) if p.id not in refunded]
        if waiting:
            return RefundPlan(waiting[-1], keep_only=True)
    if order.state is OrderState.REFUNDED:
        return RefundPlan(
            None, _("Order %(reference)s was refunded already.", reference=order.reference)
        )
    if order.state is not OrderState.FULFILLED:
        return RefundPlan(
            None,
            _(
                "Order %(reference)s is %(state)s: only a paid order can be refunded.",
                reference=order.reference,
                state=order.state.value,
            ),
        )
    if approvals[0].id in refunded:
        return RefundPlan(
            None, _("Order %(reference)s was refunded already.", reference=order.reference)
        )
    return RefundPlan(approvals[0])


def order_refunds(order: Order) -> list[Refund]:
    """The refunds started for ``order``, newest first."""
    return list(reversed(_refunds_of(order)))


def order_exists(reference: str) -> bool:
    return db.session.scalar(select(Order.id).where(Order.reference == reference[:64])) is not None


def _organization_id(order: Order) -> int | None:
    return db.session.scalar(
        select(Contract.organization_id).where(Contract.id == order.contract_id)
    )


def _request_key(order: Order, attempt: int) -> str:
    """The order's reference and the attempt: one key per refund, the same for all its retries,
    and what staff find the refund by in CyberSource's Business Center (its
    clientReferenceInformation.code holds 50 characters)."""
    key = f"{order.reference}-R{attempt}"
    return key if len(key) <= 50 else f"order-{order.id}-R{attempt}"


def start_refund(
    reference: str,
    *,
    access: RefundAccess,
    reason: str,
    actor_id: int | None,
    flagged_only: bool = False,
) -> Refund:
    """Record a full refund of ``reference``'s payment and its ``cybersource.refund`` job, under the
    order's row lock (two starts at once take turns; the second sees the first and is refused).

    ``flagged_only`` (the "Paid, needs refund" list): refund only the payment a flagged order waits
    for, and refuse once the order has left the list (a second click after it succeeded)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give a reason: it is recorded with the refund."), code="reason_needed")
    if len(reason) > MAX_REASON:
        raise DomainError(
            _("Keep the reason under %(max)s characters.", max=count_text(MAX_REASON))
        )
    access = RefundAccess(access)
    order = locked_order(reference)
    # One read of the refunds for both the plan and the attempt number: where the row lock is a
    # no-op (SQLite), a start that raced another one then makes the same request key, and fails.
    refunds = _refunds_of(order)
    plan = refund_plan(order, refunds)
    if flagged_only and not (_is_flagged(order) and (plan.keep_only or plan.payment is None)):
        raise Conflict(
            _("Order %(reference)s is not waiting for a refund.", reference=order.reference)
        )
    if plan.payment is None:
        raise Conflict(plan.refusal or _("This order can't be refunded."), code="refund_refused")
    if access is RefundAccess.REVOKE:
        if plan.keep_only:
            raise DomainError(
                _(
                    "This payment granted nothing, so refunding it leaves the learner's access as "
                    "it is: choose Keep access."
                ),
                code="refund_keep_only",
            )
        contract = db.session.get(Contract, order.contract_id)
        assert contract is not None
        check_revocable(contract, by_staff=True)
        if actor_id is None:
            raise DomainError(_("Revoking a seat needs the staff member who asks for it."))
    payment = plan.payment
    refund = Refund(
        order_id=order.id,
        payment_id=payment.id,
        request_key=_request_key(order, len(refunds) + 1),
        amount=payment.amount,
        currency=payment.currency,
        access=access,
        reason=reason,
        state=RefundState.REQUESTED,
        requested_by_id=actor_id,
    )
    db.session.add(refund)
    try:
        db.session.flush()
    except IntegrityError:
        # Two starts at once where the row lock is a no-op (SQLite): the request key is unique,
        # so the second insert fails, and is told what the row lock would have told it.
        db.session.rollback()
        raise Conflict(
            _(
                "A refund of order %(reference)s is in progress: wait for CyberSource.",
                reference=reference,
            ),
            code="refund_refused",
        ) from None
    organization_id = _organization_id(order)
    job = record_job(
        JobKind.CYBERSOURCE_REFUND,
        {"refund_id": refund.id},
        object_type="order",
        object_id=order.id,
        organization_id=organization_id,
    )
    record_event(
        "order.refund_requested",
        "order",
        order.id,
        organization_id=organization_id,
        before={"reference": order.reference, "state": order.state.value},
        after={
            "reference": order.reference,
            "refund_id": refund.id,
            "request_key": refund.request_key,
            "payment_id": payment.id,
            "transaction_id": payment.transaction_id,
            "amount": str(refund.amount),
            "currency": refund.currency,
            "access": access.value,
            "job": job.id,
        },
        reason=reason,
        actor_id=actor_id,
    )
    return refund


@dataclass(frozen=True)
class ProviderRefund:
    """CyberSource's answer to a refund it accepted."""

    refund_id: str
    status: str
    reconciliation_id: str | None = None


def _locked_refund(refund_id: int) -> Refund | None:
    return db.session.scalar(
        select(Refund)
        .where(Refund.id == refund_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def refund_succeeded(refund_id: int, answer: ProviderRefund) -> Refund | None:
    """CyberSource accepted the refund: record it, mark the order refunded, apply the access choice.

    Returns None (changing nothing) when the refund is no longer ``requested``: a repeated job."""
    order_contract = db.session.scalar(
        select(Order.contract_id)
        .join(Refund, Refund.order_id == Order.id)
        .where(Refund.id == refund_id)
    )
    if order_contract is None:
        return None
    # The contract lock first, then the order row, as payments and seat revocation take them.
    contract = lock_contract(order_contract)
    refund = _locked_refund(refund_id)
    if refund is None or refund.state is not RefundState.REQUESTED:
        return None
    order = _locked_order_by_id(refund.order_id)
    before = {"reference": order.reference, "state": order.state.value}
    approvals = _approvals(order)
    extra = refund.payment_id in {p.id for p in _extra_approvals(order, approvals)}
    now = utcnow()
    refund.state = RefundState.SUCCEEDED
    refund.provider_refund_id = answer.refund_id[:64]
    refund.provider_status = answer.status[:64]
    refund.error = None
    refund.finished_at = now
    db.session.flush()
    if not (extra and order.state is OrderState.FULFILLED):
        # The payment that paid for the order (or the only one of an order that granted nothing).
        order.state = OrderState.REFUNDED
    resolved = False
    if _is_flagged(order):
        refunded = {
            r.payment_id
            for r in db.session.scalars(
                select(Refund).where(
                    Refund.order_id == order.id, Refund.state == RefundState.SUCCEEDED
                )
            )
        }
        if all(p.id in refunded for p in _extra_approvals(order, approvals)):
            order.refund_resolved_at = now
            order.refund_resolution = RESOLVED_REFUNDED
            resolved = True
    access = _apply_access(refund, order, contract) if not extra else {}
    db.session.flush()
    record_event(
        "order.refund_succeeded",
        "order",
        order.id,
        organization_id=contract.organization_id,
        before=before,
        after={
            "reference": order.reference,
            "state": order.state.value,
            "refund_id": refund.id,
            "provider_refund_id": refund.provider_refund_id,
            "provider_status": refund.provider_status,
            "reconciliation_id": answer.reconciliation_id,
            "amount": str(refund.amount),
            "currency": refund.currency,
            "access": refund.access.value,
            "flag_resolved": resolved,
            **access,
        },
        reason=refund.reason,
        actor_kind="system",
    )
    return refund


def _locked_order_by_id(order_id: int) -> Order:
    order = db.session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert order is not None
    return order


def _apply_access(refund: Refund, order: Order, contract: Contract) -> dict[str, object]:
    """Staff chose *revoke*: the learner's seat (if they still hold one and it can be revoked) and
    the order's enrollments end. *Keep* changes nothing."""
    if refund.access is not RefundAccess.REVOKE:
        return {}
    reason = f"order {order.reference} refunded"
    result: dict[str, object] = {}
    seat = db.session.scalar(
        select(Seat).where(
            Seat.contract_id == contract.id,
            Seat.user_id == order.user_id,
            Seat.revoked_at.is_(None),
        )
    )
    actor = db.session.get(User, refund.requested_by_id) if refund.requested_by_id else None
    if seat is None:
        result["seat"] = "none held"
    elif contract.membership_type is MembershipType.AUTO or actor is None:
        # Checked when the refund started; the contract (or the staff account) changed since.
        result["seat"] = "kept: it can't be revoked any more; revoke it by hand"
    else:
        revocation = revoke_seat(
            contract.id, seat.id, f"{reason}: {refund.reason}"[:MAX_REASON], actor=actor
        )
        result["seat"] = "revoked"
        result["seat_id"] = revocation.seat.id
        result["enrollments_ended"] = revocation.enrollments_ended
    ended = 0
    for enrollment in db.session.scalars(
        select(Enrollment).where(Enrollment.order_id == order.id, Enrollment.active.is_(True))
    ):
        deactivate_enrollment(enrollment, organization_id=contract.organization_id, reason=reason)
        ended += 1
    result["order_enrollments_ended"] = ended
    return result


def refund_failed(refund_id: int, message: str) -> Refund | None:
    """CyberSource refused the refund (or could not be reached, after every retry): nothing was
    refunded, the order stays as it is, and staff see the message and may start a new refund."""
    refund = _locked_refund(refund_id)
    if refund is None or refund.state is not RefundState.REQUESTED:
        return None
    order = db.session.get(Order, refund.order_id)
    assert order is not None
    refund.state = RefundState.FAILED
    refund.error = message[:4000]
    refund.finished_at = utcnow()
    db.session.flush()
    record_event(
        "order.refund_failed",
        "order",
        order.id,
        organization_id=_organization_id(order),
        after={
            "reference": order.reference,
            "state": order.state.value,
            "refund_id": refund.id,
            "request_key": refund.request_key,
            "error": refund.error,
        },
        reason=refund.reason,
        actor_kind="system",
    )
    return refund
