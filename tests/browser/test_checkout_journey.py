"""Buying a paid contract in a real browser: the portal's checkout page posts signed fields to the
payment emulator's hosted page (which the portal's CSP must allow), the learner approves, the
emulator notifies the portal server to server and its page posts the signed result back (by script),
and the learner lands on the result, enrolled, with the enrollment made in the Open edX emulator."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import (
    AuditEvent,
    Contract,
    EdxSyncState,
    Enrollment,
    Order,
    OrderState,
    Payment,
    PaymentDecision,
    User,
)
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Journey, World, fresh, unused_code
from tests.support.i18n import tr

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)


def test_learner_buys_a_paid_contract(journey: Journey, world: World) -> None:
    page = journey.page
    code = unused_code("globex-certificate")

    journey.sign_in("learner@globex.example", "Alan Turing")
    page.get_by_role("link", name=tr("Enter a code"), exact=True).click()
    page.get_by_label(tr("Code")).fill(code)
    page.get_by_role("button", name=tr("Redeem code")).click()
    expect(page.locator(".flash-success")).to_have_text(
        tr(
            "Code accepted: you now have access to %(contract)s from %(organization)s. "
            "Its courses are below.",
            contract="Globex Professional Certificate",
            organization="Globex University",
        )
    )
    card = page.locator("article.contract", has_text="Globex Professional Certificate")
    expect(card.locator(".contract-head")).to_contain_text(
        tr("%(price)s USD per learner, once for all its courses", price="149.00")
    )
    card.locator("li.run", has_text="Data Ethics").get_by_role("button", name=tr("Enroll")).click()

    # The portal's checkout page.
    expect(page).to_have_url(re.compile(rf"^{re.escape(world.portal_url)}/checkout/[^/]+$"))
    expect(page.get_by_role("heading", name=tr("Checkout"))).to_be_visible()
    expect(page.locator(".checkout")).to_contain_text("Globex Professional Certificate")
    expect(page.locator(".checkout-lines tbody tr")).to_have_count(1)
    expect(page.locator(".checkout-lines tbody")).to_contain_text("Data Ethics")
    expect(page.locator(".checkout-lines tfoot")).to_contain_text("149.00 USD")
    reference = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name=tr("Pay with card")).click()

    # The hosted payment page (the emulator, on its own origin, in English whatever the portal).
    expect(page).to_have_url(f"{world.pay_url}/pay")
    expect(page.get_by_role("heading", name="Payment details")).to_be_visible()
    expect(page.locator(".sa-summary")).to_contain_text(reference)
    expect(page.locator(".sa-amount")).to_have_text("149.00 USD")
    page.get_by_role("button", name="Approve").click()

    # Its return page posts the signed result back by script; the portal shows the outcome.
    expect(page).to_have_url(f"{world.portal_url}/checkout/{reference}/result")
    status = page.get_by_role("status")
    expect(status.get_by_role("heading")).to_have_text(tr("Payment approved: you're enrolled"))
    expect(status).to_contain_text(
        tr(
            "Your payment of %(total)s %(currency)s was approved and you're enrolled. We are "
            "setting up your courses in edX; they show as enrolled in a moment.",
            total="149.00",
            currency="USD",
        )
    )
    journey.screenshot("-payment-result")
    status.get_by_role("link", name=tr("Go to My learning")).click()

    expect(page.get_by_role("heading", name=tr("My learning"))).to_be_visible()
    expect(page.get_by_role("heading", name=tr("Waiting for payment"))).to_have_count(0)
    expect(card.locator("li.run", has_text="Data Ethics").locator(".badge")).to_have_text(
        tr("Enrolled")
    )
    expect(page.locator("table tbody tr", has_text="Data Ethics").locator(".badge")).to_have_text(
        tr("Enrolled")
    )

    journey.finish()

    session = fresh()
    alan = session.scalar(select(User).where(User.email == "learner@globex.example"))
    assert alan is not None
    order = session.scalar(select(Order).where(Order.reference == reference))
    assert order is not None and order.user_id == alan.id
    assert order.state is OrderState.FULFILLED
    assert order.total == Decimal("149.00")
    [payment] = session.scalars(select(Payment)).all()
    assert payment.order_id == order.id and payment.decision is PaymentDecision.ACCEPT
    assert payment.amount == Decimal("149.00")
    contract = session.scalar(select(Contract).where(Contract.slug == "globex-certificate"))
    assert contract is not None
    [enrollment] = session.scalars(select(Enrollment).where(Enrollment.user_id == alan.id)).all()
    assert enrollment.order_id == order.id and enrollment.contract_id == contract.id
    assert enrollment.active and enrollment.edx_state is EdxSyncState.SYNCED, enrollment.edx_error
    # The emulator notified the portal before sending the browser back; the return was a repeat.
    assert [d.status for d in world.payment.deliveries] == [200]
    actions = session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.action.startswith("payment."))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["payment.accepted", "payment.duplicate"]
    edx = world.edx_state()["enrollments"]
    assert [(e["user"], e["course_id"], e["is_active"]) for e in edx] == [
        (alan.edx_username, enrollment.course_run.course_key, True)
    ]
