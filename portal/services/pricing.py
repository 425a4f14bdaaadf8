"""What a learner pays for a contract (b2b-rules sections 1 and 5), in one place.

* A contract's price is **per learner**: paid once for the contract, whatever the number of its
  course runs the learner enrolls in. A learner who has paid (an order on the contract fulfilled
  with a total above zero, refunded or not) pays nothing for the contract's other runs.
* A code is a **discount code**: the learner's most recent redemption on the contract may carry a
  percentage or a fixed amount off the price, never more than the price.
* An order records both on its first line: ``unit_price`` the list price, ``discount`` the
  code's discount; the order's other lines cost nothing (``services.orders.create_order``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import exists, select

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import (
    CodeRedemption,
    Contract,
    EnrollmentCode,
    Order,
    OrderState,
    User,
)

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HUNDRED = Decimal("100")


@dataclass(frozen=True)
class Price:
    """The price of ``contract`` for one learner now."""

    list_price: Decimal  # the contract's price per learner
    discount: Decimal  # what the learner's code takes off, at most ``list_price``
    redemption_id: int | None  # the redemption whose code gave the discount
    paid_already: bool  # the learner has paid for this contract: nothing more is due

    @property
    def due(self) -> Decimal:
        return ZERO if self.paid_already else self.list_price - self.discount


def discount_of(percent: Decimal | None, amount: Decimal | None, list_price: Decimal) -> Decimal:
    """A code's discount on ``list_price``: a percentage (rounded half up to the cent) or a fixed
    amount, capped at the price."""
    if percent is not None:
        off = (list_price * percent / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    elif amount is not None:
        off = amount
    else:
        return ZERO
    return min(off, list_price).quantize(CENT)


def has_paid(user_id: int, contract_id: int) -> bool:
    """Whether the learner has paid for the contract: a fulfilled (or later refunded) order on it
    with a total above zero."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Order.user_id == user_id,
                    Order.contract_id == contract_id,
                    Order.state.in_((OrderState.FULFILLED, OrderState.REFUNDED)),
                    Order.total > 0,
                )
            )
        )
    )


def price_for(contract: Contract, user: User) -> Price:
    """The learner's price for ``contract``: its list price, the discount of the code they
    redeemed last on it (if any), and whether they paid for it already."""
    list_price = contract.price_per_learner or ZERO
    if list_price == ZERO:
        return Price(ZERO, ZERO, None, paid_already=False)
    row = db.session.execute(
        select(CodeRedemption.id, EnrollmentCode.discount_percent, EnrollmentCode.discount_amount)
        .join(EnrollmentCode, EnrollmentCode.id == CodeRedemption.code_id)
        .where(CodeRedemption.user_id == user.id, CodeRedemption.contract_id == contract.id)
        .order_by(CodeRedemption.id.desc())
        .limit(1)
    ).first()
    redemption_id, discount = None, ZERO
    if row is not None:
        redemption_id = row.id
        discount = discount_of(row.discount_percent, row.discount_amount, list_price)
    return Price(list_price, discount, redemption_id, has_paid(user.id, contract.id))


def checked_discount(
    percent: Decimal | None, amount: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    """A discount staff give codes, checked: a percentage in (0, 100] or an amount above zero,
    not both; None and None is no discount. Raises ``DomainError`` with the reason."""
    if percent is not None and amount is not None:
        raise DomainError(
            _("Give the discount as a percentage or as an amount, not both."),
            code="two_discounts",
        )
    if percent is not None and not (ZERO < percent <= HUNDRED):
        raise DomainError(
            _("A percentage discount is more than 0 and at most 100."), code="bad_discount"
        )
    if amount is not None and amount <= ZERO:
        raise DomainError(_("A discount amount is more than 0."), code="bad_discount")
    if percent is not None:
        percent = percent.quantize(CENT)
    if amount is not None:
        amount = amount.quantize(CENT)
    return percent, amount


def describe_discount(
    percent: Decimal | None, amount: Decimal | None, currency: str = "USD"
) -> str:
    """'20% off', '15.00 USD off', or '' for none: how pages and exports name a code's discount."""
    if percent is not None:
        written = format(percent.normalize(), "f")
        return _("%(percent)s%% off", percent=written)
    if amount is not None:
        written = format(amount, ".2f")
        return _("%(amount)s %(currency)s off", amount=written, currency=currency)
    return ""
