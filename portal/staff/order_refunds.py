"""Staff refund an order through CyberSource (``services.order_refunds``): the refund panel on the
order's page (``refund_panel`` and ``templates/staff/orders/_refund.html``) and its form's POST."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import BooleanField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from portal.core.access import staff_required
from portal.core.forms import TEXT, PortalForm, strip
from portal.core.text import lazy_gettext as _l
from portal.core.unit_of_work import refusals_redirect_to
from portal.models import Order, Refund, RefundAccess, RefundState
from portal.services import order_refunds as refund_service
from portal.staff.views import bp

__all__ = ["RefundForm", "bp", "refund_panel"]

ACCESS_CHOICES = [
    SelectChoice(
        RefundAccess.REVOKE.value,
        _l("Revoke access: the learner's seat is revoked and the order's enrollments end"),
    ),
    SelectChoice(
        RefundAccess.KEEP.value,
        _l("Keep access: the seat and enrollments stay (a goodwill refund)"),
    ),
]
STATE_BADGES = {
    RefundState.REQUESTED: "pending",
    RefundState.SUCCEEDED: "succeeded",
    RefundState.FAILED: "failed",
}


class RefundForm(PortalForm):
    access = RadioField(
        _l("The learner's access"),
        [InputRequired(_l("Choose whether the learner keeps access."))],
        choices=ACCESS_CHOICES,
        default=RefundAccess.REVOKE.value,
    )
    reason = TextAreaField(
        _l("Reason"),
        [
            InputRequired(_l("Give a reason: it is recorded with the refund.")),
            Length(max=refund_service.MAX_REASON),
            *TEXT,
        ],
        filters=[strip],
        description=_l("Recorded in the audit log with the refund."),
    )
    confirm = BooleanField(
        _l("Yes, refund the full amount through CyberSource"),
        [DataRequired(_l("Tick the box to confirm."))],
    )


@dataclass(frozen=True)
class RefundRow:
    id: int
    state: str
    badge: str
    amount: str
    currency: str
    access: str
    reason: str
    provider_refund_id: str | None
    provider_status: str | None
    error: str | None
    requested_at: str
    finished_at: str | None


def _row(refund: Refund) -> RefundRow:
    return RefundRow(
        id=refund.id,
        state=refund.state.value,
        badge=STATE_BADGES[refund.state],
        amount=f"{refund.amount:.2f}",
        currency=refund.currency,
        access=refund.access.value,
        reason=refund.reason,
        provider_refund_id=refund.provider_refund_id,
        provider_status=refund.provider_status,
        error=refund.error,
        requested_at=refund.requested_at.strftime("%Y-%m-%d %H:%M"),
        finished_at=refund.finished_at.strftime("%Y-%m-%d %H:%M") if refund.finished_at else None,
    )


def refund_panel(order: Order) -> dict[str, object]:
    """The context of ``staff/orders/_refund.html`` for ``order``: its refunds (state, CyberSource's
    id and status, or the error), whether a refund can be started now (or why not), and the form.
    Every key starts with ``refund_`` so it can join any page's context."""
    plan = refund_service.refund_plan(order)
    form = RefundForm(formdata=None)
    if plan.keep_only:
        form.access.data = RefundAccess.KEEP.value
    return {
        "refund_order_reference": order.reference,
        "refund_rows": [_row(refund) for refund in refund_service.order_refunds(order)],
        "refund_can_start": plan.possible,
        "refund_refusal": plan.refusal,
        "refund_keep_only": plan.keep_only,
        "refund_amount": f"{plan.payment.amount:.2f}" if plan.payment is not None else None,
        "refund_currency": plan.payment.currency if plan.payment is not None else order.currency,
        "refund_form": form,
        "refund_action": url_for("staff.order_refund", reference=order.reference),
    }


def _flash_errors(form: RefundForm) -> None:
    for field in (form.access, form.reason, form.confirm):
        for error in field.errors:
            flash(_("%(field)s: %(error)s", field=field.label.text, error=error), "error")


def _back(reference: str) -> Response:
    return redirect(url_for("staff.order_detail", reference=reference))


@bp.post("/orders/<reference>/refund")
@staff_required
@refusals_redirect_to("staff.order_detail")
def order_refund(reference: str) -> Response:
    """Start a full refund of the order (``services.order_refunds.start_refund``)."""
    if not refund_service.order_exists(reference):
        abort(404)
    form = RefundForm()
    if not form.validate_on_submit():
        _flash_errors(form)
        return _back(reference)
    refund = refund_service.start_refund(
        reference,
        access=RefundAccess(form.access.data),
        reason=form.reason.data or "",
        actor_id=int(current_user.id),
    )
    flash(
        _(
            "Refund of %(amount)s %(currency)s sent to CyberSource; its result shows on this page "
            "in a moment.",
            amount=f"{refund.amount:.2f}",
            currency=refund.currency,
        ),
        "info",
    )
    return _back(reference)
