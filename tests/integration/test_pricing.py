"""The price per learner and discount codes over real HTTP (b2b-rules sections 1, 5 and 7): the
portal and the Secure Acceptance emulator on their own ports, the learner's browser in between.

A contract's price is paid once per learner: a three-course program costs the price once, and a
course enrolled in after paying costs nothing. A code may take a percentage or an amount off;
the order's first line records the list price and the discount."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Contract,
    ContractProgram,
    CourseRun,
    Enrollment,
    Order,
    OrderState,
    Payment,
    Program,
    ProgramCourse,
    User,
)

# The shop fixtures of the checkout suite (a parameter named like a fixture redefines it: F811).
from tests.integration.test_checkout import Shop, count, return_to_merchant, shop, shop_factory  # noqa: F401
from tests.support.browser import Browser
from tests.support.factories import CourseFactory, CourseRunFactory, EnrollmentCodeFactory


def _run(contract: Contract, number: str, title: str) -> CourseRun:
    course = CourseFactory(key=f"B2B_SOURCE+{number}", number=number, title=title)
    return CourseRunFactory(
        course=course,
        course_key=f"course-v1:GLOBEX+{number}+1T{contract.id}C2026",
        contract=contract,
        run_number=1,
        contract_run=True,
    )


def _program(contract: Contract) -> tuple[Program, list[CourseRun]]:
    """A three-course program on the shop's contract: its first run and two more."""
    first = db.session.get(CourseRun, shop_run_id(contract))
    assert first is not None
    runs = [first, _run(contract, "DS.102x", "Data Wrangling"), _run(contract, "DS.103x", "Models")]
    program = Program(key="program-v1:GLOBEX+DS", title="Data Science Program")
    db.session.add(program)
    db.session.flush()
    for position, run in enumerate(runs):
        db.session.add(
            ProgramCourse(program_id=program.id, course_id=run.course_id, position=position)
        )
    db.session.add(ContractProgram(contract_id=contract.id, program_id=program.id, position=0))
    db.session.commit()
    return program, runs


def shop_run_id(contract: Contract) -> int:
    return int(
        db.session.scalar(
            select(CourseRun.id).where(CourseRun.contract_id == contract.id).order_by(CourseRun.id)
        )
        or 0
    )


def _post(shop: Shop, browser: Browser, path: str, **data: str) -> object:
    token = browser.csrf_token(f"{shop.portal_url}/learner/")
    return browser.post(f"{shop.portal_url}{path}", data={"csrf_token": token, **data})


def _pay(shop: Shop, browser: Browser, order: Order) -> None:
    page = browser.get(f"{shop.portal_url}/checkout/{order.reference}")
    assert page.status_code == 200, page.text[:800]
    hosted = browser.submit(page, "pay-form")
    assert f"{order.total} USD" in hosted.text, hosted.text[:800]
    returned = browser.submit(hosted, "sa-decision", decision="accept")
    result = return_to_merchant(browser, returned)
    assert "Payment approved" in result.text, result.text[:800]


def _orders(user: User) -> list[Order]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Order).where(Order.user_id == user.id).order_by(Order.id))
    )


