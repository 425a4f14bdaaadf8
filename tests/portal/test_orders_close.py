"""b2b-rules section 10: pending orders close when access ends, a late payment enrolls nobody and
waits on the staff list "Paid, needs refund" until staff refund it or grant access by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db as _db
from portal.integrations.cybersource import sign
from portal.models import (
    AuditEvent,
    Contract,
    Enrollment,
    MembershipType,
    Order,
    OrderState,
    Payment,
    Seat,
    SeatSource,
    User,
    utcnow,
)
from portal.services import contract_runs, contracts, organizations, refunds
from portal.services.orders import create_order
from portal.services.payments import CheckoutState, PaymentOutcome, checkout_state, handle_response
from portal.services.seat_revocation import revoke_seat
from tests.support.factories import (
    ContractFactory,
    CourseFactory,
    CourseRunFactory,
    OrganizationFactory,
    SeatFactory,
    UserFactory,
)
from tests.support.sessions import sign_in

SECRET = "demo-cybersource-secret"


def paid_order(seat_limit: int = 10, tag: str = "") -> Order:
    contract = ContractFactory(
        organization=OrganizationFactory(name=f"Globex University{tag}", key=f"GLOBEX{tag}"),
        name="Globex Certificate",
        membership_type=MembershipType.CODE,
        seat_limit=seat_limit,
        price_per_learner=Decimal("149.00"),
    )
    run = CourseRunFactory(
        course=CourseFactory(
            key=f"B2B_SOURCE+DS.101x{tag}", number=f"DS.101x{tag}", title="Data Science"
        ),
        course_key=f"course-v1:GLOBEX{tag}+DS.101x+1T{contract.id}C2026",
        contract=contract,
        run_number=1,
        contract_run=True,
    )
    learner = UserFactory(email=f"learner{tag.lower()}@globex.example")
    SeatFactory(contract=contract, user=learner, source=SeatSource.CODE)
    order = create_order(learner, contract, [run])
    _db.session.commit()
    return order


def approval(order: Order, transaction_id: str = "T-1") -> dict[str, str]:
    fields = {
        "decision": "ACCEPT",
        "transaction_id": transaction_id,
        "req_reference_number": order.reference,
        "req_amount": str(order.total),
        "req_currency": order.currency,
        "auth_amount": str(order.total),
        "message": "approved",
    }
    fields["signed_field_names"] = ",".join([*fields, "signed_field_names"])
    return sign(fields, SECRET)


def staff() -> User:
    user = UserFactory(is_staff=True)
    _db.session.commit()
    return user


def reload(order: Order) -> Order:
    _db.session.expire_all()
    found = _db.session.get(Order, order.id)
    assert found is not None
    return found


def count(model: Any, *where: Any) -> int:
    return int(_db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def revoke(order: Order) -> None:
    seat = _db.session.scalar(select(Seat).where(Seat.user_id == order.user_id))
    assert seat is not None
    revoke_seat(order.contract_id, seat.id, "left the company", actor=staff())


def end_contract(order: Order) -> None:
    contracts.update_contract(order.contract_id, {"end_at": utcnow() - dt.timedelta(minutes=1)})


def deactivate_contract(order: Order) -> None:
    contracts.set_active(order.contract_id, False)


def deactivate_organization(order: Order) -> None:
    contract = _db.session.get(Contract, order.contract_id)
    assert contract is not None
    organizations.set_active(contract.organization, False)


def close_run(order: Order) -> None:
    line = order.lines[0]
    assert line.course_run_id is not None
    contract_runs.remove_run(order.contract_id, line.course_run_id)


ENDINGS = {
    "seat revoked": revoke,
    "contract ended": end_contract,
    "contract deactivated": deactivate_contract,
    "organization deactivated": deactivate_organization,
    "run closed": close_run,
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_each_way_access_ends_closes_the_pending_order(db: Any, ending: str) -> None:
    order = paid_order()
    ENDINGS[ending](order)
    db.session.commit()
    order = reload(order)
    assert order.state is OrderState.CANCELLED and order.close_reason
    event = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "order.cancelled", AuditEvent.object_id == str(order.id)
        )
    )
    assert event is not None
    assert event.before == {"reference": order.reference, "state": "pending"}
    assert event.after is not None and event.after["state"] == "cancelled"
    assert checkout_state(order) is CheckoutState.CLOSED


def test_reactivating_closes_nothing(db: Any) -> None:
    order = paid_order()
    contracts.update_contract(order.contract_id, {"name": "Renamed"})
    db.session.commit()
    assert reload(order).state is OrderState.PENDING


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_payment_after_access_ended_enrolls_nobody(db: Any, ending: str) -> None:
    order = paid_order()
    ENDINGS[ending](order)
    db.session.commit()
    outcome = handle_response(approval(order), channel="notification")
    db.session.commit()
    assert outcome.status is PaymentOutcome.CONFLICT
    order = reload(order)
    assert count(Enrollment, Enrollment.active) == 0 and count(Payment) == 1
    assert order.refund_due_at is not None and order.refund_reason
    assert checkout_state(order) is CheckoutState.ACCESS_ENDED
    assert [row.reference for row in refunds.refunds_page(1).items] == [order.reference]


def test_fulfilment_rechecks_access_even_if_the_order_stayed_open(db: Any) -> None:
    """Access that ended without closing the order (the contract's end date passed by itself)."""
    order = paid_order()
    contract = db.session.get(Contract, order.contract_id)
    contract.end_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    outcome = handle_response(approval(order), channel="return")
    db.session.commit()
    assert outcome.status is PaymentOutcome.ACCESS_ENDED
    order = reload(order)
    assert order.state is OrderState.CANCELLED and "ended" in (order.refund_reason or "")
    assert count(Enrollment) == 0 and count(Payment) == 1
    assert count(AuditEvent, AuditEvent.action == "payment.access_ended") == 1


def test_a_payment_for_a_live_order_still_enrolls(db: Any) -> None:
    order = paid_order()
    outcome = handle_response(approval(order), channel="return")
    db.session.commit()
    assert outcome.status is PaymentOutcome.ACCEPTED
    assert count(Enrollment, Enrollment.active) == 1 and reload(order).refund_due_at is None


def _late_paid(db: Any, seat_limit: int = 10) -> Order:
    order = paid_order(seat_limit)
    revoke(order)
    db.session.commit()
    handle_response(approval(order), channel="notification")
    db.session.commit()
    return reload(order)


def test_the_learner_is_told_plainly(db: Any, client: FlaskClient) -> None:
    order = _late_paid(db)
    sign_in(client, db.session.get(User, order.user_id))
    page = client.get(f"/checkout/{order.reference}/result")
    assert page.status_code == 200
    assert "your access had ended" in page.text and "We will refund it" in page.text
    assert "you're enrolled" not in page.text


def test_staff_list_and_mark_refunded(db: Any, staff_client: FlaskClient) -> None:
    order = _late_paid(db)
    page = staff_client.get("/staff/refunds")
    assert page.status_code == 200
    assert order.reference in page.text and "149.00" in page.text
    assert "seat was revoked" in page.text and "learner@globex.example" in page.text
    refused = staff_client.post(f"/staff/refunds/{order.reference}/refunded", data={})
    assert refused.status_code == 302 and reload(order).refund_resolved_at is None
    done = staff_client.post(f"/staff/refunds/{order.reference}/refunded", data={"confirm": "y"})
    assert done.status_code == 302
    order = reload(order)
    assert order.state is OrderState.REFUNDED and order.refund_resolution == "refunded"
    assert count(AuditEvent, AuditEvent.action == "order.refunded") == 1
    assert "No payments are waiting for a refund" in staff_client.get("/staff/refunds").text
    assert checkout_state(order) is CheckoutState.REFUNDED


def test_staff_grant_gives_a_staff_seat_and_the_enrollment(
    db: Any, staff_client: FlaskClient
) -> None:
    order = _late_paid(db)
    done = staff_client.post(f"/staff/refunds/{order.reference}/grant", data={"confirm": "y"})
    assert done.status_code == 302
    order = reload(order)
    assert order.state is OrderState.FULFILLED and order.refund_resolution == "granted"
    seat = db.session.scalar(select(Seat).where(Seat.user_id == order.user_id))
    assert seat is not None and seat.revoked_at is None and seat.source is SeatSource.STAFF
    assert count(Enrollment, Enrollment.active, Enrollment.order_id == order.id) == 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "order.access_granted"))
    assert event is not None and event.actor_id is not None
    assert checkout_state(order) is CheckoutState.APPROVED


def test_staff_grant_respects_the_seat_limit(db: Any, staff_client: FlaskClient) -> None:
    order = _late_paid(db, seat_limit=1)
    contract = db.session.get(Contract, order.contract_id)
    SeatFactory(contract=contract, user=UserFactory(), source=SeatSource.CODE)
    db.session.commit()
    staff_client.post(f"/staff/refunds/{order.reference}/grant", data={"confirm": "y"})
    order = reload(order)
    assert order.state is OrderState.CANCELLED and order.refund_resolved_at is None
    assert count(Enrollment, Enrollment.active) == 0
