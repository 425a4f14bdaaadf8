"""Staff refund a paid order in a real browser: the order's refund panel (``staff/orders/_refund.html``)
with its form, the refund made through the payment emulator's REST refund call, a refused one shown
with CyberSource's message, and the "Paid, needs refund" list's CyberSource button. Each page is
photographed at 1280 px and at a phone's width (390 px) in test-artifacts/screenshots."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
import requests
from playwright.sync_api import ViewportSize, expect
from sqlalchemy import select

from portal.extensions import db
from portal.integrations.cybersource import sign
from portal.models import Contract, CourseRun, Order, OrderState, Refund, RefundState, Seat, User
from portal.services.orders import create_order
from portal.services.payments import handle_response
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Journey, World, fresh
from tests.support.i18n import ptr, tr

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

SECRET = "demo-cybersource-secret"
CONFIRM = "Yes, refund the full amount through CyberSource"
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=900)


def at_phone_width(journey: Journey, suffix: str) -> None:
    journey.page.set_viewport_size(PHONE)
    try:
        journey.page.wait_for_timeout(100)
        journey.screenshot(suffix)
    finally:
        journey.page.set_viewport_size(DESKTOP)


def refunds_reach_the_emulator(world: World) -> None:
    """The journeys' portal talks to the payment emulator's REST API too."""
    settings = world.app.config["PORTAL"]
    world.app.config["PORTAL"] = dataclasses.replace(settings, cybersource_rest_url=world.pay_url)


def paid_order(world: World, email: str = "learner@globex.example") -> Order:
    """Alan holds a seat on Globex Professional Certificate and has paid for one of its runs."""
    session = fresh()
    contract = session.scalars(select(Contract).where(Contract.slug == "globex-certificate")).one()
    user = session.scalars(select(User).where(User.email == email)).one()
    if (
        session.scalar(select(Seat).where(Seat.user_id == user.id, Seat.contract_id == contract.id))
        is None
    ):
        from portal.models import SeatSource

        session.add(Seat(contract_id=contract.id, user_id=user.id, source=SeatSource.STAFF))
        session.flush()
    run = session.scalars(select(CourseRun).where(CourseRun.contract_id == contract.id)).first()
    assert run is not None
    order = create_order(user, contract, [run])
    session.commit()
    pay(world, order)
    return order


def pay(world: World, order: Order) -> None:
    fields = {
        "decision": "ACCEPT",
        "reason_code": "100",
        "transaction_id": f"{uuid.uuid4().int % 10**22:022d}",
        "req_reference_number": order.reference,
        "req_transaction_type": "sale",
        "req_amount": f"{order.total:.2f}",
        "req_currency": order.currency,
        "auth_amount": f"{order.total:.2f}",
        "message": "Request was processed successfully.",
    }
    fields["signed_field_names"] = ",".join([*fields, "signed_field_names"])
    signed = sign(fields, SECRET)
    world.payment.record(signed)  # CyberSource knows the payment
    handle_response(signed, channel="notification")
    db.session.commit()


def test_staff_refund_an_order_from_its_page(journey: Journey, world: World) -> None:
    refunds_reach_the_emulator(world)
    order = paid_order(world)
    assert fresh().get(Order, order.id).state is OrderState.FULFILLED  # type: ignore[union-attr]
    page = journey.page
    journey.sign_in("staff@portal.example", "Margaret Hamilton")
    page.goto(f"/staff/orders/{order.reference}")
    panel = page.locator("#refund-panel")
    expect(panel.get_by_role("heading", name=tr("Refunds"))).to_be_visible()
    expect(panel).to_contain_text(tr("No refund was started for this order."))
    through = tr(
        "Refund %(amount)s %(currency)s through CyberSource", amount="149.00", currency="USD"
    )
    expect(panel.get_by_role("heading", name=through)).to_be_visible()
    journey.screenshot("-panel")
    at_phone_width(journey, "-panel-390")

    # CyberSource refuses the first one.
    requests.post(
        f"{world.pay_url}/__emulator__/refund-faults",
        json={
            "status": 400,
            "reason": "INVALID_DATA",
            "message": "Declined - The card account is closed",
        },
        timeout=10,
    )
    panel.get_by_label(
        tr("Revoke access: the learner's seat is revoked and the order's enrollments end")
    ).check()
    panel.get_by_label(tr("Reason")).fill("The learner bought the wrong certificate.")
    panel.get_by_label(tr(CONFIRM)).check()
    panel.get_by_role("button", name=tr("Refund"), exact=True).click()
    expect(page.locator(".flash-info")).to_have_text(
        tr(
            "Refund of %(amount)s %(currency)s sent to CyberSource; its result shows on this "
            "page in a moment.",
            amount="149.00",
            currency="USD",
        )
    )
    failed = panel.locator("tr.refund-failed")
    expect(failed.locator(".badge")).to_have_text(ptr("refund", "failed"))
    expect(failed).to_contain_text("Declined - The card account is closed")  # CyberSource's words
    journey.screenshot("-failed")
    at_phone_width(journey, "-failed-390")

    # Staff try again; this time it goes through and the seat is revoked.
    panel.get_by_label(tr("Reason")).fill("The learner bought the wrong certificate.")
    panel.get_by_label(tr(CONFIRM)).check()
    panel.get_by_role("button", name=tr("Refund"), exact=True).click()
    succeeded = panel.locator("tr.refund-succeeded")
    expect(succeeded.locator(".badge")).to_have_text(ptr("refund", "succeeded"))
    expect(panel.locator("#refund-refusal")).to_contain_text(
        tr("Order %(reference)s was refunded already.", reference=order.reference)
    )
    expect(panel.locator("#refund-form")).to_have_count(0)
    session = fresh()
    assert session.get(Order, order.id).state is OrderState.REFUNDED  # type: ignore[union-attr]
    states = session.scalars(select(Refund.state).where(Refund.order_id == order.id)).all()
    assert states == [RefundState.FAILED, RefundState.SUCCEEDED]
    assert len(world.payment.refunds) == 1
    at_phone_width(journey, "-refunded-390")
    journey.finish()


def test_staff_refund_a_flagged_payment_from_the_list(journey: Journey, world: World) -> None:
    refunds_reach_the_emulator(world)
    order = paid_order(world)
    pay(world, order)  # paid twice: the second payment granted nothing
    page = journey.page
    journey.sign_in("staff@portal.example", "Margaret Hamilton")
    page.goto("/staff/refunds")
    row = page.locator("#refunds tbody tr", has_text=order.reference)
    # The reason is recorded when CyberSource's notice arrives (nobody reads it then, so in
    # English) and shows as recorded, like the audit log's entries.
    expect(row).to_contain_text("paid again for an order already paid and fulfilled")
    journey.screenshot("-list")
    at_phone_width(journey, "-list-390")
    row.get_by_label(tr("Refund %(amount)s %(currency)s", amount="149.00", currency="USD")).check()
    row.get_by_role("button", name=tr("Refund through CyberSource")).click()
    expect(page.locator(".flash-info")).to_have_text(
        tr(
            "Refund of %(amount)s %(currency)s for order %(reference)s sent to CyberSource; the "
            "order leaves this list when CyberSource accepts it.",
            amount="149.00",
            currency="USD",
            reference=order.reference,
        )
    )
    expect(page.locator("#refunds")).to_contain_text(tr("No payments are waiting for a refund."))

    session = fresh()
    found = session.get(Order, order.id)
    assert found is not None and found.state is OrderState.FULFILLED
    assert found.refund_resolution == "refunded"
    journey.finish()
