"""b2b-rules section 10 under concurrency (PostgreSQL): staff revoke a learner's seat while the
payment confirmation for their pending order arrives. Each round has exactly one outcome: enrolled and
then revoked consistently, or cancelled and "paid, needs refund"; nothing half-written."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Contract, Enrollment, Order, OrderState, Payment, Seat
from portal.services.payments import handle_response
from portal.services.seat_revocation import revoke_seat
from tests.portal.test_orders_close import approval, paid_order, staff
from tests.support.live_server import live_server
from tests.support.sessions import session_cookie

ROUNDS = 12


def test_revoking_while_the_payment_arrives(app: Flask, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("race tests run on PostgreSQL")
    for round_no in range(ROUNDS):
        order = paid_order(tag=f"R{round_no}")
        reviewer = staff()
        seat_id = db.session.scalar(select(Seat.id).where(Seat.user_id == order.user_id))
        fields = approval(order, f"T-{round_no}")
        ids = (order.id, order.contract_id, reviewer.id)
        db.session.commit()
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def pay() -> None:
            with app.app_context():
                barrier.wait()
                handle_response(fields, channel="notification")
                db.session.commit()

        def revoke() -> None:
            with app.app_context():
                actor = db.session.get(type(reviewer), ids[2])
                barrier.wait()
                revoke_seat(ids[1], seat_id, "left", actor=actor)
                db.session.commit()

        def run(target: Any) -> None:
            try:
                target()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(t,)) for t in (pay, revoke)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        db.session.expire_all()
        got = db.session.get(Order, ids[0])
        assert got is not None
        enrollments = list(
            db.session.scalars(select(Enrollment).where(Enrollment.order_id == got.id))
        )
        seat = db.session.get(Seat, seat_id)
        assert seat is not None and seat.revoked_at is not None
        assert (
            db.session.scalar(select(func.count(Payment.id)).where(Payment.order_id == got.id)) == 1
        )
        if got.state is OrderState.FULFILLED:  # paid first, then revoked: the enrollment ended
            assert len(enrollments) == 1 and not enrollments[0].active
            assert got.refund_due_at is None
        else:  # revoked first: cancelled, nobody enrolled, on the refund list
            assert got.state is OrderState.CANCELLED and got.close_reason
            assert enrollments == [] and got.refund_due_at is not None


def test_over_http_revoking_while_the_notification_arrives(app: Flask, database_url: str) -> None:
    """The same race through the portal's own doors: CyberSource's signed notification posted to
    ``/checkout/notify`` while staff post the revoke form, over real HTTP, in parallel."""
    if not database_url.startswith("postgresql"):
        pytest.skip("race tests run on PostgreSQL")
    outcomes: set[OrderState] = set()
    with live_server(app) as url:
        for round_no in range(ROUNDS):
            order = paid_order(tag=f"H{round_no}")
            reviewer = staff()
            seat_id = db.session.scalar(select(Seat.id).where(Seat.user_id == order.user_id))
            fields = approval(order, f"H-{round_no}")
            contract = db.session.get(Contract, order.contract_id)
            assert contract is not None
            org_key = contract.organization.key
            revoke_path = f"/org/{org_key}/contracts/{order.contract_id}/seats/{seat_id}/revoke"
            order_id, cookie = order.id, session_cookie(app, reviewer.id)
            db.session.commit()
            barrier = threading.Barrier(2)
            statuses: dict[str, int] = {}

            def pay() -> None:
                barrier.wait()
                answer = requests.post(f"{url}/checkout/notify", data=fields, timeout=60)
                statuses["pay"] = answer.status_code

            def revoke() -> None:
                barrier.wait()
                answer = requests.post(
                    f"{url}{revoke_path}",
                    data={"reason": "left the company", "confirm": "y"},
                    cookies=cookie,
                    allow_redirects=False,
                    timeout=60,
                )
                statuses["revoke"] = answer.status_code

            threads = [threading.Thread(target=t) for t in (pay, revoke)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert statuses == {"pay": 200, "revoke": 302}, statuses
            db.session.expire_all()
            got = db.session.get(Order, order_id)
            assert got is not None
            enrollments = list(
                db.session.scalars(select(Enrollment).where(Enrollment.order_id == got.id))
            )
            seat = db.session.get(Seat, seat_id)
            assert seat is not None and seat.revoked_at is not None
            payments = select(func.count(Payment.id)).where(Payment.order_id == got.id)
            assert db.session.scalar(payments) == 1
            if got.state is OrderState.FULFILLED:
                assert len(enrollments) == 1 and not enrollments[0].active
                assert got.refund_due_at is None
            else:
                assert got.state is OrderState.CANCELLED and got.close_reason
                assert enrollments == [] and got.refund_due_at is not None
            outcomes.add(got.state)
    print(f"\noutcomes over {ROUNDS} rounds: {sorted(o.value for o in outcomes)}")
