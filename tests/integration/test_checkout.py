"""Paid checkout over real HTTP: the portal and the Secure Acceptance emulator on their own ports, a
scripted browser in between, and the server-to-server notification in every order (b2b-rules 7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from emulators.payment import Emulator
from emulators.payment import create_app as create_emulator
from emulators.payment.state import EXTENSION_KEY
from portal.extensions import db
from portal.integrations.cybersource import sign
from portal.models import (
    AuditEvent,
    Enrollment,
    MembershipType,
    Order,
    OrderState,
    Payment,
    PaymentDecision,
    Seat,
    SeatSource,
    User,
    utcnow,
)
from portal.services.orders import create_order
from portal.services.payments import (
    CheckoutState,
    PaymentOutcome,
    checkout_state,
    handle_response,
)
from tests.support.browser import Browser, forms
from tests.support.factories import (
    ContractFactory,
    CourseFactory,
    CourseRunFactory,
    OrganizationFactory,
    SeatFactory,
)
from tests.support.live_server import DeferredApp, live_server

SECRET = "demo-cybersource-secret"


@dataclass
class Shop:
    app: Flask
    portal_url: str
    pay_url: str
    emulator: Emulator
    learner: User
    order: Order
    stack: ExitStack = field(repr=False)

    def browser_for(self, user: User) -> Browser:
        """A browser signed in as ``user`` (the session cookie forged with the app's key)."""
        browser = Browser()
        cookie = self.app.session_interface.get_signing_serializer(self.app).dumps(
            {"_user_id": str(user.id), "_fresh": True}
        )
        browser.http.cookies.set(
            self.app.config["SESSION_COOKIE_NAME"], cookie, domain="127.0.0.1", path="/"
        )
        return browser

    def checkout_url(self, reference: str | None = None) -> str:
        return f"{self.portal_url}/checkout/{reference or self.order.reference}"

    def notify(self, fields: dict[str, str]) -> requests.Response:
        return requests.post(f"{self.portal_url}/checkout/notify", data=fields, timeout=15)


def make_paid_order(user: User) -> Order:
    contract = ContractFactory(
        organization=OrganizationFactory(name="Globex University", key="GLOBEX"),
        name="Globex Professional Certificate",
        slug="pro-cert",
        membership_type=MembershipType.CODE,
        seat_limit=10,
        price_per_learner=Decimal("149.00"),
    )
    course = CourseFactory(
        key="B2B_SOURCE+DS.101x", number="DS.101x", title="Foundations of Data Science"
    )
    run = CourseRunFactory(
        course=course,
        course_key=f"course-v1:GLOBEX+DS.101x+1T{contract.id}C2026",
        contract=contract,
        run_number=1,
        contract_run=True,
    )
    # The learner holds a seat (as after redeeming a code), so enrolling again is allowed.
    SeatFactory(contract=contract, user=user, source=SeatSource.CODE)
    order = create_order(user, contract, [run])
    db.session.commit()
    return order


@pytest.fixture
def shop_factory(app_factory: Callable[..., Flask]) -> Iterator[Callable[..., Shop]]:
    stacks: list[ExitStack] = []

    def make(notify_mode: str = "before-return", **portal_config: Any) -> Shop:
        stack = ExitStack()
        stacks.append(stack)
        portal_slot = DeferredApp()
        portal_url = stack.enter_context(live_server(portal_slot))
        emulator_app = create_emulator(
            {
                "CYBERSOURCE_EMULATOR_NOTIFY_MODE": notify_mode,
                # Profile defaults that must lose to the signed overrides the portal sends.
                "CYBERSOURCE_EMULATOR_NOTIFY_URL": "http://127.0.0.1:9/nowhere",
                "CYBERSOURCE_EMULATOR_RECEIPT_URL": "http://127.0.0.1:9/nowhere",
            }
        )
        emulator_url = stack.enter_context(live_server(emulator_app))
        app = app_factory(
            CYBERSOURCE_URL=f"{emulator_url}/pay", PUBLIC_BASE_URL=portal_url, **portal_config
        )
        portal_slot.app = app
        stack.enter_context(app.app_context())
        learner = User(email="learner@globex.example", name="Grace Learner")
        db.session.add(learner)
        db.session.commit()
        order = make_paid_order(learner)
        return Shop(
            app=app,
            portal_url=portal_url,
            pay_url=f"{emulator_url}/pay",
            emulator=emulator_app.extensions[EXTENSION_KEY],
            learner=learner,
            order=order,
            stack=stack,
        )

    yield make
    for stack in reversed(stacks):
        stack.close()


@pytest.fixture
def shop(shop_factory: Callable[..., Shop]) -> Shop:
    return shop_factory()


# ----------------------------------------------------------------------------- helpers


def pay(shop: Shop, browser: Browser, choice: str) -> requests.Response:
    """Checkout page → the payment page → choose → the emulator's return page (not yet submitted)."""
    page = browser.get(shop.checkout_url())
    assert page.status_code == 200, page.text[:1000]
    hosted = browser.submit(page, "pay-form")
    assert hosted.status_code == 200, hosted.text[:1000]
    assert hosted.url == shop.pay_url
    assert shop.order.reference in hosted.text and "149.00 USD" in hosted.text
    returned = browser.submit(hosted, "sa-decision", decision=choice)
    assert returned.status_code == 200, returned.text[:1000]
    return returned


def return_to_merchant(browser: Browser, returned: requests.Response) -> requests.Response:
    """Submit the emulator's auto-posting form as a browser does cross-site: the SameSite=Lax session
    cookie stays behind on the POST and comes along on the redirect's GET."""
    form = next(f for f in forms(returned) if f["id"] == "sa-return")
    answer = requests.post(form["action"], data=form["fields"], allow_redirects=False, timeout=15)
    assert answer.status_code == 303, answer.text[:1000]
    return browser.get(urljoin(form["action"], answer.headers["Location"]))


def count(model: Any, *where: Any) -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def order_state(shop: Shop) -> OrderState:
    db.session.expire_all()
    order = db.session.get(Order, shop.order.id)
    assert order is not None
    return order.state


def actions(prefix: str = "payment.") -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id)
        )
    )


