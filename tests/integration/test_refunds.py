"""Refunds end to end: a learner pays in the emulator's hosted checkout, staff refund the order from
its page, and a real worker (``flask worker`` against Redis in CI) makes the signed REST refund call
to the live payment emulator. Everything crosses real HTTP, with CSRF protection on.

What the emulator recorded (``GET /__emulator__/refunds``) is the proof of how many refunds
CyberSource was asked for and made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from emulators.payment import create_app as create_emulator
from portal.extensions import db
from portal.models import (
    AuditEvent,
    BackgroundJob,
    Enrollment,
    JobState,
    Order,
    OrderState,
    Refund,
    RefundState,
    Seat,
    User,
)
from tests.integration.test_checkout import make_paid_order, pay, return_to_merchant
from tests.support.browser import Browser
from tests.support.factories import UserFactory
from tests.support.live_server import DeferredApp, live_server
from tests.support.sessions import signed_session


@dataclass
class Refunds:
    app: Flask
    portal_url: str
    emulator_url: str
    learner: User
    order: Order
    run_jobs: Callable[[], None]
    stack: ExitStack = field(repr=False)

    def browser_for(self, user: User) -> Browser:
        browser = Browser()
        browser.http.cookies.set(
            self.app.config["SESSION_COOKIE_NAME"],
            signed_session(self.app, user.id),
            domain="127.0.0.1",
            path="/",
        )
        return browser

    @property
    def pay_url(self) -> str:
        return f"{self.emulator_url}/pay"

    def checkout_url(self) -> str:
        return f"{self.portal_url}/checkout/{self.order.reference}"

    def order_page(self, browser: Browser) -> requests.Response:
        page = browser.get(f"{self.portal_url}/staff/orders/{self.order.reference}")
        assert page.status_code == 200, page.text[:1000]
        return page

    def refund(
        self, browser: Browser, access: str, reason: str = "asked for it"
    ) -> requests.Response:
        """Staff fill in the refund form on the order's page and send it."""
        page = self.order_page(browser)
        return browser.submit(page, "refund-form", access=access, reason=reason, confirm="y")

    def cybersource(self) -> dict[str, Any]:
        answer = requests.get(f"{self.emulator_url}/__emulator__/refunds", timeout=10)
        assert answer.status_code == 200
        return dict(answer.json())

    def fault(self, spec: Any) -> None:
        answer = requests.post(
            f"{self.emulator_url}/__emulator__/refund-faults", json=spec, timeout=10
        )
        assert answer.status_code == 201, answer.text


@pytest.fixture
def refunds(
    rq_app_factory: Callable[..., Flask], job_runner_for: Callable[..., Any]
) -> Iterator[Refunds]:
    """The portal (jobs through RQ) and the payment emulator, each on its own port, and a learner
    who has paid for a 149.00 order in hosted checkout (notification first, then the return)."""
    with ExitStack() as stack:
        portal_slot = DeferredApp()
        portal_url = stack.enter_context(live_server(portal_slot))
        emulator_url = stack.enter_context(live_server(create_emulator({})))
        app = rq_app_factory(
            CYBERSOURCE_URL=f"{emulator_url}/pay",
            CYBERSOURCE_REST_URL=emulator_url,
            PUBLIC_BASE_URL=portal_url,
            WTF_CSRF_ENABLED=True,
            JOB_BACKOFF_BASE_SECONDS=0,
        )
        portal_slot.app = app
        stack.enter_context(app.app_context())
        learner = User(email="learner@globex.example", name="Grace Learner")
        db.session.add(learner)
        db.session.commit()
        order = make_paid_order(learner)
        env = Refunds(app, portal_url, emulator_url, learner, order, job_runner_for(app).run, stack)
        browser = env.browser_for(learner)
        result = return_to_merchant(browser, pay(env, browser, "accept"))  # type: ignore[arg-type]
        assert "you're enrolled" in result.text
        env.run_jobs()  # the enrollment's edX jobs (edX is not there: they fail, nothing else)
        assert order_of(env).state is OrderState.FULFILLED
        yield env


def order_of(env: Refunds) -> Order:
    db.session.expire_all()
    order = db.session.get(Order, env.order.id)
    assert order is not None
    return order


def refund_rows(env: Refunds) -> list[Refund]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Refund).where(Refund.order_id == env.order.id).order_by(Refund.id)
        )
    )


def seat_revoked(env: Refunds) -> bool:
    db.session.expire_all()
    seat = db.session.scalar(select(Seat).where(Seat.user_id == env.learner.id))
    assert seat is not None
    return seat.revoked_at is not None


def active_enrollments(env: Refunds) -> int:
    db.session.expire_all()
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(Enrollment.user_id == env.learner.id, Enrollment.active.is_(True))
        )
        or 0
    )


def staff_browser(env: Refunds) -> Browser:
    user = UserFactory(is_staff=True)
    db.session.commit()
    return env.browser_for(user)


def transaction_id(env: Refunds) -> str:
    from portal.models import Payment

    payment = db.session.scalars(select(Payment).where(Payment.order_id == env.order.id)).one()
    return payment.transaction_id


# ----------------------------------------------------------------------------- the journeys


