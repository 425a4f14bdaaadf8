"""Orders (b2b-rules section 7): every grant of access to a run is an order, priced by the contract
and the redeemed code. A zero total is fulfilled at once; a paid one waits for a verified payment.
Fulfilment is idempotent: the order row is locked and only a pending order is fulfilled, so a
repeated payment confirmation never enrolls twice."""

from __future__ import annotations

import secrets
from decimal import Decimal

from sqlalchemy import select

from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import (
    CodeRedemption,
    Contract,
    CourseRun,
    EdxSyncState,
    Enrollment,
    EnrollmentCode,
    Order,
    OrderLine,
    OrderState,
    User,
    utcnow,
)
from portal.services.audit import record_event

ZERO = Decimal("0.00")


def price_for(contract: Contract, user: User) -> tuple[Decimal, int | None]:
    """The per-run price for ``user`` on ``contract``, and the redemption that set it (if any): a
    redeemed code with its own amount wins over the contract's price."""
    list_price = contract.price_per_learner or ZERO
    row = db.session.execute(
        select(CodeRedemption.id, EnrollmentCode.amount)
        .join(EnrollmentCode, EnrollmentCode.id == CodeRedemption.code_id)
        .where(CodeRedemption.user_id == user.id, CodeRedemption.contract_id == contract.id)
        .order_by(CodeRedemption.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return list_price, None
    redemption_id, amount = row
    return (amount if amount is not None else list_price), redemption_id


def pending_order_for(user: User, contract: Contract, runs: list[CourseRun]) -> Order | None:
    """A pending order of this learner for exactly these runs (so a second click reuses it)."""
    wanted = sorted(r.id for r in runs)
    for order in db.session.scalars(
        select(Order).where(
            Order.user_id == user.id,
            Order.contract_id == contract.id,
            Order.state == OrderState.PENDING,
        )
    ):
        if sorted(line.course_run_id or 0 for line in order.lines) == wanted:
            return order
    return None


def create_order(user: User, contract: Contract, runs: list[CourseRun]) -> Order:
    price, redemption_id = price_for(contract, user)
    list_price = contract.price_per_learner or ZERO
    unit = max(list_price, price)
    order = Order(
        reference=f"B2B-{secrets.token_hex(8).upper()}",
        user_id=user.id,
        contract_id=contract.id,
        total=price * len(runs),
        state=OrderState.PENDING,
    )
    for run in runs:
        order.lines.append(
            OrderLine(
                course_run_id=run.id,
                redemption_id=redemption_id,
                unit_price=unit,
                discount=unit - price,
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
            "runs": [r.course_key for r in runs],
        },
    )
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
