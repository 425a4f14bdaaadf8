"""Reading orders (b2b-rules section 7): staff's searchable list of every order and its CSV, one
order's page for staff, and a learner's own orders and receipts.

A contract's price is per learner (section 1): an order's first line carries the list price and the
code's discount, its other lines nothing. An order's list price and discount are the sums over its
lines, so orders written before that rule read the same way.

A page is a fixed number of statements whatever the data: the page of orders (learner, contract
and organization joined), their total, then one query each for the page's lines, accepted payments
and refunds. The CSV streams the same view through a server-side cursor, a chunk at a time, with
the same three queries per chunk, all run while it streams (after the request's commit).

The pages' words are in the reader's language; the CSV's column headers and values stay English
identifiers (``EXPORT_COLUMNS``), so scripts reading the file work whoever downloaded it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, exists, func, or_, select

from portal.core.domain_errors import DomainError, NotFound
from portal.core.pagination import PER_PAGE, Page, paginate
from portal.core.params import parse_id
from portal.core.sorting import Sort, Sorting
from portal.core.text import LazyText
from portal.core.text import lazy_gettext as _l
from portal.extensions import db
from portal.models import (
    CodeRedemption,
    Contract,
    CourseRun,
    EnrollmentCode,
    Order,
    OrderLine,
    OrderState,
    Organization,
    Payment,
    PaymentDecision,
    Program,
    Refund,
    RefundState,
    User,
)
from portal.services.audit import record_event
from portal.services.codes import normalize_code
from portal.services.pricing import describe_discount

ZERO = Decimal("0.00")
EXPORT_CHUNK = 1000
MAX_QUERY = 200
STATES = tuple(state.value for state in OrderState)


@dataclass(frozen=True)
class OrderFilter:
    """Staff's view of the orders: a search and three filters, all in the URL."""

    q: str = ""
    state: str = ""
    organization_id: int | None = None
    contract_id: int | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> OrderFilter:
        """From query-string values; a value that names nothing is refused with the reason."""
        state = str(args.get("state") or "").strip()
        if state and state not in STATES:
            raise DomainError(
                _(
                    "Unknown order state %(value)s; choose one of: %(choices)s.",
                    value=repr(state[:40]),
                    choices=", ".join(STATES),
                ),
                code="bad_filter",
            )
        return cls(
            q=str(args.get("q") or "").strip()[:MAX_QUERY],
            state=state,
            organization_id=_id_arg(args, "organization", CHOOSE_ORGANIZATION),
            contract_id=_id_arg(args, "contract", CHOOSE_CONTRACT),
        )

    def args(self) -> dict[str, Any]:
        """The query-string form of this view (for the pager, the CSV link and the audit log)."""
        values = {
            "q": self.q,
            "state": self.state,
            "organization": self.organization_id,
            "contract": self.contract_id,
        }
        return {name: value for name, value in values.items() if value}


CHOOSE_ORGANIZATION = _l("Choose an organization from the list (not %(value)s).")
CHOOSE_CONTRACT = _l("Choose a contract from the list (not %(value)s).")


def _id_arg(args: Mapping[str, Any], name: str, refusal: LazyText) -> int | None:
    raw = str(args.get(name) or "").strip()
    if not raw:
        return None
    found = parse_id(raw)
    if found is None:
        raise DomainError(str(refusal) % {"value": repr(raw[:40])}, code="bad_filter")
    return found


@dataclass(frozen=True)
class LineRow:
    title: str
    key: str
    unit_price: Decimal
    discount: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price - self.discount