def resign(fields: dict[str, str], **changes: str) -> dict[str, str]:
    """A genuinely signed response (what CyberSource would send), with ``changes``."""
    unsigned = {k: v for k, v in fields.items() if k != "signature"}
    unsigned.update(changes)
    names = unsigned["signed_field_names"].split(",")
    names += [name for name in changes if name not in names]
    unsigned["signed_field_names"] = ",".join(names)
    return sign(unsigned, SECRET)


# ----------------------------------------------------------------------------- the journeys


def test_approve_enrolls_the_learner_once(shop: Shop) -> None:
    browser = shop.browser_for(shop.learner)
    page = browser.get(shop.checkout_url())
    assert "Globex Professional Certificate" in page.text
    assert "Foundations of Data Science" in page.text and "149.00 USD" in page.text
    assert "Pay with card" in page.text

    result = return_to_merchant(browser, pay(shop, browser, "accept"))

    assert result.status_code == 200
    assert result.url == f"{shop.checkout_url()}/result"
    assert "Payment approved" in result.text and "you're enrolled" in result.text
    assert 'href="/learner/"' in result.text
    assert order_state(shop) is OrderState.FULFILLED
    assert count(Enrollment, Enrollment.user_id == shop.learner.id, Enrollment.active) == 1
    assert count(Enrollment) == 1
    payment = db.session.scalars(select(Payment)).one()
    assert payment.decision is PaymentDecision.ACCEPT and payment.amount == Decimal("149.00")
    assert payment.order_id == shop.order.id
    # The emulator notified first; the browser's return was then a repeat.
    assert [d.status for d in shop.emulator.deliveries] == [200]
    assert actions() == ["payment.accepted", "payment.duplicate"]
    assert count(AuditEvent, AuditEvent.action == "order.fulfilled") == 1
    # The checkout page now says so too, with no second payment form.
    again = browser.get(shop.checkout_url())
    assert "you're enrolled" in again.text and "Pay with card" not in again.text


def test_the_csp_lets_the_checkout_page_post_to_the_payment_page(shop: Shop) -> None:
    page = shop.browser_for(shop.learner).get(shop.checkout_url())
    form_action = page.headers["Content-Security-Policy"].split("form-action", 1)[1].split(";")[0]
    assert urlsplit(shop.pay_url)._replace(path="").geturl() in form_action.split()


