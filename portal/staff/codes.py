"""Staff pages for a contract's enrollment codes: generate a batch (inline, or as a job with
progress when large), deactivate a code after a confirmation, search, and the streamed CSV export.

Also the codes and learners sections of the contract page, and ``sync_seat_codes``, which every
contract change that moves the seat count calls (b2b-rules section 5).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from portal.core.access import staff_required
from portal.core.domain_errors import DomainError
from portal.core.params import page_number
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import BackgroundJob, Contract, EnrollmentCode, Seat, User
from portal.services import codes as code_service
from portal.services.audit import record_event
from portal.services.contract_runs import lock_contract
from portal.staff.contract_forms import BatchForm, ConfirmForm
from portal.staff.views import bp

__all__ = ["bp", "codes_and_learners", "sync_seat_codes"]

PAGE_SIZE = 50
Rendered = tuple[str, int] | str


def _page(name: str) -> int:
    return page_number(request.args.get(name))


def _contract(contract_id: int) -> Contract:
    return db.session.get(Contract, contract_id) or abort(404)


def _queue_generation(contract: Contract, payload: dict[str, Any], count: int) -> BackgroundJob:
    job = record_job(
        JobKind.CODES_GENERATE,
        payload,
        object_type="contract",
        object_id=contract.id,
        organization_id=contract.organization_id,
    )
    record_event(
        "codes.generation_queued",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        after={"job": job.id, "count": count, "seats": bool(payload.get("seats"))},
    )
    return job


def sync_seat_codes(contract: Contract) -> list[str]:
    """Make the contract's seat codes match its seats: up to 1,000 new codes now, the rest by the
    ``codes.generate`` job. Returns messages for the person who made the change."""
    change = code_service.adjust_seat_codes(contract, add_limit=code_service.INLINE_MAX)
    notes = []
    if change.removed:
        notes.append(f"Removed {change.removed} unused seat code(s), newest first.")
    if change.closed:
        notes.append(f"Deactivated {change.closed} multi-use code(s): seats are limited now.")
    if change.unlimited_code:
        notes.append(
            f"Its single multi-use code is {change.unlimited_code}. Anyone who gets hold of it "
            "can join: hand it out carefully."
        )
    added = change.added - (1 if change.unlimited_code else 0)
    if added:
        notes.append(f"Added {added} one-time seat code(s).")
    if change.pending:
        job = _queue_generation(
            contract, {"contract_id": contract.id, "seats": True}, change.pending
        )
        notes.append(
            f"{change.pending} more seat code(s) are being generated (job #{job.id}); progress "
            "shows on the contract page."
        )
    return notes


def codes_and_learners(contract: Contract) -> dict[str, Any]:
    """The codes and learners sections of the contract page."""
    q = (request.args.get("q") or "").strip()[:320]
    codes_page = _page("codes_page")
    codes, codes_next = code_service.search_codes(contract, q, page=codes_page, per_page=PAGE_SIZE)
    learners_page = _page("learners_page")
    learners = db.session.execute(
        select(User.email, Seat.source, Seat.claimed_at)
        .join(User, User.id == Seat.user_id)
        .where(Seat.contract_id == contract.id, Seat.revoked_at.is_(None))
        .order_by(Seat.claimed_at.desc(), Seat.id.desc())
        .offset((learners_page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    code_jobs = db.session.scalars(
        select(BackgroundJob)
        .where(
            BackgroundJob.kind == JobKind.CODES_GENERATE,
            BackgroundJob.object_type == "contract",
            BackgroundJob.object_id == str(contract.id),
        )
        .order_by(BackgroundJob.id.desc())
        .limit(5)
    ).all()
    return {
        "code_counts": code_service.code_counts(contract),
        "codes": codes,
        "q": q,
        "codes_page": codes_page,
        "codes_next": codes_next,
        "learners": learners[:PAGE_SIZE],
        "learners_page": learners_page,
        "learners_next": len(learners) > PAGE_SIZE,
        "code_jobs": code_jobs,
        "batch_form": BatchForm(formdata=None),
    }


@bp.route("/contracts/<int:contract_id>/codes/new", methods=["GET", "POST"])
@staff_required
def codes_generate(contract_id: int) -> Rendered | Response:
    contract = _contract(contract_id)
    form = BatchForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        page = render_template("staff/codes/generate.html", contract=contract, form=form)
        return (page, status) if status != 200 else page
    args = (
        form.count.data,
        form.rtype,
        form.max_uses.data,
        form.activates_at.data,
        form.expires_at.data,
    )
    try:
        if form.count.data <= code_service.INLINE_MAX:
            code_service.generate_batch(contract, *args)
            message = f"Generated {form.count.data} {form.rtype.value.replace('_', '-')} code(s)."
        else:
            job = _queue_generation(
                contract, code_service.batch_payload(contract, *args), form.count.data
            )
            message = f"Generating {form.count.data:,} codes (job #{job.id}); progress shows below."
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        form.count.errors = [*form.count.errors, exc.message]
        return render_template("staff/codes/generate.html", contract=contract, form=form), 400
    except IntegrityError:
        db.session.rollback()
        flash("Generating the codes collided with another change; nothing was saved.", "error")
        return render_template("staff/codes/generate.html", contract=contract, form=form), 409
    flash(message, "success")
    return redirect(url_for("staff.contract_detail", contract_id=contract.id))


@bp.route("/contracts/<int:contract_id>/codes/<int:code_id>/deactivate", methods=["GET", "POST"])
@staff_required
def code_deactivate(contract_id: int, code_id: int) -> Rendered | Response:
    contract = _contract(contract_id)
    code = db.session.get(EnrollmentCode, code_id)
    if code is None or code.contract_id != contract.id:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            replaced = (
                code.for_seat
                and code.times_redeemed == 0
                and code_service.seat_code_plan(contract).wants_codes
            )
            code_service.deactivate_code(lock_contract(contract.id), code.id)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            note = " A new seat code replaces it." if replaced else ""
            flash(f"Code {code.code} deactivated.{note}", "success")
        return redirect(url_for("staff.contract_detail", contract_id=contract.id))
    page = render_template(
        "staff/codes/confirm_deactivate.html", contract=contract, code=code, form=form
    )
    return (page, 400) if form.is_submitted() else page


@bp.get("/contracts/<int:contract_id>/codes.csv")
@staff_required
def codes_export(contract_id: int) -> Response:
    """Every code with its redeem link, streamed row by row: memory stays flat at 100,000 codes."""
    contract = _contract(contract_id)
    record_event(
        "codes.exported", "contract", contract.id, organization_id=contract.organization_id
    )
    db.session.commit()
    base_url = current_app.config["PORTAL"].public_base_url

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for n, row in enumerate(code_service.iter_export_rows(contract, base_url), start=1):
            writer.writerow(row)
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    filename = f"codes-contract-{contract.id}.csv"
    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