@dataclass
class OrderRow:
    """One order as the lists show it: the order, who, on what, and what was paid and refunded."""

    id: int
    reference: str
    state: str
    total: Decimal
    currency: str
    created_at: dt.datetime
    fulfilled_at: dt.datetime | None
    refund_due: bool
    user_id: int
    learner_name: str
    learner_email: str
    contract_id: int
    contract_name: str
    organization_id: int
    organization_name: str
    lines: list[LineRow] = field(default_factory=list)
    code: str = ""
    discount_label: str = ""
    payment_reference: str = ""
    paid_at: dt.datetime | None = None
    refunds: list[Refund] = field(default_factory=list)

    @property
    def learner(self) -> str:
        return self.learner_name or self.learner_email

    @property
    def list_price(self) -> Decimal:
        return sum((line.unit_price for line in self.lines), ZERO)

    @property
    def discount(self) -> Decimal:
        return sum((line.discount for line in self.lines), ZERO)

    @property
    def refund_state(self) -> str:
        """The state of the latest refund, or '' when none was started."""
        return self.refunds[-1].state.value if self.refunds else ""


# The order lists' sorts (staff's and the learner's), newest first by default.
ORDER_SORTING = Sorting(
    columns={
        "created": Order.created_at,
        "reference": Order.reference,
        "learner": User.email,
        "contract": func.lower(Contract.name),
        "total": Order.total,
        "state": Order.state,
    },
    default="-created",
    tiebreak=Order.id,
    descending_first={"created", "total"},
)


def _search(q: str) -> Any:
    """Orders whose reference, learner (email or name), contract name, a payment's transaction id
    or the redeemed code contains ``q`` (any case; ``%`` and ``_`` are plain characters)."""
    text = q.lower()
    conditions = [
        func.lower(column).contains(text, autoescape=True)
        for column in (Order.reference, User.email, User.name, Contract.name)
    ]
    conditions.append(
        exists().where(
            Payment.order_id == Order.id,
            func.lower(Payment.transaction_id).contains(text, autoescape=True),
        )
    )
    as_code = normalize_code(q)
    if as_code:
        conditions.append(
            exists()
            .where(OrderLine.order_id == Order.id)
            .where(CodeRedemption.id == OrderLine.redemption_id)
            .where(EnrollmentCode.id == CodeRedemption.code_id)
            .where(EnrollmentCode.code.contains(as_code, autoescape=True))
        )
    return or_(*conditions)