@pytest.mark.parametrize(
    ("choice", "state", "words"),
    [
        ("decline", OrderState.DECLINED, "Your payment was declined"),
        ("cancel", OrderState.CANCELLED, "You cancelled the payment"),
    ],
)
def test_decline_and_cancel_leave_no_access(
    shop: Shop, choice: str, state: OrderState, words: str
) -> None:
    browser = shop.browser_for(shop.learner)
    result = return_to_merchant(browser, pay(shop, browser, choice))

    assert result.status_code == 200
    assert words in result.text and "you are not enrolled" in result.text
    assert "Try again" in result.text
    assert order_state(shop) is state
    assert count(Enrollment) == 0
    payment = db.session.scalars(select(Payment)).one()
    assert payment.decision is PaymentDecision(choice.upper())
    assert actions() == [f"payment.{state.value}", "payment.duplicate"]
    assert count(AuditEvent, AuditEvent.action == f"order.{state.value}") == 1


def test_try_again_after_a_decline_makes_a_fresh_order(shop: Shop) -> None:
    browser = shop.browser_for(shop.learner)
    result = return_to_merchant(browser, pay(shop, browser, "decline"))
    retry = browser.submit(result, "retry-form")
    assert retry.status_code == 200, retry.text[:1000]
    fresh = urlsplit(retry.url).path.rsplit("/", 1)[1]
    assert fresh != shop.order.reference and fresh.startswith("B2B-")
    assert "Pay with card" in retry.text and "149.00 USD" in retry.text
    new_order = db.session.scalar(select(Order).where(Order.reference == fresh))
    assert new_order is not None and new_order.state is OrderState.PENDING
    assert new_order.user_id == shop.learner.id and new_order.total == Decimal("149.00")
    # Trying again from the old order once more reuses the pending one.
    again = browser.post(f"{shop.checkout_url()}/retry")
    assert again.url.endswith(f"/checkout/{fresh}")


def test_try_again_goes_through_the_enroll_rules(shop: Shop) -> None:
    browser = shop.browser_for(shop.learner)
    result = return_to_merchant(browser, pay(shop, browser, "cancel"))
    seat = db.session.scalars(select(Seat)).one()
    seat.revoked_at = utcnow()  # the organization took the seat back meanwhile
    db.session.commit()
    retry = browser.submit(result, "retry-form")
    assert retry.status_code == 200 and retry.url == shop.checkout_url()
    assert "You don&#39;t have access to Globex Professional Certificate" in retry.text
    assert count(Order) == 1
    assert count(AuditEvent, AuditEvent.action == "enrollment.refused") == 1


@pytest.mark.parametrize("notify_mode", ["before-return", "off"])
def test_notification_before_and_after_the_return_and_repeated(
    shop_factory: Callable[..., Shop], notify_mode: str
) -> None:
    """CyberSource's notification may come before or after the browser's return, and more than
    once: exactly one payment and one enrollment, and 200 "OK" for every verified repeat."""
    shop = shop_factory(notify_mode=notify_mode)
    browser = shop.browser_for(shop.learner)
    returned = pay(shop, browser, "accept")
    assert len(shop.emulator.responses) == 1
    signed_response = shop.emulator.responses[0]

    result = return_to_merchant(browser, returned)
    assert "you're enrolled" in result.text
    for _ in range(2):
        answer = shop.notify(signed_response)
        assert (answer.status_code, answer.text) == (200, "OK")

    assert order_state(shop) is OrderState.FULFILLED
    assert count(Payment) == 1 and count(Enrollment, Enrollment.active) == 1
    assert count(AuditEvent, AuditEvent.action == "order.fulfilled") == 1
    assert actions().count("payment.accepted") == 1
    assert actions().count("payment.duplicate") == (3 if notify_mode == "before-return" else 2)


