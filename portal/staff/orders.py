"""Staff's orders: every order, searchable and filtered in the URL (so a view can be shared), its
CSV, and one order's page with its lines, payments, refunds (``staff.order_refunds``) and links to
the learner, the contract and the audit trail (``services.order_listing``)."""

from __future__ import annotations

from flask import render_template, request
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.csv_export import csv_download
from portal.core.pagination import requested_page
from portal.models import utcnow
from portal.services import order_listing
from portal.staff.order_refunds import refund_panel
from portal.staff.views import bp

__all__ = ["bp"]

# Badge classes of portal.css for each order state.
STATE_BADGES = {
    "pending": "pending",
    "fulfilled": "succeeded",
    "declined": "failed",
    "cancelled": "cancelled",
    "refunded": "cancelled",
}


@bp.get("/orders")
@staff_required
def orders() -> str:
    flt = order_listing.OrderFilter.from_args(request.args)
    return render_template(
        "staff/orders/list.html",
        orders=order_listing.orders_page(
            flt, requested_page(request.args), sort=order_listing.ORDER_SORTING.read(request.args)
        ),
        flt=flt,
        choices=order_listing.filter_choices(),
        states=order_listing.STATES,
        badges=STATE_BADGES,
    )


@bp.get("/orders.csv")
@staff_required
def orders_csv() -> Response:
    flt = order_listing.OrderFilter.from_args(request.args)
    rows = order_listing.export_orders(flt)
    return csv_download(rows, f"orders-{utcnow():%Y%m%d}.csv")  # streams after the commit


@bp.get("/orders/<reference>")
@staff_required
def order_detail(reference: str) -> str:
    detail = order_listing.order_detail(reference)
    return render_template(
        "staff/orders/detail.html",
        order=detail.order,
        row=detail.row,
        payments=detail.payments,
        badges=STATE_BADGES,
        **refund_panel(detail.order),
    )