def test_refund_revoking_access(refunds: Refunds) -> None:
    staff = staff_browser(refunds)
    assert active_enrollments(refunds) == 1
    sent = refunds.refund(staff, "revoke", "bought the wrong course")
    assert sent.status_code == 200 and sent.url.endswith(f"/staff/orders/{refunds.order.reference}")
    assert "sent to CyberSource" in sent.text and "waiting for CyberSource" in sent.text
    [refund] = refund_rows(refunds)
    assert refund.state is RefundState.REQUESTED  # the worker has not run yet

    refunds.run_jobs()

    [refund] = refund_rows(refunds)
    assert refund.state is RefundState.SUCCEEDED
    [made] = refunds.cybersource()["refunds"]
    assert made == {
        "id": refund.provider_refund_id,
        "paymentId": transaction_id(refunds),
        "code": refund.request_key,
        "amount": "149.00",
        "currency": "USD",
    }
    assert order_of(refunds).state is OrderState.REFUNDED
    assert seat_revoked(refunds) and active_enrollments(refunds) == 0
    page = refunds.order_page(staff)
    assert "badge-succeeded" in page.text and refund.provider_refund_id in page.text
    assert 'id="refund-form"' not in page.text
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"order.refund_requested", "order.refund_succeeded", "seat.revoked"} <= actions
    # The learner's order page says refunded.
    learner_page = refunds.browser_for(refunds.learner).get(refunds.checkout_url())
    assert learner_page.status_code == 200


def test_refund_keeping_access(refunds: Refunds) -> None:
    staff = staff_browser(refunds)
    refunds.refund(staff, "keep", "goodwill: the course started late")
    refunds.run_jobs()
    [refund] = refund_rows(refunds)
    assert refund.state is RefundState.SUCCEEDED
    assert len(refunds.cybersource()["refunds"]) == 1
    assert order_of(refunds).state is OrderState.REFUNDED
    assert not seat_revoked(refunds) and active_enrollments(refunds) == 1


def test_a_refused_refund_is_shown_failed_and_changes_nothing(refunds: Refunds) -> None:
    refunds.fault(
        {
            "status": 400,
            "reason": "INVALID_DATA",
            "message": "Declined - The card account is closed",
        }
    )
    staff = staff_browser(refunds)
    refunds.refund(staff, "revoke")
    refunds.run_jobs()
    [refund] = refund_rows(refunds)
    assert refund.state is RefundState.FAILED
    page = refunds.order_page(staff)
    assert "badge-failed" in page.text and "Declined - The card account is closed" in page.text
    assert refunds.cybersource()["refunds"] == []
    assert order_of(refunds).state is OrderState.FULFILLED
    assert not seat_revoked(refunds) and active_enrollments(refunds) == 1
    job = db.session.scalar(select(BackgroundJob).where(BackgroundJob.kind == "cybersource.refund"))
    assert job is not None and job.state is JobState.FAILED and job.attempts == 1
    # Staff can start a new refund, which goes through.
    assert 'id="refund-form"' in page.text
    refunds.refund(staff, "revoke", "second try")
    refunds.run_jobs()
    assert [r.state for r in refund_rows(refunds)] == [RefundState.FAILED, RefundState.SUCCEEDED]
    assert len(refunds.cybersource()["refunds"]) == 1
    assert order_of(refunds).state is OrderState.REFUNDED and seat_revoked(refunds)


def test_a_502_is_retried_by_the_jobs_backoff_then_succeeds(refunds: Refunds) -> None:
    refunds.fault({"status": 502})
    staff = staff_browser(refunds)
    refunds.refund(staff, "keep")
    refunds.run_jobs()
    [refund] = refund_rows(refunds)
    assert refund.state is RefundState.SUCCEEDED
    calls = refunds.cybersource()["calls"]
    assert [c["status"] for c in calls] == [502, 201]
    assert len(refunds.cybersource()["refunds"]) == 1
    job = db.session.scalar(select(BackgroundJob).where(BackgroundJob.kind == "cybersource.refund"))
    assert job is not None and job.state is JobState.SUCCEEDED and job.attempts == 2
    assert order_of(refunds).state is OrderState.REFUNDED


def test_two_refund_posts_at_once_make_one_cybersource_refund(refunds: Refunds) -> None:
    staff_a, staff_b = staff_browser(refunds), staff_browser(refunds)
    # Both pages are open before either is sent: two staff (or a double click) at the same moment.
    pages = [refunds.order_page(staff_a), refunds.order_page(staff_b)]
    answers: list[requests.Response] = []
    start = threading.Barrier(2)
    lock = threading.Lock()

    def send(browser: Browser, page: requests.Response) -> None:
        start.wait()
        answer = browser.submit(page, "refund-form", access="keep", reason="x", confirm="y")
        with lock:
            answers.append(answer)

    threads = [
        threading.Thread(target=send, args=(staff_a, pages[0])),
        threading.Thread(target=send, args=(staff_b, pages[1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 200]
    assert sum("sent to CyberSource" in a.text for a in answers) == 1
    [refused] = [a for a in answers if "sent to CyberSource" not in a.text]
    assert "flash-error" in refused.text and "is in progress" in refused.text
    assert len(refund_rows(refunds)) == 1
    refunds.run_jobs()
    refunds.run_jobs()  # a second worker pass finds nothing more to do
    recorded = refunds.cybersource()
    assert len(recorded["refunds"]) == 1
    assert [c["status"] for c in recorded["calls"]] == [201]
    assert refund_rows(refunds)[0].state is RefundState.SUCCEEDED
    assert order_of(refunds).state is OrderState.REFUNDED
    # And once refunded, the page offers no second refund.
    assert 'id="refund-form"' not in refunds.order_page(staff_a).text
    assert Decimal(recorded["refunds"][0]["amount"]) == Decimal("149.00")
