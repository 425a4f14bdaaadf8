"""The order pages (issue 16): staff's searchable, filtered, paged list of orders and its streamed
CSV, one order's page, and the learner's own orders with a printable receipt that nobody else sees.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.core import csv_export
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Contract,
    CourseRun,
    Order,
    OrderLine,
    OrderState,
    Organization,
    Payment,
    PaymentDecision,
    Refund,
    RefundAccess,
    RefundState,
    User,
    utcnow,
)
from portal.services import order_listing
from tests.support.factories import (
    CodeRedemptionFactory,
    ContractFactory,
    CourseRunFactory,
    EnrollmentCodeFactory,
    OrderFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.support.pages import inline_scripts
from tests.support.sessions import sign_in

PRICE = Decimal("149.00")


@dataclass
class Scene:
    """Acme's paid contract (149.00 per learner, two runs, a 20% code Ada redeemed) and Globex's
    (99.00); Ada's refunded order, Bob's pending one on Globex and Bob's fulfilled one on Acme's,
    oldest to newest."""

    acme: Organization
    globex: Organization
    paid: Contract
    other: Contract
    runs: list[CourseRun]
    ada: User
    bob: User
    refunded: Order
    pending: Order
    fulfilled: Order


def add_order(
    user: User,
    contract: Contract,
    runs: list[CourseRun],
    *,
    reference: str,
    state: OrderState = OrderState.FULFILLED,
    discount: Decimal = Decimal("0.00"),
    redemption_id: int | None = None,
    transaction_id: str | None = None,
    created_at: dt.datetime | None = None,
) -> Order:
    """An order as ``create_order`` writes it now: the first line carries the price and the
    discount, the other lines nothing; with ``transaction_id`` an accepted payment of its total."""
    price = contract.price_per_learner or Decimal("0.00")
    order = OrderFactory(
        reference=reference,
        user=user,
        contract=contract,
        total=price - discount,
        state=state,
        created_at=created_at or utcnow(),
        fulfilled_at=utcnow() if state in (OrderState.FULFILLED, OrderState.REFUNDED) else None,
    )
    for n, run in enumerate(runs):
        order.lines.append(
            OrderLine(
                course_run_id=run.id,
                unit_price=price if n == 0 else Decimal("0.00"),
                discount=discount if n == 0 else Decimal("0.00"),
                redemption_id=redemption_id if n == 0 else None,
            )
        )
    if transaction_id is not None:
        db.session.add(
            Payment(
                order_id=order.id,
                transaction_id=transaction_id,
                decision=PaymentDecision.ACCEPT,
                amount=order.total,
            )
        )
        db.session.flush()
    return order


def refund(order: Order, state: RefundState = RefundState.SUCCEEDED) -> Refund:
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    made = Refund(
        order_id=order.id,
        payment_id=payment.id,
        request_key=f"refund-{order.id}-{payment.id}-{state.value}",
        amount=payment.amount,
        access=RefundAccess.KEEP,
        reason="asked by the learner",
        state=state,
    )
    db.session.add(made)
    db.session.flush()
    return made


@pytest.fixture
def scene(db: Any) -> Scene:
    now = utcnow()
    acme = OrganizationFactory(name="Acme Corporation", key="ACME")
    globex = OrganizationFactory(name="Globex University", key="GLOBEX")
    paid = ContractFactory(organization=acme, name="Acme Data Academy", price_per_learner=PRICE)
    other = ContractFactory(
        organization=globex, name="Globex Seats", price_per_learner=Decimal("99.00")
    )
    runs = [
        CourseRunFactory(contract=paid, title="Data Science 101", course_key="course-v1:ACME+DS+1"),
        CourseRunFactory(contract=paid, title="Statistics 201", course_key="course-v1:ACME+ST+1"),
    ]
    globex_run = CourseRunFactory(contract=other, title="Globex Onboarding")
    ada = UserFactory(email="ada@acme.example", name="Ada Lovelace")
    bob = UserFactory(email="bob@globex.example", name="Bob Builder")
    code = EnrollmentCodeFactory(contract=paid, code="SPRING20", discount_percent=Decimal("20"))
    redemption = CodeRedemptionFactory(code=code, user=ada)
    refunded = add_order(
        ada,
        paid,
        runs,
        reference="B2B-ADA0001",
        state=OrderState.REFUNDED,
        discount=Decimal("29.80"),
        redemption_id=redemption.id,
        transaction_id="7000000000000000001",
        created_at=now - dt.timedelta(days=2),
    )
    refund(refunded)
    pending = add_order(
        bob,
        other,
        [globex_run],
        reference="B2B-BOB0002",
        state=OrderState.PENDING,
        created_at=now - dt.timedelta(days=1),
    )
    fulfilled = add_order(
        bob, paid, runs[:1], reference="B2B-BOB0003", transaction_id="7000000000000000003"
    )
    db.session.commit()
    return Scene(acme, globex, paid, other, runs, ada, bob, refunded, pending, fulfilled)


def listed(page: str) -> list[str]:
    """The order references a page lists, top to bottom."""
    return re.findall(r'<tr data-order="([^"]+)"', page)


def row_of(page: str, reference: str) -> str:
    start = page.index(f'<tr data-order="{reference}"')
    return page[start : page.index("</tr>", start)]


# ----------------------------------------------------------------------------- staff: the list


def test_the_staff_list_shows_every_order_newest_first_with_its_money(
    staff_client: FlaskClient, scene: Scene
) -> None:
    response = staff_client.get("/staff/orders")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert listed(page) == ["B2B-BOB0003", "B2B-BOB0002", "B2B-ADA0001"]
    assert 'data-total="3"' in page and "1\u20133 of 3 orders" in page
    ada = row_of(page, "B2B-ADA0001")
    for text in (
        "refunded",
        "Ada Lovelace",
        "ada@acme.example",
        "Acme Data Academy",
        "Acme Corporation",
        "149.00",
        "\u221229.80",
        "SPRING20",
        "20% off",
        "119.20 USD",
        "7000000000000000001",
        "refund succeeded",
        "/staff/orders/B2B-ADA0001",
    ):
        assert text in ada, text
    pending = row_of(page, "B2B-BOB0002")
    assert "pending" in pending and "Globex Seats" in pending and "Globex University" in pending
    assert "99.00 USD" in pending and "refund" not in pending
    assert "fulfilled " in row_of(page, "B2B-BOB0003")
    # the CSV link keeps the view
    filtered = staff_client.get(f"/staff/orders?state=fulfilled&contract={scene.paid.id}")
    assert (
        f'href="/staff/orders.csv?state=fulfilled&amp;contract={scene.paid.id}"'
        in filtered.get_data(as_text=True)
    )


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("b2b-ada0001", ["B2B-ADA0001"]),  # the reference, any case
        ("BOB0", ["B2B-BOB0003", "B2B-BOB0002"]),
        ("BOB@Globex", ["B2B-BOB0003", "B2B-BOB0002"]),  # the learner's email
        ("lovelace", ["B2B-ADA0001"]),  # the learner's name
        ("globex seats", ["B2B-BOB0002"]),  # the contract's name
        ("data academy", ["B2B-BOB0003", "B2B-ADA0001"]),
        ("0000000000003", ["B2B-BOB0003"]),  # the payment's transaction id
        (" spring-20 ", ["B2B-ADA0001"]),  # the code, as people type it
        ("%", []),  # wildcards are plain characters
        ("_", []),
        ("nobody at all", []),
    ],
)
def test_search_matches_each_field(
    staff_client: FlaskClient, scene: Scene, q: str, expected: list[str]
) -> None:
    response = staff_client.get("/staff/orders", query_string={"q": q})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert listed(page) == expected
    if not expected:
        assert "No orders match this view." in page


def test_filters_by_state_organization_and_contract(
    staff_client: FlaskClient, scene: Scene
) -> None:
    def refs(**args: Any) -> list[str]:
        response = staff_client.get("/staff/orders", query_string=args)
        assert response.status_code == 200
        return listed(response.get_data(as_text=True))

    assert refs(state="pending") == ["B2B-BOB0002"]
    assert refs(state="refunded") == ["B2B-ADA0001"]
    assert refs(state="declined") == []
    assert refs(organization=scene.acme.id) == ["B2B-BOB0003", "B2B-ADA0001"]
    assert refs(organization=scene.globex.id) == ["B2B-BOB0002"]
    assert refs(contract=scene.other.id) == ["B2B-BOB0002"]
    assert refs(contract=scene.paid.id, state="fulfilled") == ["B2B-BOB0003"]
    assert refs(organization=scene.globex.id, q="ada") == []
    assert refs(organization=scene.acme.id, q="bob") == ["B2B-BOB0003"]
    assert refs(contract=999_999) == []  # a contract that does not exist: nothing
    page = staff_client.get(
        "/staff/orders", query_string={"organization": scene.acme.id, "state": "pending"}
    ).get_data(as_text=True)
    assert f'<option value="{scene.acme.id}" selected>Acme Corporation</option>' in page
    assert '<option value="pending" selected>pending</option>' in page


def test_the_list_pages_and_the_pager_keeps_the_filters(
    staff_client: FlaskClient, scene: Scene, db: Any
) -> None:
    start = utcnow() - dt.timedelta(days=30)
    for n in range(55):
        add_order(
            scene.ada,
            scene.other,
            [],
            reference=f"B2B-PAGE{n:04d}",
            state=OrderState.PENDING,
            created_at=start + dt.timedelta(minutes=n),
        )
    db.session.commit()
    first = staff_client.get("/staff/orders?state=pending").get_data(as_text=True)
    assert len(listed(first)) == 50 and listed(first)[0] == "B2B-BOB0002"
    assert "1\u201350 of 56 orders" in first and "Page 1 of 2" in first
    assert 'href="/staff/orders?state=pending&amp;page=2"' in first
    second = staff_client.get("/staff/orders?state=pending&page=2").get_data(as_text=True)
    assert listed(second) == [f"B2B-PAGE{n:04d}" for n in range(5, -1, -1)]
    assert "51\u201356 of 56 orders" in second
    assert set(listed(first)).isdisjoint(listed(second))


@pytest.mark.parametrize(
    "query",
    [
        "page=abc",
        "page=-1",
        "page=0",
        "page=99999999999999999999",
        "page=100000",
        "page=%C2%B2",
        "q=" + "x" * 5000,
        "q=%27%20OR%201%3D1--",
        "organization=999999",
        "contract=99999999999999",
        "state=pending&state=nonsense",
    ],
)
def test_odd_query_strings_give_a_page(staff_client: FlaskClient, scene: Scene, query: str) -> None:
    response = staff_client.get(f"/staff/orders?{query}")
    assert response.status_code in (200, 400), response.status_code
    assert response.status_code == 200 or "choose" in response.get_data(as_text=True).lower()
    assert staff_client.get(f"/staff/orders.csv?{query}").status_code in (200, 400)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=nonsense", "Unknown order state &#39;nonsense&#39;; choose one of: pending"),
        ("organization=acme", "Choose an organization from the list"),
        ("contract=-5", "Choose a contract from the list"),
    ],
)
def test_a_filter_naming_nothing_is_refused_with_its_reason(
    staff_client: FlaskClient, scene: Scene, query: str, message: str
) -> None:
    for path in ("/staff/orders", "/staff/orders.csv"):
        response = staff_client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)


def test_a_page_past_the_end_is_empty(staff_client: FlaskClient, scene: Scene) -> None:
    page = staff_client.get("/staff/orders?page=100000").get_data(as_text=True)
    assert listed(page) == []
    assert "No orders match." in page


# ----------------------------------------------------------------------------- staff: the CSV


def csv_rows(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body)))


def test_the_csv_has_the_filtered_view_and_is_audited(
    staff_client: FlaskClient, scene: Scene, db: Any
) -> None:
    response = staff_client.get(f"/staff/orders.csv?organization={scene.acme.id}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.is_streamed
    assert 'attachment; filename="orders-' in response.headers["Content-Disposition"]
    rows = csv_rows(response.get_data(as_text=True))
    assert rows[0] == order_listing.EXPORT_HEADER
    assert [row[0] for row in rows[1:]] == ["B2B-BOB0003", "B2B-ADA0001"]
    ada = dict(zip(rows[0], rows[2], strict=True))
    assert ada["state"] == "refunded" and ada["email"] == "ada@acme.example"
    assert ada["learner"] == "Ada Lovelace" and ada["organization"] == "Acme Corporation"
    assert ada["contract"] == "Acme Data Academy"
    assert (ada["list price"], ada["discount"], ada["total"]) == ("149.00", "29.80", "119.20")
    assert ada["code"] == "SPRING20" and ada["currency"] == "USD"
    assert ada["payment reference"] == "7000000000000000001" and ada["refund"] == "succeeded"
    assert ada["created"].endswith(" UTC") and ada["paid"].endswith(" UTC")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "orders.exported"))
    assert event is not None and event.after == {"organization": scene.acme.id}


def test_the_csv_streams_every_row_in_chunks(
    staff_client: FlaskClient, scene: Scene, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = UserFactory(email="eve@example.com", name='=HYPERLINK("http://x")')
    for n in range(7):
        add_order(evil, scene.paid, scene.runs, reference=f"B2B-EVE{n:04d}", transaction_id=f"9{n}")
    db.session.commit()
    monkeypatch.setattr(order_listing, "EXPORT_CHUNK", 3)  # the cursor reads 3 rows at a time
    monkeypatch.setattr(csv_export, "CHUNK_ROWS", 2)  # and the response sends 2 per chunk
    response = staff_client.get("/staff/orders.csv")
    chunks = [bytes(chunk) for chunk in response.response]
    assert len(chunks) >= 5
    rows = csv_rows(b"".join(chunks).decode())
    assert len(rows) == 1 + 10
    assert [row[0] for row in rows[1:4]] == ["B2B-EVE0006", "B2B-EVE0005", "B2B-EVE0004"]
    eve = next(row for row in rows if row[0] == "B2B-EVE0003")
    assert eve[4] == '\'=HYPERLINK("http://x")'  # formula-safe
    assert eve[13] == "93"


# ----------------------------------------------------------------------------- staff: one order


def test_the_order_page_shows_lines_payments_refunds_and_links(
    staff_client: FlaskClient, scene: Scene
) -> None:
    response = staff_client.get("/staff/orders/B2B-ADA0001")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    lines = page[page.index('id="order-lines"') : page.index("</table>", page.index("order-lines"))]
    assert "Data Science 101" in lines and "course-v1:ACME+DS+1" in lines
    assert "Statistics 201" in lines and "\u221229.80" in lines and "119.20 USD" in lines
    assert "SPRING20" in page and "20% off" in page
    payments = page[page.index('id="order-payments"') :]
    assert "7000000000000000001" in payments and "ACCEPT" in payments
    assert 'id="refund-panel"' in page and "asked by the learner" in page
    assert f"/staff/audit?object_type=order&amp;object_id={scene.refunded.id}" in page
    assert "/staff/users?q=ada@acme.example" in page
    assert f"/staff/contracts/{scene.paid.id}" in page
    assert f"/staff/organizations/{scene.acme.id}" in page


def test_a_closed_order_waiting_for_a_refund_says_so(
    staff_client: FlaskClient, scene: Scene, client: FlaskClient
) -> None:
    order = db.session.get(Order, scene.pending.id)
    order.state = OrderState.CANCELLED
    order.close_reason = "the contract Globex Seats was deactivated"
    order.refund_reason = "paid after access ended: the contract Globex Seats was deactivated"
    order.refund_due_at = utcnow()
    db.session.add(
        Payment(
            order_id=order.id,
            transaction_id="7000000000000000002",
            decision=PaymentDecision.ACCEPT,
            amount=order.total,
        )
    )
    db.session.commit()
    listed_row = row_of(staff_client.get("/staff/orders").get_data(as_text=True), "B2B-BOB0002")
    assert "cancelled" in listed_row and "needs refund" in listed_row
    assert "7000000000000000002" in listed_row
    page = staff_client.get("/staff/orders/B2B-BOB0002").get_data(as_text=True)
    assert "Closed by the portal: the contract Globex Seats was deactivated" in page
    assert "Paid, needs refund: paid after access ended" in page
    assert 'href="/staff/refunds"' in page
    sign_in(client, scene.bob)
    mine = client.get("/learner/orders").get_data(as_text=True)
    assert "Paid, refund due" in row_of(mine, "B2B-BOB0002")
    assert "/checkout/B2B-BOB0002" not in mine


def test_the_order_pages_have_no_inline_scripts_or_styles(
    staff_client: FlaskClient, scene: Scene
) -> None:
    staff_pages = ["/staff/orders", "/staff/orders/B2B-ADA0001", "/staff/orders/B2B-BOB0002"]
    for path in staff_pages:
        body = staff_client.get(path).get_data(as_text=True)
        assert inline_scripts(body) == [] and "style=" not in body and "onclick" not in body, path
    sign_in(staff_client, scene.ada)
    for path in ["/learner/orders", "/learner/orders/B2B-ADA0001/receipt"]:
        body = staff_client.get(path).get_data(as_text=True)
        assert inline_scripts(body) == [] and "style=" not in body and "onclick" not in body, path


def test_an_unknown_order_is_404(staff_client: FlaskClient, scene: Scene) -> None:
    assert staff_client.get("/staff/orders/B2B-NOPE").status_code == 404
    assert staff_client.get("/staff/orders/" + "X" * 300).status_code == 404


# ----------------------------------------------------------------------------- who may see what


@pytest.mark.parametrize(
    "path", ["/staff/orders", "/staff/orders.csv", "/staff/orders/B2B-ADA0001"]
)
def test_staff_pages_are_for_staff_only(
    client: FlaskClient, scene: Scene, path: str, login_as: Callable[..., Any]
) -> None:
    anonymous = client.get(path)
    assert anonymous.status_code == 302 and anonymous.location.startswith("/auth/login")
    login_as(scene.ada)
    assert client.get(path).status_code == 403


def test_a_learner_sees_only_their_own_orders_and_receipts(
    client: FlaskClient, scene: Scene
) -> None:
    sign_in(client, scene.bob)
    page = client.get("/learner/orders").get_data(as_text=True)
    assert listed(page) == ["B2B-BOB0003", "B2B-BOB0002"]
    assert "/learner/orders/B2B-BOB0003/receipt" in page
    assert "/checkout/B2B-BOB0002" in page  # the pending one can still be paid
    assert "Awaiting payment" in row_of(page, "B2B-BOB0002")
    assert client.get("/learner/orders/B2B-BOB0003/receipt").status_code == 200
    assert client.get("/learner/orders/B2B-ADA0001/receipt").status_code == 404
    assert client.get("/learner/orders/B2B-NOPE/receipt").status_code == 404
    sign_in(client, scene.ada)
    assert listed(client.get("/learner/orders").get_data(as_text=True)) == ["B2B-ADA0001"]
    assert client.get("/learner/orders/B2B-BOB0003/receipt").status_code == 404


def test_learner_pages_need_sign_in(client: FlaskClient, scene: Scene) -> None:
    for path in ("/learner/orders", "/learner/orders/B2B-ADA0001/receipt"):
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/auth/login")


def test_the_receipt_is_printable_and_complete(client: FlaskClient, scene: Scene, db: Any) -> None:
    failed = refund(scene.refunded, RefundState.FAILED)
    db.session.commit()
    sign_in(client, scene.ada)
    response = client.get("/learner/orders/B2B-ADA0001/receipt")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/print.css" media="print">' in page
    assert "style=" not in page and inline_scripts(page) == []
    receipt = page[page.index('id="receipt"') :]
    for text in (
        "B2B Learning Portal",
        "Ada Lovelace",
        "ada@acme.example",
        "B2B-ADA0001",
        scene.refunded.created_at.strftime("%d %b %Y"),
        "Acme Data Academy",
        "Data Science 101",
        "Statistics 201",
        "149.00 USD",
        "\u221229.80 USD",
        "SPRING20",
        "20% off",
        "119.20 USD",
        "7000000000000000001",
        "Refunded",
    ):
        assert text in receipt, text
    refunds = page[page.index('id="receipt-refunds"') :]
    assert refunds.count("<tr>") == 1 + 1 and "refunded" in refunds  # the failed one moved nothing
    assert failed.id  # recorded, but not on the receipt
    with client.get("/static/print.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert ".site-header" in css.get_data(as_text=True)


@pytest.mark.parametrize("query", ["page=abc", "page=-1", "page=99999999999", "page=100000"])
def test_the_learner_list_takes_any_page_number(
    client: FlaskClient, scene: Scene, query: str
) -> None:
    sign_in(client, scene.bob)
    response = client.get(f"/learner/orders?{query}")
    assert response.status_code == 200


# ----------------------------------------------------------------------------- bounded statements


def grow(scene: Scene, db: Any, count: int) -> None:
    """``count`` more orders of Ada's, each with two lines, a code, a payment and a refund."""
    for n in range(count):
        code = EnrollmentCodeFactory(contract=scene.paid, discount_amount=Decimal("10.00"))
        redemption = CodeRedemptionFactory(code=code, user=UserFactory())
        order = add_order(
            scene.ada,
            scene.paid,
            scene.runs,
            reference=f"B2B-GROW{n:04d}",
            discount=Decimal("10.00"),
            redemption_id=redemption.id,
            transaction_id=f"8{n:06d}",
        )
        refund(order, RefundState.REQUESTED)
    db.session.commit()


def statements(client: FlaskClient, user: User, path: str, count_queries: Callable[[], Any]) -> int:
    sign_in(client, user)
    client.get(path)  # warm up
    sign_in(client, user)
    with count_queries() as counter:
        response = client.get(path)
    assert response.status_code == 200
    return int(counter.count)


def test_the_lists_run_the_same_statements_with_3_and_60_orders(
    client: FlaskClient,
    scene: Scene,
    db: Any,
    count_queries: Callable[[], Any],
) -> None:
    staff = UserFactory(staff=True)
    db.session.commit()
    paths = [
        (staff, "/staff/orders"),
        (staff, "/staff/orders?q=b2b"),
        (staff, f"/staff/orders?contract={scene.paid.id}&state=fulfilled"),
        (scene.ada, "/learner/orders"),
    ]
    small = [statements(client, user, path, count_queries) for user, path in paths]
    grow(scene, db, 57)
    assert db.session.scalar(select(func.count(Order.id))) == 60
    large = [statements(client, user, path, count_queries) for user, path in paths]
    assert small == large, (small, large)
    assert max(small) <= 10, small
    sign_in(client, scene.ada)
    assert len(listed(client.get("/learner/orders").get_data(as_text=True))) == 50
