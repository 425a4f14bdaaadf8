"""Staff page "Paid, needs refund" (b2b-rules section 10): verified payments that enrolled nobody,
with the reason; staff refund one through CyberSource (``services.order_refunds``), mark it refunded
(refunded outside the portal) or grant the access by hand (``services.refunds``)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.forms import PortalForm
from portal.core.pagination import requested_page
from portal.core.unit_of_work import refusals_redirect_to
from portal.models import RefundAccess
from portal.services import order_refunds
from portal.services import refunds as refund_service
from portal.staff.contract_forms import ConfirmForm
from portal.staff.views import bp

__all__ = ["bp"]


@bp.get("/refunds")
@staff_required
def refunds() -> str:
    return render_template(
        "staff/refunds/list.html",
        orders=refund_service.refunds_page(
            requested_page(request.args), refund_service.REFUND_SORTING.read(request.args)
        ),
        form=PortalForm(),
    )


def _confirmed() -> bool:
    form = ConfirmForm()
    if form.validate_on_submit():
        return True
    flash(_("Tick the box to confirm."), "error")
    return False


@bp.post("/refunds/<reference>/refunded")
@staff_required
@refusals_redirect_to("staff.refunds")
def refund_mark(reference: str) -> Response:
    if _confirmed():
        order = refund_service.mark_refunded(reference)
        flash(_("Order %(reference)s is marked refunded.", reference=order.reference), "success")
    return redirect(url_for("staff.refunds"))


@bp.post("/refunds/<reference>/cybersource")
@staff_required
@refusals_redirect_to("staff.refunds")
def refund_cybersource(reference: str) -> Response:
    """Refund the payment that granted nothing through CyberSource; the order leaves the list
    once CyberSource accepts it. The learner's access is not touched (the payment bought none)."""
    if _confirmed():
        # The reason is recorded with the refund (and sent to CyberSource): English, as stored.
        reason = (request.form.get("reason") or "").strip() or "Paid, needs refund"
        refund = order_refunds.start_refund(
            reference,
            access=RefundAccess.KEEP,
            reason=reason[: order_refunds.MAX_REASON],
            actor_id=int(current_user.id),
            flagged_only=True,
        )
        amount = f"{refund.amount:.2f}"
        flash(
            _(
                "Refund of %(amount)s %(currency)s for order %(reference)s sent to CyberSource; "
                "the order leaves this list when CyberSource accepts it.",
                amount=amount,
                currency=refund.currency,
                reference=reference,
            ),
            "info",
        )
    return redirect(url_for("staff.refunds"))


@bp.post("/refunds/<reference>/grant")
@staff_required
@refusals_redirect_to("staff.refunds")
def refund_grant(reference: str) -> Response:
    if _confirmed():
        order = refund_service.grant_access(reference)
        flash(
            _(
                "Access granted for order %(reference)s: a staff seat and its enrollments "
                "(edX follows in a moment).",
                reference=order.reference,
            ),
            "success",
        )
    return redirect(url_for("staff.refunds"))