def test_a_program_is_bought_once_and_later_courses_are_included(shop: Shop) -> None:
    contract = db.session.get(Contract, shop.order.contract_id)
    assert contract is not None
    program, _runs = _program(contract)
    browser = shop.browser_for(shop.learner)

    answer = _post(shop, browser, f"/learner/contracts/{contract.id}/programs/{program.id}/enroll")
    assert "/checkout/" in answer.url  # type: ignore[attr-defined]
    first, order = _orders(shop.learner)
    # The open order for one course was replaced by one order for the whole program, priced once.
    assert first.state is OrderState.CANCELLED and "replaced by order" in (first.close_reason or "")
    assert order.state is OrderState.PENDING and order.total == Decimal("149.00")
    assert [(line.unit_price, line.discount) for line in order.lines] == [
        (Decimal("149.00"), Decimal("0.00")),
        (Decimal("0.00"), Decimal("0.00")),
        (Decimal("0.00"), Decimal("0.00")),
    ]
    page = browser.get(f"{shop.portal_url}/checkout/{order.reference}")
    assert page.text.count('<span class="muted">included</span>') == 2
    assert "you pay it once" in page.text

    _pay(shop, browser, order)
    assert count(Enrollment, Enrollment.user_id == shop.learner.id, Enrollment.active) == 3
    payments = list(db.session.scalars(select(Payment)))
    assert [p.amount for p in payments] == [Decimal("149.00")]

    # A fourth course added to the contract later costs nothing: the price was paid.
    later = _run(contract, "DS.104x", "Capstone")
    db.session.commit()
    answer = _post(shop, browser, f"/learner/runs/{later.id}/enroll")
    assert "/checkout/" not in answer.url  # type: ignore[attr-defined]
    newest = _orders(shop.learner)[-1]
    assert newest.state is OrderState.FULFILLED and newest.total == Decimal("0.00")
    assert count(Enrollment, Enrollment.user_id == shop.learner.id, Enrollment.active) == 4


def test_a_discount_code_prices_the_order_and_its_line_records_it(shop: Shop) -> None:
    contract = db.session.get(Contract, shop.order.contract_id)
    assert contract is not None
    EnrollmentCodeFactory(contract=contract, code="SAVE20PERCENTX", discount_percent=Decimal("20"))
    learner = User(email="ada@globex.example", name="Ada")
    db.session.add(learner)
    db.session.commit()
    browser = shop.browser_for(learner)

    token = browser.csrf_token(f"{shop.portal_url}/learner/redeem")
    redeemed = browser.post(
        f"{shop.portal_url}/learner/redeem", data={"csrf_token": token, "code": "save20percentx"}
    )
    assert redeemed.status_code == 200, redeemed.text[:800]
    answer = _post(shop, browser, f"/learner/runs/{shop_run_id(contract)}/enroll")
    assert "/checkout/" in answer.url  # type: ignore[attr-defined]
    [order] = _orders(learner)
    [line] = order.lines
    assert (line.unit_price, line.discount, order.total) == (
        Decimal("149.00"),
        Decimal("29.80"),
        Decimal("119.20"),
    )
    assert line.redemption_id is not None
    page = browser.get(f"{shop.portal_url}/checkout/{order.reference}")
    assert "code discount 29.80 USD" in page.text and "119.20 USD" in page.text

    _pay(shop, browser, order)
    payment = db.session.scalars(select(Payment).where(Payment.order_id == order.id)).one()
    assert payment.amount == Decimal("119.20")
    assert count(Enrollment, Enrollment.user_id == learner.id, Enrollment.active) == 1


def test_a_fixed_discount_never_goes_below_zero(shop: Shop) -> None:
    contract = db.session.get(Contract, shop.order.contract_id)
    assert contract is not None
    EnrollmentCodeFactory(contract=contract, code="FREEFORYOUXYZ", discount_amount=Decimal("500"))
    learner = User(email="bo@globex.example", name="Bo")
    db.session.add(learner)
    db.session.commit()
    browser = shop.browser_for(learner)
    token = browser.csrf_token(f"{shop.portal_url}/learner/redeem")
    browser.post(
        f"{shop.portal_url}/learner/redeem", data={"csrf_token": token, "code": "FREEFORYOUXYZ"}
    )
    answer = _post(shop, browser, f"/learner/runs/{shop_run_id(contract)}/enroll")
    assert "/checkout/" not in answer.url  # type: ignore[attr-defined]
    [order] = _orders(learner)
    assert order.state is OrderState.FULFILLED and order.total == Decimal("0.00")
    assert (order.lines[0].unit_price, order.lines[0].discount) == (
        Decimal("149.00"),
        Decimal("149.00"),
    )
    assert count(Enrollment, Enrollment.user_id == learner.id, Enrollment.active) == 1
