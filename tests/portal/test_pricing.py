"""The price per learner and code discounts (``services.pricing``, b2b-rules sections 1 and 5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from portal.core.domain_errors import DomainError
from portal.models import MembershipType, OrderState
from portal.services.orders import create_order, fulfil_order
from portal.services.pricing import (
    checked_discount,
    describe_discount,
    discount_of,
    price_for,
)
from tests.support.factories import (
    CodeRedemptionFactory,
    ContractFactory,
    CourseRunFactory,
    EnrollmentCodeFactory,
    UserFactory,
)

D = Decimal


@pytest.mark.parametrize(
    ("percent", "amount", "price", "off"),
    [
        (D("20"), None, D("149.00"), D("29.80")),
        (D("33.33"), None, D("10.00"), D("3.33")),
        (D("12.5"), None, D("0.10"), D("0.01")),  # 0.0125 rounds half up to a cent
        (D("100"), None, D("149.00"), D("149.00")),
        (None, D("40"), D("149.00"), D("40.00")),
        (None, D("500"), D("149.00"), D("149.00")),  # never more than the price
        (None, None, D("149.00"), D("0.00")),
    ],
)
def test_discount_of(percent: Any, amount: Any, price: Decimal, off: Decimal) -> None:
    assert discount_of(percent, amount, price) == off


@pytest.mark.parametrize(
    ("percent", "amount", "message"),
    [
        (D("10"), D("5"), "not both"),
        (D("0"), None, "more than 0 and at most 100"),
        (D("101"), None, "more than 0 and at most 100"),
        (None, D("0"), "more than 0"),
        (None, D("-1"), "more than 0"),
    ],
)
def test_checked_discount_refuses(percent: Any, amount: Any, message: str) -> None:
    with pytest.raises(DomainError, match=message):
        checked_discount(percent, amount)


def test_describe_discount() -> None:
    assert describe_discount(D("12.50"), None) == "12.5% off"
    assert describe_discount(D("20.00"), None) == "20% off"
    assert describe_discount(None, D("40")) == "40.00 USD off"
    assert describe_discount(None, None) == ""


def test_the_price_is_paid_once_per_learner(db: Any) -> None:
    contract = ContractFactory(
        membership_type=MembershipType.CODE, seat_limit=5, price_per_learner=D("100.00")
    )
    runs = [CourseRunFactory(contract=contract, contract_run=True) for _ in range(3)]
    learner, other = UserFactory(), UserFactory()
    code = EnrollmentCodeFactory(contract=contract, discount_percent=D("25"))
    CodeRedemptionFactory(code=code, user=learner)
    db.session.commit()

    price = price_for(contract, learner)
    assert (price.list_price, price.discount, price.due) == (D("100.00"), D("25.00"), D("75.00"))
    assert price_for(contract, other).due == D("100.00")  # no code: the list price

    order = create_order(learner, contract, runs[:2])
    assert order.total == D("75.00")
    assert [(line.unit_price, line.discount) for line in order.lines] == [
        (D("100.00"), D("25.00")),
        (D("0.00"), D("0.00")),
    ]
    assert fulfil_order(order.id) and order.state is OrderState.FULFILLED
    db.session.commit()

    after = price_for(contract, learner)
    assert after.paid_already and after.due == D("0.00")
    later = create_order(learner, contract, runs[2:])
    assert later.total == D("0.00") and later.lines[0].unit_price == D("0.00")
    assert price_for(contract, other).due == D("100.00")  # someone else still pays