def test_forged_notifications_change_nothing(shop_factory: Callable[..., Shop]) -> None:
    shop = shop_factory(notify_mode="off")
    browser = shop.browser_for(shop.learner)
    returned = pay(shop, browser, "decline")
    genuine = shop.emulator.responses[0]
    assert genuine["decision"] == "DECLINE"

    wrong_secret = sign({k: v for k, v in genuine.items() if k != "signature"}, "guessed-secret")
    as_accepted = {**genuine, "decision": "ACCEPT"}
    cheaper = {**resign(genuine, decision="ACCEPT"), "req_amount": "1.00", "auth_amount": "1.00"}
    unsigned_extra = {**resign(genuine, decision="ACCEPT"), "utf8": "✓"}
    no_signature = {k: v for k, v in genuine.items() if k != "signature"}
    no_list = {k: v for k, v in genuine.items() if k != "signed_field_names"}
    forgeries = [wrong_secret, as_accepted, cheaper, unsigned_extra, no_signature, no_list]
    for forged in forgeries:
        answer = shop.notify(forged)
        assert answer.status_code == 400, answer.text
        assert answer.text == "forged"

    # The browser return, forged, is a 400 page and changes nothing either.
    form = next(f for f in forms(returned) if f["id"] == "sa-return")
    page = requests.post(form["action"], data={**form["fields"], "decision": "ACCEPT"}, timeout=15)
    assert page.status_code == 400 and "could not be verified" in page.text

    assert order_state(shop) is OrderState.PENDING
    assert count(Payment) == 0 and count(Enrollment) == 0
    assert actions() == ["payment.forged"] * (len(forgeries) + 1)
    # The learner can still pay.
    assert "Pay with card" in browser.get(shop.checkout_url()).text

    # The genuine message still works afterwards.
    assert shop.notify(genuine).status_code == 200
    assert order_state(shop) is OrderState.DECLINED and count(Payment) == 1


def test_a_notification_for_an_unknown_reference_is_refused(shop: Shop) -> None:
    fields = sign(
        {
            "decision": "ACCEPT",
            "transaction_id": "7000000000000000000099",
            "req_reference_number": "B2B-DOESNOTEXIST",
            "req_amount": "149.00",
            "req_currency": "USD",
            "auth_amount": "149.00",
            "signed_field_names": "decision,transaction_id,req_reference_number,req_amount,"
            "req_currency,auth_amount,signed_field_names",
        },
        SECRET,
    )
    answer = shop.notify(fields)
    assert (answer.status_code, answer.text) == (400, "refused")
    assert count(Payment) == 0 and count(Enrollment) == 0
    assert actions() == ["payment.refused"]
    assert order_state(shop) is OrderState.PENDING


def test_with_csrf_on_the_provider_can_still_post_and_learners_still_need_tokens(
    shop_factory: Callable[..., Shop],
) -> None:
    shop = shop_factory(WTF_CSRF_ENABLED=True)
    browser = shop.browser_for(shop.learner)
    result = return_to_merchant(browser, pay(shop, browser, "decline"))
    assert [d.status for d in shop.emulator.deliveries] == [200]
    assert "Your payment was declined" in result.text
    assert browser.post(f"{shop.checkout_url()}/retry").status_code == 400  # no token
    retry = browser.submit(result, "retry-form")  # the page's token
    assert retry.status_code == 200 and "Pay with card" in retry.text


def test_only_the_orders_own_learner_sees_its_checkout(shop: Shop) -> None:
    other = User(email="someone@example.com")
    db.session.add(other)
    db.session.commit()
    snoop = shop.browser_for(other)
    assert snoop.get(shop.checkout_url()).status_code == 404
    assert snoop.get(f"{shop.checkout_url()}/result").status_code == 404
    assert snoop.get(shop.checkout_url("B2B-NOSUCHORDER")).status_code == 404

    anonymous = requests.get(shop.checkout_url(), allow_redirects=False, timeout=15)
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]


def test_a_payment_page_decides_once(shop: Shop) -> None:
    browser = shop.browser_for(shop.learner)
    hosted = browser.submit(browser.get(shop.checkout_url()), "pay-form")
    assert browser.submit(hosted, "sa-decision", decision="cancel").status_code == 200
    assert browser.submit(hosted, "sa-decision", decision="accept").status_code == 410
    assert len(shop.emulator.responses) == 1