def _base(flt: OrderFilter) -> Select[*tuple[Any, ...]]:
    """The orders in the view, newest first, with the columns of ``OrderRow`` under its names."""
    query = (
        select(
            Order.id,
            Order.reference,
            Order.state,
            Order.total,
            Order.currency,
            Order.created_at,
            Order.fulfilled_at,
            (Order.refund_due_at.is_not(None) & Order.refund_resolved_at.is_(None)).label(
                "refund_due"
            ),
            Order.user_id,
            User.name.label("learner_name"),
            User.email.label("learner_email"),
            Order.contract_id,
            Contract.name.label("contract_name"),
            Contract.organization_id,
            Organization.name.label("organization_name"),
        )
        .join(User, User.id == Order.user_id)
        .join(Contract, Contract.id == Order.contract_id)
        .join(Organization, Organization.id == Contract.organization_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    if flt.state:
        query = query.where(Order.state == OrderState(flt.state))
    if flt.organization_id:
        query = query.where(Contract.organization_id == flt.organization_id)
    if flt.contract_id:
        query = query.where(Order.contract_id == flt.contract_id)
    if flt.q:
        query = query.where(_search(flt.q))
    return query


def _rows(raw: Sequence[Any]) -> list[OrderRow]:
    rows = [OrderRow(**dict(row._mapping)) for row in raw]
    for row in rows:
        row.state = OrderState(row.state).value
        row.refund_due = bool(row.refund_due)
    _attach(rows)
    return rows


def _attach(rows: list[OrderRow]) -> None:
    """The lines (with the code that priced them), the accepted payment and the refunds of every
    order on ``rows``: three queries, whatever the number of rows."""
    by_id = {row.id: row for row in rows}
    if by_id:
        _attach_lines(by_id)
        _attach_payments(by_id)
        _attach_refunds(by_id)


def _attach_lines(by_id: dict[int, OrderRow]) -> None:
    for line in db.session.execute(
        select(
            OrderLine.order_id,
            OrderLine.unit_price,
            OrderLine.discount,
            func.coalesce(CourseRun.title, Program.title, "").label("title"),
            func.coalesce(CourseRun.course_key, Program.key, "").label("key"),
            EnrollmentCode.code,
            EnrollmentCode.discount_percent,
            EnrollmentCode.discount_amount,
        )
        .outerjoin(CourseRun, CourseRun.id == OrderLine.course_run_id)
        .outerjoin(Program, Program.id == OrderLine.program_id)
        .outerjoin(CodeRedemption, CodeRedemption.id == OrderLine.redemption_id)
        .outerjoin(EnrollmentCode, EnrollmentCode.id == CodeRedemption.code_id)
        .where(OrderLine.order_id.in_(by_id))
        .order_by(OrderLine.order_id, OrderLine.id)
    ):
        row = by_id[line.order_id]
        row.lines.append(LineRow(line.title, line.key, line.unit_price, line.discount))
        if line.code and not row.code:
            row.code = line.code
            row.discount_label = describe_discount(
                line.discount_percent, line.discount_amount, row.currency
            )


def _attach_payments(by_id: dict[int, OrderRow]) -> None:
    for order_id, transaction_id, received_at in db.session.execute(
        select(Payment.order_id, Payment.transaction_id, Payment.received_at)
        .where(Payment.order_id.in_(by_id), Payment.decision == PaymentDecision.ACCEPT)
        .order_by(Payment.id)
    ):
        row = by_id[order_id]
        if not row.payment_reference:  # the first approval is the one that paid
            row.payment_reference, row.paid_at = transaction_id, received_at


def _attach_refunds(by_id: dict[int, OrderRow]) -> None:
    for refund in db.session.scalars(
        select(Refund).where(Refund.order_id.in_(by_id)).order_by(Refund.id)
    ):
        by_id[refund.order_id].refunds.append(refund)


# --------------------------------------------------------------------------- staff


def orders_page(
    flt: OrderFilter, page: int = 1, per_page: int = PER_PAGE, sort: Sort | None = None
) -> Page[OrderRow]:
    """A page of the orders in ``flt``'s view in ``sort``'s order (newest first by default), and
    how many there are; read through a deferred join on the order id (``core.pagination``)."""
    sort = sort or ORDER_SORTING.read({})
    found = paginate(
        sort.order(_base(flt).order_by(None)),
        max(1, page),
        per_page=per_page,
        count=True,
        key=Order.id,
        args=flt.args(),
        sort=sort,
    )
    return replace(found, items=_rows(found.items))


@dataclass(frozen=True)
class FilterChoices:
    organizations: list[tuple[int, str]]
    contracts: list[tuple[int, str, str]]  # id, name, organization name


def filter_choices() -> FilterChoices:
    """The organizations and contracts the filters offer (one query)."""
    contracts = db.session.execute(
        select(Contract.id, Contract.name, Organization.id, Organization.name)
        .join(Organization, Organization.id == Contract.organization_id)
        .order_by(Organization.name, Contract.name, Contract.id)
    ).all()
    organizations = dict.fromkeys((org_id, org_name) for _, _, org_id, org_name in contracts)
    return FilterChoices(
        organizations=list(organizations),
        contracts=[(cid, name, org_name) for cid, name, _, org_name in contracts],
    )


def _date(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


EXPORT_COLUMNS: dict[str, Callable[[OrderRow], object]] = {
    "reference": lambda row: row.reference,
    "state": lambda row: row.state,
    "created": lambda row: _date(row.created_at),
    "fulfilled": lambda row: _date(row.fulfilled_at),
    "learner": lambda row: row.learner_name,
    "email": lambda row: row.learner_email,
    "organization": lambda row: row.organization_name,
    "contract": lambda row: row.contract_name,
    "list price": lambda row: row.list_price,
    "discount": lambda row: row.discount,
    "code": lambda row: row.code,
    "total": lambda row: row.total,
    "currency": lambda row: row.currency,
    "payment reference": lambda row: row.payment_reference,
    "paid": lambda row: _date(row.paid_at),
    "refund": lambda row: row.refund_state,
}
EXPORT_HEADER = list(EXPORT_COLUMNS)


def export_orders(flt: OrderFilter) -> Iterator[Sequence[object]]:
    """The CSV of ``flt``'s view, its export recorded in the audit log with the filter: the
    header, then one row per order, read ``EXPORT_CHUNK`` at a time through a streaming cursor
    so memory stays flat at any size."""
    record_event("orders.exported", "order", None, after=flt.args())
    return _export_rows(flt)


def _export_rows(flt: OrderFilter) -> Iterator[Sequence[object]]:
    yield EXPORT_HEADER
    query = _base(flt).execution_options(yield_per=EXPORT_CHUNK)
    for chunk in db.session.execute(query).partitions():
        for row in _rows(chunk):
            yield [value(row) for value in EXPORT_COLUMNS.values()]


@dataclass(frozen=True)
class OrderDetail:
    """One order for staff: its row, every payment response recorded for it, and the order
    itself (for the refund panel, ``staff.order_refunds``)."""

    order: Order
    row: OrderRow
    payments: list[Payment]


def _one(reference: str, user_id: int | None = None) -> OrderRow:
    query = _base(OrderFilter()).where(Order.reference == reference[:64])
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    found = _rows(db.session.execute(query).all())
    if not found:
        raise NotFound(_("No order has that reference."))
    return found[0]


def order_detail(reference: str) -> OrderDetail:
    row = _one(reference)
    order = db.session.get(Order, row.id)
    assert order is not None
    payments = db.session.scalars(
        select(Payment).where(Payment.order_id == row.id).order_by(Payment.id)
    )
    return OrderDetail(order=order, row=row, payments=list(payments))


# --------------------------------------------------------------------------- learners

LEARNER_STATES = {
    OrderState.PENDING.value: _l("Awaiting payment"),
    OrderState.FULFILLED.value: _l("Paid"),
    OrderState.DECLINED.value: _l("Payment declined"),
    OrderState.CANCELLED.value: _l("Cancelled"),
    OrderState.REFUNDED.value: _l("Refunded"),
}


def learner_state(row: OrderRow) -> str:
    """What the learner is told about an order's state, in words (their language)."""
    if row.state == OrderState.FULFILLED.value and not row.total:
        return _("No charge")
    if row.refund_due:
        return _("Paid, refund due")
    return str(LEARNER_STATES[row.state])


def learner_orders(
    user: User, page: int = 1, per_page: int = PER_PAGE, sort: Sort | None = None
) -> Page[OrderRow]:
    """The learner's own orders in ``sort``'s order (newest first by default), counted for the
    numbered pager."""
    sort = sort or ORDER_SORTING.read({})
    query = _base(OrderFilter()).order_by(None).where(Order.user_id == user.id)
    found = paginate(
        sort.order(query), max(1, page), per_page=per_page, count=True, key=Order.id, sort=sort
    )
    return replace(found, items=[_for_learner(row) for row in _rows(found.items)])


def receipt_for(user: User, reference: str) -> OrderRow:
    """One of the learner's orders with everything its receipt shows; another person's order
    (or none) is ``NotFound``, so references do not leak."""
    return _for_learner(_one(reference, user_id=user.id))


def _for_learner(row: OrderRow) -> OrderRow:
    # A refund CyberSource refused moved no money: it is staff's business, not the learner's.
    row.refunds = [r for r in row.refunds if r.state is not RefundState.FAILED]
    return row
