"""Refunds staff start from an order (``services.order_refunds``, ``staff.order_refunds``): the rules,
who may, CSRF, bad input, the CyberSource client's requests and answers, and the job's outcome.

The payment emulator serves CyberSource's REST refund on a live port; a payment is made known to it
by recording the same signed approval the portal received (the hosted checkout itself is in
tests/integration/test_refunds.py). Jobs run inline, right after each request commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from emulators.payment import Emulator
from emulators.payment import create_app as create_emulator
from emulators.payment.state import EXTENSION_KEY
from portal.core.domain_errors import Conflict, DomainError, NotFound
from portal.extensions import db as _db
from portal.integrations.cybersource import sign
from portal.integrations.cybersource_rest import (
    Credentials,
    CyberSourceError,
    CyberSourceRestClient,
    signed_headers,
)
from portal.jobs.kinds import JobKind
from portal.models import (
    AuditEvent,
    BackgroundJob,
    Contract,
    Enrollment,
    JobState,
    MembershipType,
    Order,
    OrderState,
    Refund,
    RefundAccess,
    RefundState,
    Seat,
    SeatSource,
    User,
)
from portal.services import order_refunds
from portal.services.orders import create_order
from portal.services.payments import handle_response
from portal.services.seat_revocation import RevokeRefused
from portal.staff.order_refunds import refund_panel
from tests.support.factories import (
    ContractFactory,
    CourseFactory,
    CourseRunFactory,
    OrganizationFactory,
    SeatFactory,
    UserFactory,
)
from tests.support.live_server import live_server
from tests.support.sessions import csrf_token_of, sign_in, signed_in

SECRET = "demo-cybersource-secret"
CREDENTIALS = Credentials(
    "demo-merchant", "demo-rest-key-id", "ZGVtby1jeWJlcnNvdXJjZS1yZXN0LXNlY3JldC1rZXk="
)


@pytest.fixture
def cybs() -> Iterator[tuple[Emulator, str]]:
    emulator_app = create_emulator({"CYBERSOURCE_EMULATOR_NOTIFY_MODE": "off"})
    with live_server(emulator_app) as url:
        yield emulator_app.extensions[EXTENSION_KEY], url


@pytest.fixture
def emu(cybs: tuple[Emulator, str]) -> Emulator:
    return cybs[0]


@pytest.fixture
def app(app_factory: Any, cybs: tuple[Emulator, str]) -> Iterator[Flask]:
    app = app_factory(CYBERSOURCE_REST_URL=cybs[1])
    with app.app_context():
        yield app


# ----------------------------------------------------------------------------- the world


def approval(order: Order, transaction_id: str) -> dict[str, str]:
    fields = {
        "decision": "ACCEPT",
        "reason_code": "100",
        "transaction_id": transaction_id,
        "req_reference_number": order.reference,
        "req_transaction_type": "sale",
        "req_amount": f"{order.total:.2f}",
        "req_currency": order.currency,
        "auth_amount": f"{order.total:.2f}",
        "message": "Request was processed successfully.",
    }
    fields["signed_field_names"] = ",".join([*fields, "signed_field_names"])
    return sign(fields, SECRET)


def pay(emu: Emulator, order: Order) -> str:
    """The learner pays: the portal gets the signed approval and CyberSource knows the payment."""
    transaction_id = f"{uuid.uuid4().int % 10**22:022d}"
    fields = approval(order, transaction_id)
    emu.record(fields)
    handle_response(fields, channel="notification")
    _db.session.commit()
    return transaction_id


def new_order(membership: MembershipType = MembershipType.CODE, tag: str = "") -> Order:
    """A pending order of a learner holding a seat on a 149.00 contract, with one run."""
    contract = ContractFactory(
        organization=OrganizationFactory(),
        membership_type=membership,
        seat_limit=10,
        price_per_learner=Decimal("149.00"),
    )
    run = CourseRunFactory(course=CourseFactory(), contract=contract, contract_run=True)
    learner = UserFactory(email=f"learner-{uuid.uuid4().hex[:6]}{tag}@globex.example")
    SeatFactory(contract=contract, user=learner, source=SeatSource.CODE)
    order = create_order(learner, contract, [run])
    _db.session.commit()
    return order


def paid_order(emu: Emulator, **kw: Any) -> Order:
    order = new_order(**kw)
    pay(emu, order)
    return reload(order)


def staff() -> User:
    user = UserFactory(is_staff=True)
    _db.session.commit()
    return user


def reload(order: Order) -> Order:
    _db.session.expire_all()
    found = _db.session.get(Order, order.id)
    assert found is not None
    return found


def refunds_of(order: Order) -> list[Refund]:
    _db.session.expire_all()
    return list(
        _db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
    )


def count(model: Any, *where: Any) -> int:
    return int(_db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def seat_of(order: Order) -> Seat:
    _db.session.expire_all()
    seat = _db.session.scalar(
        select(Seat).where(Seat.user_id == order.user_id, Seat.contract_id == order.contract_id)
    )
    assert seat is not None
    return seat


def active_enrollments(order: Order) -> int:
    _db.session.expire_all()
    return count(Enrollment, Enrollment.user_id == order.user_id, Enrollment.active.is_(True))


def form(
    access: str = "revoke", reason: str = "asked for a refund", **extra: str
) -> dict[str, str]:
    return {"access": access, "reason": reason, "confirm": "y", **extra}


def panel_of(app: Flask, order: Order) -> dict[str, object]:
    with app.test_request_context():
        return refund_panel(reload(order))


# ----------------------------------------------------------------------------- the service


def test_starting_a_refund_records_it_and_its_job_in_one_transaction(
    app: Flask, emu: Emulator
) -> None:
    order = paid_order(emu)
    assert order.state is OrderState.FULFILLED
    by = staff()
    refund = order_refunds.start_refund(
        order.reference, access=RefundAccess.REVOKE, reason="wrong course", actor_id=by.id
    )
    assert refund.state is RefundState.REQUESTED
    assert refund.amount == Decimal("149.00") and refund.currency == "USD"
    assert refund.request_key == f"{order.reference}-R1"
    job = _db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == JobKind.CYBERSOURCE_REFUND.value)
    )
    assert job is not None and job.payload == {"refund_id": refund.id}
    event = _db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "order.refund_requested")
    )
    assert event is not None and event.actor_id == by.id and event.reason == "wrong course"
    assert event.after is not None and event.after["access"] == "revoke"
    # Nothing was committed: a rolled-back start leaves neither the refund nor its job.
    _db.session.rollback()
    refund_jobs = BackgroundJob.kind == JobKind.CYBERSOURCE_REFUND.value
    assert refunds_of(order) == [] and count(BackgroundJob, refund_jobs) == 0


def test_a_second_start_while_one_is_requested_is_a_conflict(app: Flask, emu: Emulator) -> None:
    order = paid_order(emu)
    order_refunds.start_refund(
        order.reference, access=RefundAccess.KEEP, reason="goodwill", actor_id=None
    )
    with pytest.raises(Conflict, match="in progress"):
        order_refunds.start_refund(
            order.reference, access=RefundAccess.KEEP, reason="again", actor_id=None
        )
    assert len(refunds_of(order)) == 1


@pytest.mark.parametrize("state", [OrderState.PENDING, OrderState.DECLINED, OrderState.CANCELLED])
def test_only_a_paid_order_can_be_refunded(app: Flask, state: OrderState) -> None:
    order = new_order()
    order.state = state
    _db.session.commit()
    with pytest.raises(Conflict, match="was not paid"):
        order_refunds.start_refund(
            order.reference, access=RefundAccess.KEEP, reason="x", actor_id=None
        )
    assert not order_refunds.refund_plan(order).possible


def test_reason_unknown_orders_and_unrevocable_seats_are_refused(app: Flask, emu: Emulator) -> None:
    order = paid_order(emu)
    with pytest.raises(DomainError, match="Give a reason"):
        order_refunds.start_refund(
            order.reference, access=RefundAccess.KEEP, reason="  ", actor_id=None
        )
    with pytest.raises(DomainError, match="under 500"):
        order_refunds.start_refund(
            order.reference, access=RefundAccess.KEEP, reason="x" * 501, actor_id=None
        )
    with pytest.raises(NotFound):
        order_refunds.start_refund(
            "NO-SUCH-ORDER", access=RefundAccess.KEEP, reason="x", actor_id=None
        )
    with pytest.raises(DomainError, match="staff member"):
        order_refunds.start_refund(
            order.reference, access=RefundAccess.REVOKE, reason="x", actor_id=None
        )
    # Seats of auto contracts come with SSO membership: they are not revoked, so refuse up front.
    auto = paid_order(emu)
    contract = _db.session.get(Contract, auto.contract_id)
    assert contract is not None and auto.state is OrderState.FULFILLED
    contract.membership_type = MembershipType.AUTO
    _db.session.commit()
    with pytest.raises(RevokeRefused):
        order_refunds.start_refund(
            auto.reference, access=RefundAccess.REVOKE, reason="x", actor_id=staff().id
        )
    assert refunds_of(order) == [] and refunds_of(auto) == []


# ----------------------------------------------------------------------------- staff, over HTTP


def test_staff_refund_with_revoke_ends_seat_and_enrollments(
    app: Flask, emu: Emulator, staff_client: FlaskClient
) -> None:
    order = paid_order(emu)
    assert active_enrollments(order) == 1
    answer = staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("revoke"))
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/staff/orders/{order.reference}")
    [refund] = refunds_of(order)
    assert refund.state is RefundState.SUCCEEDED, refund.error
    assert refund.provider_status == "PENDING"
    [made] = emu.refunds
    assert refund.provider_refund_id == made.id and made.code == refund.request_key
    assert made.amount == Decimal("149.00")
    assert reload(order).state is OrderState.REFUNDED
    assert seat_of(order).revoked_at is not None
    assert active_enrollments(order) == 0
    actions = list(_db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert "order.refund_requested" in actions and "order.refund_succeeded" in actions
    assert "seat.revoked" in actions
    # Refunded: nothing more to refund, and the page says so.
    again = staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("revoke"))
    assert again.status_code == 302 and len(refunds_of(order)) == 1 and len(emu.refunds) == 1
    panel = panel_of(app, order)
    assert panel["refund_can_start"] is False
    assert "refunded already" in str(panel["refund_refusal"])


def test_staff_refund_keeping_access_leaves_seat_and_enrollments(
    app: Flask, emu: Emulator, staff_client: FlaskClient
) -> None:
    order = paid_order(emu)
    staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("keep", "goodwill"))
    [refund] = refunds_of(order)
    assert refund.state is RefundState.SUCCEEDED and refund.access is RefundAccess.KEEP
    assert reload(order).state is OrderState.REFUNDED
    assert seat_of(order).revoked_at is None
    assert active_enrollments(order) == 1


def test_a_refused_refund_fails_with_cybersources_message_and_a_new_one_can_follow(
    app: Flask, emu: Emulator, cybs: tuple[Emulator, str], staff_client: FlaskClient
) -> None:
    order = paid_order(emu)
    requests.post(
        f"{cybs[1]}/__emulator__/refund-faults",
        json={"status": 400, "reason": "INVALID_DATA", "message": "Declined - account closed"},
        timeout=10,
    )
    staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("revoke"))
    [failed] = refunds_of(order)
    assert failed.state is RefundState.FAILED
    assert failed.error is not None and "Declined - account closed" in failed.error
    assert "INVALID_DATA" in failed.error
    assert reload(order).state is OrderState.FULFILLED
    assert seat_of(order).revoked_at is None and active_enrollments(order) == 1
    assert count(AuditEvent, AuditEvent.action == "order.refund_failed") == 1
    job = _db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == JobKind.CYBERSOURCE_REFUND.value)
    )
    assert job is not None and job.state is JobState.FAILED and job.attempts == 1
    assert panel_of(app, order)["refund_can_start"] is True
    # Staff try again: a new refund, a new client reference, and this time CyberSource agrees.
    staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("keep"))
    failed_again, succeeded = refunds_of(order)
    assert failed_again.state is RefundState.FAILED and succeeded.state is RefundState.SUCCEEDED
    assert succeeded.request_key != failed.request_key
    assert reload(order).state is OrderState.REFUNDED and len(emu.refunds) == 1


def test_a_502_is_retried_and_the_refund_then_succeeds(
    app: Flask, emu: Emulator, cybs: tuple[Emulator, str], staff_client: FlaskClient
) -> None:
    order = paid_order(emu)
    requests.post(f"{cybs[1]}/__emulator__/refund-faults", json={"status": 502}, timeout=10)
    staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("keep"))
    [refund] = refunds_of(order)
    assert refund.state is RefundState.SUCCEEDED
    assert [c["status"] for c in emu.refund_calls] == [502, 201]
    job = _db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == JobKind.CYBERSOURCE_REFUND.value)
    )
    assert job is not None and job.attempts == 2 and job.state is JobState.SUCCEEDED


def test_the_form_needs_confirmation_a_reason_and_a_known_access(
    app: Flask, emu: Emulator, staff_client: FlaskClient
) -> None:
    order = paid_order(emu)
    url = f"/staff/orders/{order.reference}/refund"
    for data in (
        {"access": "keep", "reason": "x"},
        {"access": "keep", "confirm": "y"},
        {"access": "refund-twice", "reason": "x", "confirm": "y"},
        {"access": "keep", "reason": "x\x07", "confirm": "y"},
    ):
        answer = staff_client.post(url, data=data)
        assert answer.status_code == 302, data
    assert refunds_of(order) == [] and emu.refund_calls == []
    assert staff_client.post("/staff/orders/NO-SUCH/refund", data=form()).status_code == 404
    unpaid = new_order(tag="-unpaid")
    refused = staff_client.post(f"/staff/orders/{unpaid.reference}/refund", data=form("keep"))
    assert refused.status_code == 302 and refunds_of(unpaid) == []
    with staff_client.session_transaction() as session:
        flashes = [message for _, message in session.get("_flashes", [])]
    assert any("was not paid" in message for message in flashes)


def test_only_staff_may_refund(app: Flask, emu: Emulator, client: FlaskClient) -> None:
    order = paid_order(emu)
    url = f"/staff/orders/{order.reference}/refund"
    anonymous = client.post(url, data=form())
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    learner = _db.session.get(User, order.user_id)
    sign_in(client, learner)
    assert client.post(url, data=form()).status_code == 403
    assert client.get(url).status_code in (403, 405)
    assert refunds_of(order) == [] and emu.refund_calls == []


def test_the_refund_post_is_csrf_protected(
    app_factory: Any, cybs: tuple[Emulator, str], emu: Emulator
) -> None:
    csrf_app = app_factory(WTF_CSRF_ENABLED=True, CYBERSOURCE_REST_URL=cybs[1])
    with csrf_app.app_context():
        order = paid_order(emu)
        client = signed_in(csrf_app, staff())
        url = f"/staff/orders/{order.reference}/refund"
        assert client.post(url, data=form()).status_code == 400
        assert refunds_of(order) == []
        page = client.get(f"/staff/orders/{order.reference}")
        assert page.status_code == 200
        token = csrf_token_of(page.get_data(as_text=True).split('id="refund-form"', 1)[1])
        answer = client.post(url, data=form("keep", csrf_token=token))
        assert answer.status_code == 302
        [refund] = refunds_of(order)
        assert refund.state is RefundState.SUCCEEDED


def test_the_panel_shows_refunds_their_errors_and_the_form(
    app: Flask, emu: Emulator, cybs: tuple[Emulator, str], staff_client: FlaskClient
) -> None:
    order = paid_order(emu)
    page = staff_client.get(f"/staff/orders/{order.reference}").get_data(as_text=True)
    assert 'id="refund-form"' in page and "Refund 149.00 USD through CyberSource" in page
    assert 'name="access"' in page and "No refund was started" in page
    requests.post(
        f"{cybs[1]}/__emulator__/refund-faults",
        json={"status": 400, "reason": "INVALID_DATA", "message": "Declined - closed account"},
        timeout=10,
    )
    staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("keep"))
    page = staff_client.get(f"/staff/orders/{order.reference}").get_data(as_text=True)
    assert "badge-failed" in page and "Declined - closed account" in page
    assert 'id="refund-form"' in page  # a failed refund can be followed by a new one
    staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("keep"))
    page = staff_client.get(f"/staff/orders/{order.reference}").get_data(as_text=True)
    assert "badge-succeeded" in page and emu.refunds[0].id in page
    assert 'id="refund-form"' not in page and "refunded already" in page
    unpaid = new_order(tag="-panel")
    context = panel_of(app, unpaid)
    assert context["refund_can_start"] is False and context["refund_rows"] == []
    assert all(key.startswith("refund_") for key in context)


# ----------------------------------------------------------------------------- paid, needs refund


def test_a_flagged_payment_refunded_through_cybersource_resolves_the_flag(
    app: Flask, emu: Emulator, staff_client: FlaskClient
) -> None:
    """Paid twice: the second approval granted nothing. Refunding it from the staff list returns
    that payment only; the order stays fulfilled and the learner keeps the access the first bought."""
    order = paid_order(emu)
    second = pay(emu, order)
    order = reload(order)
    assert order.refund_due_at is not None and order.state is OrderState.FULFILLED
    listing = staff_client.get("/staff/refunds").get_data(as_text=True)
    assert "Refund through CyberSource" in listing
    answer = staff_client.post(
        f"/staff/refunds/{order.reference}/cybersource", data={"confirm": "y"}
    )
    assert answer.status_code == 302
    [refund] = refunds_of(order)
    assert refund.state is RefundState.SUCCEEDED and refund.access is RefundAccess.KEEP
    assert emu.refunds[0].payment_id == second
    order = reload(order)
    assert order.state is OrderState.FULFILLED
    assert order.refund_resolved_at is not None and order.refund_resolution == "refunded"
    assert seat_of(order).revoked_at is None and active_enrollments(order) == 1
    assert "No payments are waiting for a refund" in staff_client.get("/staff/refunds").text
    # The list's button again (a second click): the order is no longer waiting, nothing is sent.
    staff_client.post(f"/staff/refunds/{order.reference}/cybersource", data={"confirm": "y"})
    assert len(refunds_of(order)) == 1 and len(emu.refunds) == 1
    # A full refund from the order page now returns the first payment.
    staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("revoke"))
    assert len(emu.refunds) == 2 and emu.refunds[1].payment_id != second
    assert reload(order).state is OrderState.REFUNDED and seat_of(order).revoked_at is not None


def test_a_late_payment_for_a_cancelled_order_is_refunded_keeping_access_only(
    app: Flask, emu: Emulator, staff_client: FlaskClient
) -> None:
    order = new_order()
    order.state = OrderState.CANCELLED
    order.close_reason = "the contract ended"
    _db.session.commit()
    pay(emu, order)
    order = reload(order)
    assert order.refund_due_at is not None
    with pytest.raises(DomainError, match="Keep access"):
        order_refunds.start_refund(
            order.reference, access=RefundAccess.REVOKE, reason="x", actor_id=staff().id
        )
    _db.session.rollback()
    # Mark refunded and grant are refused while a CyberSource refund is in flight.
    order_refunds.start_refund(
        order.reference, access=RefundAccess.KEEP, reason="late", actor_id=None
    )
    from portal.services import refunds as flagged

    with pytest.raises(Conflict, match="in progress"):
        flagged.mark_refunded(order.reference)
    _db.session.rollback()
    staff_client.post(f"/staff/orders/{order.reference}/refund", data=form("keep", "late"))
    order = reload(order)
    assert order.state is OrderState.REFUNDED and order.refund_resolution == "refunded"
    listing = staff_client.get("/staff/refunds").get_data(as_text=True)
    assert order.reference not in listing


def test_the_list_shows_a_failed_cybersource_refund(
    app: Flask, emu: Emulator, cybs: tuple[Emulator, str], staff_client: FlaskClient
) -> None:
    order = paid_order(emu)
    pay(emu, order)
    requests.post(
        f"{cybs[1]}/__emulator__/refund-faults",
        json={"status": 400, "reason": "INVALID_DATA", "message": "Declined - stolen card"},
        timeout=10,
    )
    staff_client.post(f"/staff/refunds/{order.reference}/cybersource", data={"confirm": "y"})
    listing = staff_client.get("/staff/refunds").get_data(as_text=True)
    assert "refund failed" in listing and "Declined - stolen card" in listing
    assert reload(order).refund_resolved_at is None


# ----------------------------------------------------------------------------- the client


# What cybersource-rest-client-python 0.0.80 (authenticationsdk) computes for these inputs.
SDK_DATE = "Thu, 03 Dec 2026 10:00:00 GMT"
SDK_URL = "http://127.0.0.1:8195/pts/v2/payments/1234567890123456789012/refunds"
SDK_BODY = (
    b'{"clientReferenceInformation":{"code":"refund-1-1-1"},'
    b'"orderInformation":{"amountDetails":{"totalAmount":"149.00","currency":"USD"}}}'
)
SDK_DIGEST = "SHA-256=mnl6uDMH36VVPd5FBBPFwaMgfjCH7H9egPEXx1kg7EI="
SDK_SIGNATURE = (
    'keyid="demo-rest-key-id", algorithm="HmacSHA256", '
    'headers="host date request-target digest v-c-merchant-id", '
    'signature="EwMbQdUgecJw913CPYK6sm0y2LDml/hSvwkIvgvyEtI="'
)


def test_the_client_signs_exactly_as_the_official_sdk() -> None:
    headers = signed_headers(CREDENTIALS, SDK_URL, SDK_BODY, date=SDK_DATE)
    assert headers["Digest"] == SDK_DIGEST
    assert headers["Signature"] == SDK_SIGNATURE
    assert headers["Host"] == "127.0.0.1:8195" and headers["v-c-merchant-id"] == "demo-merchant"
    assert headers["Date"] == SDK_DATE


def test_the_client_turns_answers_into_results_or_clear_errors(
    cybs: tuple[Emulator, str], app: Flask
) -> None:
    emu, url = cybs
    emu.record(
        {
            "decision": "ACCEPT",
            "transaction_id": "4" * 22,
            "req_transaction_type": "sale",
            "req_amount": "30.00",
            "req_currency": "USD",
        }
    )
    client = CyberSourceRestClient(url, CREDENTIALS, timeout=5)
    answer = client.refund_payment("4" * 22, code="c-1", amount=Decimal("10"), currency="USD")
    assert answer.status == "PENDING" and answer.code == "c-1"
    assert (answer.amount, answer.currency) == ("10.00", "USD") and len(answer.id) == 22
    with pytest.raises(CyberSourceError) as too_much:
        client.refund_payment("4" * 22, code="c-2", amount=Decimal("25.00"), currency="USD")
    assert too_much.value.status == 400 and not too_much.value.transient
    assert too_much.value.reason == "INVALID_AMOUNT"
    assert too_much.value.message.startswith("INVALID_AMOUNT: Declined - The requested refund")
    requests.post(f"{url}/__emulator__/refund-faults", json={"status": 502}, timeout=10)
    with pytest.raises(CyberSourceError) as outage:
        client.refund_payment("4" * 22, code="c-3", amount=Decimal("1.00"), currency="USD")
    assert outage.value.status == 502 and outage.value.transient
    bad_key = CyberSourceRestClient(
        url, Credentials("demo-merchant", "demo-rest-key-id", "b3RoZXI="), timeout=5
    )
    with pytest.raises(CyberSourceError) as unsigned:
        bad_key.refund_payment("4" * 22, code="c-4", amount=Decimal("1.00"), currency="USD")
    assert unsigned.value.status == 401 and not unsigned.value.transient
    assert "Authentication Failed" in unsigned.value.message
    closed = CyberSourceRestClient("http://127.0.0.1:9", CREDENTIALS, timeout=2)
    with pytest.raises(CyberSourceError) as unreachable:
        closed.refund_payment("4" * 22, code="c-5", amount=Decimal("1.00"), currency="USD")
    assert unreachable.value.status is None and unreachable.value.transient
    not_base64 = CyberSourceRestClient(url, Credentials("m", "k", "not base64!"), timeout=2)
    with pytest.raises(CyberSourceError) as config:
        not_base64.refund_payment("4" * 22, code="c-6", amount=Decimal("1.00"), currency="USD")
    assert not config.value.transient
    assert [r.code for r in emu.refunds] == ["c-1"]


def test_a_refund_job_run_again_refunds_nothing_more(app: Flask, emu: Emulator) -> None:
    order = paid_order(emu)
    refund = order_refunds.start_refund(
        order.reference, access=RefundAccess.KEEP, reason="x", actor_id=None
    )
    _db.session.commit()  # the inline runner makes the call now
    assert refunds_of(order)[0].state is RefundState.SUCCEEDED
    job = _db.session.scalar(
        select(BackgroundJob).where(BackgroundJob.kind == JobKind.CYBERSOURCE_REFUND.value)
    )
    assert job is not None
    from portal.jobs.queue import retry_now

    retry_now(job)  # staff press Retry on the finished job
    _db.session.commit()
    assert len(emu.refunds) == 1 and refunds_of(order)[0].id == refund.id
    assert count(AuditEvent, AuditEvent.action == "order.refund_succeeded") == 1
    # A refund recorded twice by a repeated answer (a crash before our commit) is one refund too.
    assert (
        order_refunds.refund_succeeded(refund.id, order_refunds.ProviderRefund("x", "PENDING"))
        is None
    )


def test_old_date_helper_is_rfc1123() -> None:
    sent = signed_headers(CREDENTIALS, SDK_URL, b"{}")["Date"]
    parsed = dt.datetime.strptime(sent, "%a, %d %b %Y %H:%M:%S GMT")
    assert abs((dt.datetime.now(dt.UTC).replace(tzinfo=None) - parsed).total_seconds()) < 60
