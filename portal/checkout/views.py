"""Checkout pages and the two endpoints CyberSource posts to.

``receipt`` and ``notify`` are public and CSRF-exempt: the payment page posts them, cross-site, so the
learner's ``SameSite=Lax`` session cookie does not come along. Neither relies on a session: the order
is found from the *verified* response. ``receipt`` then redirects (GET, same site, with the session)
to the result page, which only the order's own learner may see.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.core.text import lazy_gettext as _l
from portal.core.unit_of_work import refusals_redirect_to
from portal.extensions import csrf, db
from portal.models import Contract, CourseRun, Order, OrderState, Organization
from portal.services.audit import record_enrollment_refusal
from portal.services.enrollment import enroll_runs
from portal.services.payments import (
    CheckoutState,
    Outcome,
    PaymentOutcome,
    checkout_fields,
    checkout_state,
    handle_response,
)

bp = Blueprint("checkout", __name__)

RECEIPT_REFUSED = _l(
    "We could not match this payment to an order we can accept, so it did not enroll you and "
    "nothing was changed. If you were charged, contact support with your order reference."
)
RECEIPT_FORGED = _l(
    "This payment response could not be verified, so nothing was changed. Go back to your order "
    "and try again."
)


def _own_order(reference: str) -> Order:
    """The signed-in learner's order; anyone else's (or none) is 404, so references don't leak."""
    order = db.session.scalar(select(Order).where(Order.reference == reference[:64]))
    if order is None or order.user_id != current_user.id:
        abort(404)
    return order


def _order_runs(order: Order) -> list[CourseRun]:
    return list(
        db.session.scalars(
            select(CourseRun).where(
                CourseRun.id.in_([line.course_run_id for line in order.lines if line.course_run_id])
            )
        )
    )


def _page(template: str, order: Order, **context: object) -> str:
    contract = db.session.get(Contract, order.contract_id)
    assert contract is not None
    runs = {run.id: run for run in _order_runs(order)}
    return render_template(
        template,
        order=order,
        contract=contract,
        organization=db.session.get(Organization, contract.organization_id),
        lines=[(line, runs.get(line.course_run_id or 0)) for line in order.lines],
        state=checkout_state(order),
        **context,
    )


@bp.get("/<reference>")
def show(reference: str) -> str:
    order = _own_order(reference)
    if checkout_state(order) is not CheckoutState.PAYABLE:
        return _page("checkout/show.html", order)
    pay_url, fields = checkout_fields(order)
    return _page("checkout/show.html", order, pay_url=pay_url, pay_fields=fields)


@bp.get("/<reference>/result")
def result(reference: str) -> str:
    return _page("checkout/result.html", _own_order(reference))


@bp.post("/<reference>/retry")
@refusals_redirect_to("checkout.show", on_refusal=record_enrollment_refusal)
def retry(reference: str) -> Response:
    """After a decline or cancel: the same runs again, through the same rules as Enroll (a refusal
    is recorded, as there, and shown on the order's page)."""
    order = _own_order(reference)
    if order.state not in (OrderState.DECLINED, OrderState.CANCELLED):
        return redirect(url_for("checkout.show", reference=order.reference))
    again = enroll_runs(current_user, order.contract_id, _order_runs(order))
    if again.needs_payment and again.order is not None:
        return redirect(url_for("checkout.show", reference=again.order.reference))
    if again.enrollments:
        flash(_("You're enrolled. It shows as enrolled in a moment."), "success")
    else:
        flash(_("You are already enrolled."), "info")
    return redirect(url_for("learner.dashboard"))


def _handled(channel: str) -> Outcome:
    """Verify and apply the posted response. A forged or refused one is answered 400, which rolls
    the request back: what was received and why it was refused is committed here first, so the
    audit log keeps it (the same record ``handle_response`` writes for an accepted one)."""
    outcome = handle_response(request.form, channel=channel)
    if outcome.status in (PaymentOutcome.FORGED, PaymentOutcome.REFUSED):
        db.session.commit()
    return outcome


@bp.post("/receipt")
@csrf.exempt
def receipt() -> Response:
    """The learner's browser, back from the payment page with the signed response."""
    outcome = _handled("return")
    if outcome.status is PaymentOutcome.FORGED:
        abort(400, description=str(RECEIPT_FORGED))
    if outcome.status is PaymentOutcome.REFUSED or outcome.order is None:
        abort(400, description=str(RECEIPT_REFUSED))
    return redirect(url_for("checkout.result", reference=outcome.order.reference), code=303)


@bp.post("/notify")
@csrf.exempt
def notify() -> Response:
    """CyberSource's server-to-server notification (the merchant POST URL): 200 "OK" once the message
    is handled, repeats included; 400 for a forged one, or a signed one we refused (unknown order,
    wrong amount), so it shows as failed in CyberSource's notification log."""
    outcome = _handled("notification")
    if outcome.status in (PaymentOutcome.FORGED, PaymentOutcome.REFUSED):
        return Response(outcome.status.value, status=400, mimetype="text/plain")
    return Response("OK", status=200, mimetype="text/plain")
