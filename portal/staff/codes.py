"""Staff pages for a contract's enrollment codes: generate a batch (inline, or as a job with
progress when large), deactivate a code after a confirmation, and the streamed CSV export. The
codes section of the contract page is read by ``services.contract_overview``; keeping seat codes
in step with seats is ``services.seat_code_sync`` (over ``services.seat_codes``).
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.csv_export import csv_download
from portal.core.text import count_text, group_code, plural
from portal.core.unit_of_work import refusals_redirect_to
from portal.extensions import db
from portal.models import Contract, EnrollmentCode, RedemptionType
from portal.services import code_export, seat_codes
from portal.services import codes as code_service
from portal.services.audit import record_event
from portal.services.locks import lock_contract
from portal.services.seat_code_sync import queue_code_generation
from portal.staff.contract_forms import BatchForm, ConfirmForm
from portal.staff.refusals import Refused, Rendered, attempt, invalid_status, page
from portal.staff.views import bp

__all__ = ["bp"]

GENERATE_CONFLICT = "Generating the codes collided with another change; nothing was saved."


def _contract(contract_id: int) -> Contract:
    return db.session.get(Contract, contract_id) or abort(404)


def _generated(count: int, rtype: RedemptionType, discount: str | None) -> str:
    """What a batch made now: "Generated 3 one-time codes." ("... codes (20% off)." with a
    discount), one whole message per redemption type so a translator sees each sentence."""
    if rtype is RedemptionType.MULTI_USE:
        if discount:
            return plural(
                count,
                "Generated %(num)s multi-use code (%(discount)s).",
                "Generated %(num)s multi-use codes (%(discount)s).",
                discount=discount,
            )
        return plural(
            count, "Generated %(num)s multi-use code.", "Generated %(num)s multi-use codes."
        )
    if rtype is RedemptionType.ONE_PER_LEARNER:
        if discount:
            return plural(
                count,
                "Generated %(num)s one-per-learner code (%(discount)s).",
                "Generated %(num)s one-per-learner codes (%(discount)s).",
                discount=discount,
            )
        return plural(
            count,
            "Generated %(num)s one-per-learner code.",
            "Generated %(num)s one-per-learner codes.",
        )
    if discount:
        return plural(
            count,
            "Generated %(num)s one-time code (%(discount)s).",
            "Generated %(num)s one-time codes (%(discount)s).",
            discount=discount,
        )
    return plural(count, "Generated %(num)s one-time code.", "Generated %(num)s one-time codes.")


def _generate(contract: Contract, form: BatchForm) -> str:
    """Make the batch now, or start the job for a large one; returns what to tell the person."""
    args = (
        form.count.data,
        form.rtype,
        form.max_uses.data,
        form.activates_at.data,
        form.expires_at.data,
    )
    discount = code_service.Discount.checked(form.discount_percent.data, form.discount_amount.data)
    if form.count.data <= code_service.INLINE_MAX:
        code_service.generate_batch(contract, *args, discount=discount)
        return _generated(form.count.data, form.rtype, discount.describe())
    payload = code_service.batch_payload(contract, *args, discount=discount)
    job = queue_code_generation(contract, payload, form.count.data)
    return _(
        "Generating %(num)s codes (job #%(job)s); progress shows below.",
        num=count_text(form.count.data),
        job=job.id,
    )


@bp.route("/contracts/<int:contract_id>/codes/new", methods=["GET", "POST"])
@staff_required
def codes_generate(contract_id: int) -> Rendered | Response:
    contract = _contract(contract_id)
    form = BatchForm()
    if not form.validate_on_submit():
        return page("staff/codes/generate.html", invalid_status(form), contract=contract, form=form)
    message = attempt(
        form, lambda: _generate(contract, form), field=form.count, conflict=GENERATE_CONFLICT
    )
    if isinstance(message, Refused):
        return page("staff/codes/generate.html", message.status, contract=contract, form=form)
    flash(message, "success")
    return redirect(url_for("staff.contract_detail", contract_id=contract.id))


@bp.route("/contracts/<int:contract_id>/codes/<int:code_id>/deactivate", methods=["GET", "POST"])
@staff_required
@refusals_redirect_to("staff.contract_detail")
def code_deactivate(contract_id: int, code_id: int) -> Rendered | Response:
    contract = _contract(contract_id)
    code = db.session.get(EnrollmentCode, code_id)
    if code is None or code.contract_id != contract.id:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        replaced = (
            code.for_seat
            and code.times_redeemed == 0
            and seat_codes.seat_code_plan(contract).wants_codes
        )
        seat_codes.deactivate_code(lock_contract(contract.id), code.id)
        flash(
            _("Code %(code)s deactivated. A new seat code replaces it.", code=group_code(code.code))
            if replaced
            else _("Code %(code)s deactivated.", code=group_code(code.code)),
            "success",
        )
        return redirect(url_for("staff.contract_detail", contract_id=contract.id))
    return page(
        "staff/codes/confirm_deactivate.html",
        invalid_status(form),
        contract=contract,
        code=code,
        form=form,
    )


@bp.get("/contracts/<int:contract_id>/codes.csv")
@staff_required
def codes_export(contract_id: int) -> Response:
    """Every code with its redeem link, streamed row by row: memory stays flat at 100,000 codes."""
    contract = _contract(contract_id)
    record_event(
        "codes.exported", "contract", contract.id, organization_id=contract.organization_id
    )
    base_url = current_app.config["PORTAL"].public_base_url
    rows = code_export.iter_export_rows(contract, base_url)
    return csv_download(rows, f"codes-contract-{contract.id}.csv")
