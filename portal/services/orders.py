"""Orders (b2b-rules section 7): every grant of access to a run is an order, priced by the contract
and the redeemed code. A zero total is fulfilled at once; a paid one waits for a verified payment.
Fulfilment is idempotent: the order row is locked and only a pending order is fulfilled, so a
repeated payment confirmation never enrolls twice.

When access ends (b2b-rules section 10: a seat revoked, a contract or its organization deactivated or
ended, a run closed) :func:`close_pending_orders` cancels the learner's open orders for it, under the
contract lock. A paid order is fulfilled only after :func:`fulfilment_refusal` re-checks, under the
same lock, that the seat, contract, organization and runs still allow it; a verified payment that
grants nothing is kept and flagged "paid, needs refund" (:func:`flag_refund`) for staff."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import Select, select

from portal.core.domain_errors import NotFound
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import (
    Contract,
    CourseRun,
    EdxSyncState,
    Enrollment,
    Order,
    OrderLine,
    OrderState,
    Organization,
    Seat,
    User,
    utcnow,
)
from portal.models.contracts import NotLive
from portal.services.access import available_contracts
from portal.services.audit import record_event
from portal.services.locks import lock_contract
from portal.services.pricing import ZERO, has_paid, price_for


def order_for(user: User, contract: Contract, runs: list[CourseRun]) -> Order:
    """The learner's order for ``runs``: their pending order for exactly these runs (a second
    click reuses it), else a new one. The price is paid once per contract, so a learner has one
    open paid order per contract at most: a pending paid order for other runs is cancelled and
    the new order covers its runs too (the caller holds the contract lock)."""
    wanted = {r.id for r in runs}
    pending = list(
        db.session.scalars(
            select(Order)
            .where(
                Order.user_id == user.id,
                Order.contract_id == contract.id,
                Order.state == OrderState.PENDING,
            )
            .order_by(Order.id)
            .with_for_update()
        )
    )
    for order in pending:
        if {line.course_run_id for line in order.lines} == wanted:
            return order
    covered = list(runs)
    for order in pending:
        if order.total > ZERO:
            for line in order.lines:
                run = db.session.get(CourseRun, line.course_run_id) if line.course_run_id else None
                if run is not None and run.id not in {r.id for r in covered}:
                    covered.append(run)
    replacement = create_order(user, contract, covered)
    for order in pending:
        if order.total > ZERO:
            cancel_pending(
                order,
                contract,
                f"replaced by order {replacement.reference}, which covers its courses",
                why="the price is paid once per contract",
            )
    return replacement


def create_order(user: User, contract: Contract, runs: list[CourseRun]) -> Order:
    """An order for ``runs`` of ``contract``. The price is per learner (``services.pricing``):
    the first line carries the list price and the code's discount, unless the learner paid for
    the contract already; the other lines cost nothing."""
    price = price_for(contract, user)
    order = Order(
        reference=f"B2B-{secrets.token_hex(8).upper()}",
        user_id=user.id,
        contract_id=contract.id,
        total=price.due,
        state=OrderState.PENDING,
    )
    for position, run in enumerate(runs):
        charged = position == 0 and not price.paid_already
        order.lines.append(
            OrderLine(
                course_run_id=run.id,
                redemption_id=price.redemption_id,
                unit_price=price.list_price if charged else ZERO,
                discount=price.discount if charged else ZERO,
            )
        )
    db.session.add(order)
    db.session.flush()
    record_event(
        "order.created",
        "order",
        order.id,
        organization_id=contract.organization_id,
        after={
            "reference": order.reference,
            "total": str(order.total),
            "list_price": str(price.list_price),
            "discount": str(price.discount),
            "paid_already": price.paid_already,
            "runs": [r.course_key for r in runs],
        },
    )
    return order


def locked_order(reference: str) -> Order:
    """The order with ``reference``, its row locked and re-read; ``NotFound`` if there is none."""
    order = db.session.scalar(
        select(Order)
        .where(Order.reference == reference[:64])
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound(_("No order has that reference."))
    return order


def fulfil_order(order_id: int) -> bool:
    """Grant what the order bought: enrollments (created or reactivated) and their edX jobs.
    Returns True if fulfilled now, False if it was not pending (already fulfilled, or closed)."""
    order = db.session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None or order.state is not OrderState.PENDING:
        return False
    order.state = OrderState.FULFILLED
    order.fulfilled_at = utcnow()
    user = db.session.get(User, order.user_id)
    assert user is not None
    for line in order.lines:
        if line.course_run_id is not None:
            activate_enrollment(user, line.course_run_id, order)
    contract = db.session.get(Contract, order.contract_id)
    record_event(
        "order.fulfilled",
        "order",
        order.id,
        organization_id=contract.organization_id if contract else None,
        after={"reference": order.reference, "total": str(order.total)},
    )
    return True


def close_order(order_id: int, state: OrderState, reason: str = "") -> bool:
    """Decline or cancel a pending order (nothing is granted). False if it was not pending."""
    order = db.session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None or order.state is not OrderState.PENDING:
        return False
    order.state = state
    record_event(
        f"order.{state.value}",
        "order",
        order.id,
        after={"reference": order.reference},
        reason=reason,
    )
    return True


def activate_enrollment(user: User, run_id: int, order: Order | None) -> Enrollment:
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.course_run_id == run_id)
    )
    run = db.session.get(CourseRun, run_id)
    assert run is not None
    if enrollment is None:
        enrollment = Enrollment(
            user_id=user.id, course_run_id=run_id, contract_id=run.contract_id, mode="verified"
        )
        db.session.add(enrollment)
    elif enrollment.active and enrollment.edx_state is not EdxSyncState.FAILED:
        return enrollment
    enrollment.active = True
    enrollment.edx_state = EdxSyncState.PENDING
    enrollment.edx_error = None
    if order is not None:
        enrollment.order_id = order.id
    db.session.flush()
    record_job(
        JobKind.OPENEDX_ENROLL,
        {"enrollment_id": enrollment.id},
        object_type="enrollment",
        object_id=enrollment.id,
    )
    record_event(
        "enrollment.created",
        "enrollment",
        enrollment.id,
        after={
            "user_id": user.id,
            "run": run.course_key,
            "order": order.reference if order else None,
        },
    )
    return enrollment


# ------------------------------------------------------------------ when access ends (section 10)

ACCESS_ENDED: dict[NotLive, str] = {
    NotLive.ORGANIZATION_INACTIVE: "the organization {org} was deactivated",
    NotLive.CONTRACT_INACTIVE: "the contract {contract} was deactivated",
    NotLive.NOT_STARTED: "the contract {contract} has not started",
    NotLive.ENDED: "the contract {contract} has ended",
}


def not_live_text(contract: Contract, org: Organization) -> str | None:
    """Why ``contract`` gives no access now, in words for the audit log and staff, or None."""
    reason = contract.not_live_reason(utcnow(), org)
    if reason is None:
        return None
    return ACCESS_ENDED[reason].format(org=org.name, contract=contract.name)


def close_pending_orders(
    *,
    contract_id: int | None = None,
    organization_id: int | None = None,
    user_id: int | None = None,
    run_ids: Iterable[int] | None = None,
    reason: str | None = None,
    when_not_live: bool = False,
) -> list[Order]:
    """Cancel the pending orders that access ending leaves without a grant: those on the contract
    (or on every contract of the organization), of one learner, or with a line for one of
    ``run_ids``. Each order is cancelled with its reason and audited (actor, before, after).

    ``when_not_live``: only on contracts not live now, the reason being why (``not_live_text``):
    callers that may also reactivate or extend a contract call it after every change.

    Takes each contract's lock (exclusive, in id order; the caller's own lock is kept), then the
    order rows, the order a payment takes them in (``services.payments``), so a payment arriving
    meanwhile either fulfilled the order first or finds it cancelled."""
    db.session.flush()  # the caller's change first: locking re-reads the contract
    runs = None if run_ids is None else set(run_ids)
    closed: list[Order] = []
    for cid in _contract_ids(contract_id, organization_id):
        query = select(Order.id).where(Order.contract_id == cid, Order.state == OrderState.PENDING)
        if user_id is not None:
            query = query.where(Order.user_id == user_id)
        if runs is not None:
            query = query.where(
                Order.id.in_(select(OrderLine.order_id).where(OrderLine.course_run_id.in_(runs)))
            )
        if db.session.scalar(query.limit(1)) is None:
            continue
        contract = lock_contract(cid)
        why = reason
        if when_not_live:
            org = db.session.get(Organization, contract.organization_id)
            assert org is not None
            why = not_live_text(contract, org)
            if why is None:
                continue
        closed += _cancel_each(query, contract, why or "access ended")
    db.session.flush()
    return closed


def _contract_ids(contract_id: int | None, organization_id: int | None) -> list[int]:
    if contract_id is not None:
        return [contract_id]
    if organization_id is None:
        raise ValueError("close_pending_orders needs a contract or an organization")
    return list(
        db.session.scalars(
            select(Contract.id)
            .where(Contract.organization_id == organization_id)
            .order_by(Contract.id)
        )
    )


def _cancel_each(query: Select[int], contract: Contract, reason: str) -> list[Order]:
    """Cancel the orders ``query`` finds that are still pending once their rows are locked."""
    closed = []
    for order in db.session.scalars(
        select(Order)
        .where(Order.id.in_(query))
        .order_by(Order.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ):
        if order.state is OrderState.PENDING:
            cancel_pending(order, contract, reason)
            closed.append(order)
    return closed


def cancel_pending(
    order: Order, contract: Contract, reason: str, *, why: str = "access ended"
) -> None:
    """Cancel one pending order, its row locked by the caller, because access ended (or ``why``)."""
    order.state = OrderState.CANCELLED
    order.close_reason = reason
    record_event(
        "order.cancelled",
        "order",
        order.id,
        organization_id=contract.organization_id,
        before={"reference": order.reference, "state": OrderState.PENDING.value},
        after={
            "reference": order.reference,
            "state": OrderState.CANCELLED.value,
            "user_id": order.user_id,
        },
        reason=f"{why}: {reason}",
    )


def fulfilment_refusal(order: Order) -> str | None:
    """Why the order may no longer be fulfilled, or None: the contract (and its organization) must
    be live, the learner must still hold access to it (a seat not revoked, or the membership), and
    each run must still be on the contract with enrollment open. The caller holds the contract
    lock (as enrolling does), so none of it changes before the commit."""
    contract = db.session.get(Contract, order.contract_id)
    assert contract is not None
    org = db.session.get(Organization, contract.organization_id)
    assert org is not None
    not_live = not_live_text(contract, org)
    if not_live is not None:
        return not_live
    user = db.session.get(User, order.user_id)
    assert user is not None
    if order.total > 0 and has_paid(user.id, contract.id):
        return f"the learner had paid for {contract.name} already (the price is per learner)"
    if contract.id not in {c.id for c in available_contracts(user)}:
        seat = db.session.scalar(
            select(Seat).where(Seat.contract_id == contract.id, Seat.user_id == user.id)
        )
        if seat is not None and seat.revoked_at is not None:
            return f"the learner's seat on {contract.name} was revoked"
        return f"the learner no longer has access to {contract.name}"
    now = utcnow()
    for line in order.lines:
        if line.course_run_id is None:
            continue
        run = db.session.get(CourseRun, line.course_run_id)
        if run is None or run.contract_id != contract.id:
            return f"a course of this order is no longer part of {contract.name}"
        if run.enrollment_end is not None and now >= run.enrollment_end:
            return f"enrollment in {run.title} has closed"
    return None


def flag_refund(order: Order, reason: str) -> None:
    """A verified payment for ``order`` granted nothing: "paid, needs refund", with the reason,
    until staff refund it or grant access by hand (``services.refunds``)."""
    if order.refund_due_at is not None and order.refund_resolved_at is None:
        order.refund_reason = f"{order.refund_reason}; then: {reason}"
    else:
        order.refund_reason = reason
        order.refund_resolved_at = None
        order.refund_resolution = None
    order.refund_due_at = utcnow()
    contract = db.session.get(Contract, order.contract_id)
    record_event(
        "order.refund_due",
        "order",
        order.id,
        organization_id=contract.organization_id if contract else None,
        after={"reference": order.reference, "state": order.state.value},
        reason=reason,
    )
