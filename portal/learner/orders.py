"""The learner's orders and a printable receipt of each (``services.order_listing``). Only the
order's own learner sees it: anyone else's reference is a 404, so references do not leak."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from portal.core.pagination import requested_page
from portal.learner.views import bp
from portal.services import order_listing

__all__ = ["bp"]


@bp.get("/orders")
def orders() -> str:
    page = order_listing.learner_orders(
        current_user,
        requested_page(request.args),
        sort=order_listing.ORDER_SORTING.read(request.args),
    )
    return render_template("learner/orders.html", orders=page, state_of=order_listing.learner_state)


@bp.get("/orders/<reference>/receipt")
def receipt(reference: str) -> str:
    row = order_listing.receipt_for(current_user, reference)
    return render_template(
        "learner/receipt.html", order=row, state=order_listing.learner_state(row)
    )
