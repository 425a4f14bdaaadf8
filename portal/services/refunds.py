"""Paid, needs refund (b2b-rules section 10): a verified payment that granted nothing (it arrived
after access ended, or for an order already closed or paid) waits here for staff, who either refund
it through CyberSource (``services.order_refunds``: the order leaves the list when CyberSource
accepts the refund), mark it refunded (a refund made outside the portal), or grant the access by
hand: a staff seat (``SeatSource.STAFF``, under the contract lock, within the seat limit) and the
order's enrollments, with their edX jobs. Every step is audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, select

from portal.core.domain_errors import Conflict, DomainError, NotFound
from portal.core.pagination import Page, paginate
from portal.core.sorting import Sort, Sorting
from portal.extensions import db
from portal.models import (
    Contract,
    CourseRun,
    Order,
    OrderState,
    Organization,
    Refund,
    RefundState,
    SeatSource,
    User,
    utcnow,
)
from portal.services.audit import record_event
from portal.services.locks import lock_contract
from portal.services.orders import activate_enrollment, locked_order, not_live_text
from portal.services.seats import ContractFull, claim_seat

REFUNDED = "refunded"
GRANTED = "granted"


@dataclass(frozen=True)
class RefundRow:
    reference: str
    learner: str
    learner_email: str
    contract: str
    organization: str
    amount: Decimal
    currency: str
    state: str
    reason: str
    due_at: dt.datetime
    grantable: bool
    # The latest refund through CyberSource, if staff started one: its state and error.
    refund_state: str | None = None
    refund_error: str | None = None

    @property
    def refund_in_progress(self) -> bool:
        return self.refund_state == RefundState.REQUESTED.value

    @property
    def refund_badge(self) -> str:
        """The portal.css badge of the refund's state."""
        return "pending" if self.refund_in_progress else str(self.refund_state)


def refund_due() -> ColumnElement[bool]:
    """An order on the list: flagged, not yet resolved."""
    return Order.refund_due_at.is_not(None) & Order.refund_resolved_at.is_(None)


REFUND_SORTING = Sorting(
    columns={
        "due": Order.refund_due_at,
        "reference": Order.reference,
        "learner": User.email,
        "amount": Order.total,
    },
    default="-due",
    tiebreak=Order.id,
    descending_first={"due", "amount"},
)


def refunds_page(page: int, sort: Sort | None = None) -> Page[RefundRow]:
    """The orders waiting for a refund in ``sort``'s order (newest first by default), counted."""
    sort = sort or REFUND_SORTING.read({})
    query = (
        select(Order, User, Contract, Organization)
        .join(User, User.id == Order.user_id)
        .join(Contract, Contract.id == Order.contract_id)
        .join(Organization, Organization.id == Contract.organization_id)
        .where(refund_due())
    )
    rows = paginate(sort.order(query), page, count=True, key=Order.id, sort=sort)
    latest = _latest_refunds([order.id for order, *_ in rows.items])
    rows.items = [
        RefundRow(
            reference=order.reference,
            learner=user.name or user.email,
            learner_email=user.email,
            contract=contract.name,
            organization=org.name,
            amount=order.total,
            currency=order.currency,
            state=order.state.value,
            reason=order.refund_reason or "",
            due_at=order.refund_due_at,
            grantable=order.state is not OrderState.FULFILLED,
            refund_state=latest[order.id].state.value if order.id in latest else None,
            refund_error=latest[order.id].error if order.id in latest else None,
        )
        for order, user, contract, org in rows.items
    ]
    return rows


def _latest_refunds(order_ids: list[int]) -> dict[int, Refund]:
    """Each order's latest CyberSource refund, in one query."""
    latest: dict[int, Refund] = {}
    if order_ids:
        for refund in db.session.scalars(
            select(Refund).where(Refund.order_id.in_(order_ids)).order_by(Refund.id)
        ):
            latest[refund.order_id] = refund
    return latest


def _due_order(reference: str) -> Order:
    order = locked_order(reference)
    if order.refund_due_at is None or order.refund_resolved_at is not None:
        raise Conflict(f"Order {order.reference} is not waiting for a refund.")
    in_progress = db.session.scalar(
        select(Refund.id).where(Refund.order_id == order.id, Refund.state == RefundState.REQUESTED)
    )
    if in_progress is not None:
        raise Conflict(
            f"A refund of order {order.reference} through CyberSource is in progress: wait for "
            "its answer."
        )
    return order


def _before(order: Order) -> dict[str, object]:
    return {
        "reference": order.reference,
        "state": order.state.value,
        "refund_reason": order.refund_reason,
    }


def mark_refunded(reference: str) -> Order:
    """Staff refunded the payment (in CyberSource): the order leaves the list, as refunded."""
    contract_id = db.session.scalar(select(Order.contract_id).where(Order.reference == reference))
    if contract_id is None:
        raise NotFound("No order has that reference.")
    contract = lock_contract(contract_id)
    order = _due_order(reference)
    before = _before(order)
    if order.state is not OrderState.FULFILLED:  # paid twice: the order itself stays fulfilled
        order.state = OrderState.REFUNDED
    order.refund_resolved_at = utcnow()
    order.refund_resolution = REFUNDED
    db.session.flush()
    record_event(
        "order.refunded",
        "order",
        order.id,
        organization_id=contract.organization_id,
        before=before,
        after={"reference": order.reference, "state": order.state.value, "refund": REFUNDED},
    )
    return order


def grant_access(reference: str) -> Order:
    """Give the learner what the order bought, by hand: a staff seat on the contract (within its
    seat limit, under the contract lock) and the order's enrollments, each with its edX job."""
    contract_id = db.session.scalar(select(Order.contract_id).where(Order.reference == reference))
    if contract_id is None:
        raise NotFound("No order has that reference.")
    contract = lock_contract(contract_id)
    order = _due_order(reference)
    if order.state is OrderState.FULFILLED:
        raise Conflict(f"Order {order.reference} was fulfilled already: refund the payment.")
    org = db.session.get(Organization, contract.organization_id)
    assert org is not None
    not_live = not_live_text(contract, org)
    if not_live is not None:
        raise DomainError(
            f"Access can't be granted: {not_live}. Reactivate or extend it first, or refund.",
            code="contract_not_live",
        )
    run_ids = [line.course_run_id for line in order.lines if line.course_run_id is not None]
    runs = list(db.session.scalars(select(CourseRun).where(CourseRun.id.in_(run_ids))))
    if len(runs) != len(run_ids) or any(run.contract_id != contract.id for run in runs):
        raise DomainError(
            f"A course of order {order.reference} is no longer part of {contract.name}: refund it.",
            code="run_removed",
        )
    user = db.session.get(User, order.user_id)
    assert user is not None
    before = _before(order)
    try:
        seat, claimed = claim_seat(contract, user, SeatSource.STAFF)
    except ContractFull as exc:
        raise Conflict(f"{exc.message} Raise the seat limit first, or refund.") from exc
    for run_id in run_ids:
        activate_enrollment(user, run_id, order)
    now = utcnow()
    order.state = OrderState.FULFILLED
    order.fulfilled_at = now
    order.refund_resolved_at = now
    order.refund_resolution = GRANTED
    db.session.flush()
    record_event(
        "order.access_granted",
        "order",
        order.id,
        organization_id=contract.organization_id,
        before=before,
        after={
            "reference": order.reference,
            "state": order.state.value,
            "refund": GRANTED,
            "seat_id": seat.id,
            "seat_claimed": claimed,
            "runs": [run.course_key for run in runs],
        },
    )
    return order