def test_the_emulator_refuses_a_tampered_request(shop: Shop) -> None:
    browser = shop.browser_for(shop.learner)
    page = browser.get(shop.checkout_url())
    form = next(f for f in forms(page) if f["id"] == "pay-form")
    tampered = browser.post(form["action"], data={**form["fields"], "amount": "1.00"})
    assert tampered.status_code == 400 and "Access denied" in tampered.text
    assert shop.emulator.responses == []


# ----------------------------------------------------------------------------- the service's rules


def signed_response(
    order: Order, decision: str, transaction_id: str, **extra: str
) -> dict[str, str]:
    fields = {
        "decision": decision,
        "transaction_id": transaction_id,
        "req_reference_number": order.reference,
        "req_amount": str(order.total),
        "req_currency": order.currency,
        "message": f"{decision} from the test",
        **extra,
    }
    fields["signed_field_names"] = ",".join([*fields, "signed_field_names"])
    return sign(fields, SECRET)


def test_review_then_the_final_decision_for_the_same_transaction(shop: Shop) -> None:
    order = shop.order
    review = handle_response(signed_response(order, "REVIEW", "T-1"), channel="notification")
    db.session.commit()
    assert review.status is PaymentOutcome.REVIEW and order_state(shop) is OrderState.PENDING
    assert checkout_state(order) is CheckoutState.REVIEW
    accepted = handle_response(
        signed_response(order, "ACCEPT", "T-1", auth_amount="149.00"), channel="notification"
    )
    db.session.commit()
    assert accepted.status is PaymentOutcome.ACCEPTED
    assert order_state(shop) is OrderState.FULFILLED
    assert count(Payment) == 1 and count(Enrollment, Enrollment.active) == 1


def test_a_late_approval_after_a_decline_is_recorded_not_granted(shop: Shop) -> None:
    order = shop.order
    handle_response(signed_response(order, "DECLINE", "T-1"), channel="return")
    late = handle_response(signed_response(order, "ACCEPT", "T-2"), channel="notification")
    db.session.commit()
    assert late.status is PaymentOutcome.CONFLICT
    assert order_state(shop) is OrderState.DECLINED
    assert count(Enrollment) == 0 and count(Payment) == 2
    assert actions() == ["payment.declined", "payment.conflict"]
    assert checkout_state(order) is CheckoutState.CONFLICT
    browser = shop.browser_for(shop.learner)
    page = browser.get(f"{shop.checkout_url()}/result")
    assert "did not enroll you" in page.text and "don't need to pay again" in page.text


def test_paying_twice_grants_once(shop: Shop) -> None:
    order = shop.order
    first = handle_response(signed_response(order, "ACCEPT", "T-1"), channel="return")
    second = handle_response(signed_response(order, "ACCEPT", "T-2"), channel="return")
    db.session.commit()
    assert (first.status, second.status) == (PaymentOutcome.ACCEPTED, PaymentOutcome.CONFLICT)
    assert count(Enrollment) == 1 and count(Payment) == 2
    assert checkout_state(order) is CheckoutState.APPROVED


@pytest.mark.parametrize(
    "changes",
    [
        {"req_amount": "14.90"},
        {"req_currency": "EUR"},
        {"auth_amount": "100.00"},  # a partial authorization
        {"req_amount": "NaN"},
    ],
)
def test_an_approval_for_the_wrong_amount_is_refused(shop: Shop, changes: dict[str, str]) -> None:
    fields = signed_response(shop.order, "ACCEPT", "T-1")
    outcome = handle_response(resign(fields, **changes), channel="notification")
    db.session.commit()
    assert outcome.status is PaymentOutcome.REFUSED
    assert order_state(shop) is OrderState.PENDING
    assert count(Payment) == 0 and count(Enrollment) == 0
    assert actions() == ["payment.refused"]


def test_an_error_declines_the_order_with_its_own_words(shop: Shop) -> None:
    outcome = handle_response(signed_response(shop.order, "ERROR", "T-1"), channel="notification")
    db.session.commit()
    assert outcome.status is PaymentOutcome.ERROR
    assert order_state(shop) is OrderState.DECLINED
    assert checkout_state(shop.order) is CheckoutState.ERROR
    page = shop.browser_for(shop.learner).get(f"{shop.checkout_url()}/result")
    assert "could not be processed" in page.text
