"""Staff pages to renew a contract for its next term and to clone one as a template for another
(or the same) organization; the rules are in ``services.contract_renewal`` and
``services.contract_copies``.

Each is a form (the contract form, filled with the proposal), then a preview of everything that
will be created (for a renewal also who carries over, who does not fit and the codes deactivated),
then a confirmation that posts the same values back. A renewal's confirmation carries the
preview's fingerprint: if the seat holders, codes or courseware changed meanwhile nothing is
created and the new preview is shown. Refusals go beside the form; the unit of work rolls back.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import BooleanField, Field

from portal.core.access import staff_required
from portal.core.domain_errors import Conflict
from portal.core.text import count_text, plural
from portal.core.text import lazy_gettext as _l
from portal.core.unit_of_work import refusals_redirect_to
from portal.models import Contract
from portal.services import contract_copies as copies
from portal.services import contract_renewal as renewal
from portal.services.contract_overview import contract_with_organization
from portal.services.organization_overview import organizations_by_name
from portal.staff.contract_forms import ContractForm, slugify
from portal.staff.refusals import Refused, Rendered, attempt, invalid_status, page
from portal.staff.views import bp

RENEW = "staff/contracts/renew.html"
CLONE = "staff/contracts/clone.html"
SLUG_TAKEN = _l(
    "Another contract of this organization already uses this short name; choose another."
)
RENEWED_MEANWHILE = _l("Someone renewed this contract a moment ago; nothing was created.")
NOT_FORM_VALUES = ("csrf_token", "confirm", "fingerprint")


class RenewForm(ContractForm):
    """The new contract's values (the contract form, for the old one's organization) and the
    renewal's two choices."""

    carry_over = BooleanField(
        _l("Carry over the current seat holders"),
        description=_l(
            "Earliest claim first, as many as the new seat limit holds; the preview names "
            "who does not fit."
        ),
    )
    deactivate_old_codes = BooleanField(
        _l("Deactivate the old contract's unused codes"),
        description=_l(
            "Codes nobody used or was assigned stop working; used and assigned ones stay."
        ),
    )

    def __init__(self, *args: Any, contract: Contract, **kwargs: Any) -> None:
        super().__init__(*args, organizations=[contract.organization], **kwargs)
        delattr(self, "organization_id")


def _form_data(values: dict[str, Any], **extra: Any) -> dict[str, Any] | None:
    """The proposal as form data, for the first GET (a POST reads the posted values)."""
    if request.method != "GET":
        return None
    return {**values, "membership_type": values["membership_type"].value, **extra}


def _values(form: ContractForm, organization_id: int) -> dict[str, Any]:
    """The form's values; an empty short name is made from the name, free in the organization."""
    values = form.values()
    if not form.slug.data:
        values["slug"] = copies.free_slug(organization_id, slugify(values["name"]))
    return values


def _resubmit() -> list[tuple[str, str]]:
    """The posted values, for the confirmation form to post back as they are."""
    return [(k, v) for k, v in request.form.items(multi=True) if k not in NOT_FORM_VALUES]


def _renewal_conflict(exc: IntegrityError) -> tuple[Field | None, str]:
    return (None, RENEWED_MEANWHILE) if "renewed_from" in str(exc.orig) else (None, SLUG_TAKEN)


@bp.route("/contracts/<int:contract_id>/renew", methods=["GET", "POST"])
@staff_required
@refusals_redirect_to("staff.contract_detail")
def contract_renew(contract_id: int) -> Rendered | Response:
    """The next term's contract: form, preview, confirm."""
    contract = contract_with_organization(contract_id) or abort(404)
    if contract.renewal is not None:
        raise Conflict(
            _(
                "%(old)s was already renewed as %(new)s; a contract is renewed once.",
                old=contract.name,
                new=contract.renewal.name,
            )
        )
    data = _form_data(renewal.renewal_defaults(contract), carry_over=True)
    form = RenewForm(contract=contract, data=data)
    context: dict[str, Any] = {"contract": contract, "form": form, "preview": None}
    if not form.validate_on_submit():
        return page(RENEW, invalid_status(form), **context)
    values = _values(form, contract.organization_id)
    flags = {
        "carry_over": bool(form.carry_over.data),
        "deactivate_old_codes": bool(form.deactivate_old_codes.data),
    }
    preview = attempt(form, lambda: renewal.renewal_preview(contract.id, values, **flags))
    if isinstance(preview, Refused):
        return page(RENEW, preview.status, **context)
    context.update(preview=preview, resubmit=_resubmit())
    if request.form.get("confirm") != "1":
        return page(RENEW, **context)
    expect = request.form.get("fingerprint", "")
    created = attempt(
        form,
        lambda: renewal.renew_contract(contract.id, values, **flags, expect=expect),
        conflict=_renewal_conflict,
    )
    if isinstance(created, Refused):
        return page(RENEW, created.status, **context)
    flash(_renewed_message(preview, created), "success")
    return redirect(url_for("staff.contract_detail", contract_id=created.id))


def _renewed_message(preview: renewal.RenewalPreview, created: Contract) -> str:
    done = renewal.renewal_summary(created.id)
    parts = [_("%(old)s renewed as %(new)s.", old=preview.contract.name, new=created.name)]
    if preview.carry_over:
        carried, left_out = len(done["carried_over"]), len(done["left_out"])
        parts.append(
            plural(
                carried,
                "%(num)s seat holder carried over, %(left_out)s did not fit.",
                "%(num)s seat holders carried over, %(left_out)s did not fit.",
                left_out=count_text(left_out),
            )
        )
    if done["codes_deactivated"]:
        parts.append(
            plural(
                done["codes_deactivated"],
                "%(num)s unused code of the old contract stopped.",
                "%(num)s unused codes of the old contract stopped.",
            )
        )
    if done["runs"]:
        parts.append(being_created(len(done["runs"])))
    return " ".join(parts)


def being_created(runs: int) -> str:
    """The sentence a renewal or a clone ends with: its new runs are on their way."""
    return plural(
        runs,
        "%(num)s contract run is being created in edX.",
        "%(num)s contract runs are being created in edX.",
    )


class CloneForm(ContractForm):
    """The copy's organization and values (the contract form)."""


@bp.route("/contracts/<int:contract_id>/clone", methods=["GET", "POST"])
@staff_required
def contract_clone(contract_id: int) -> Rendered | Response:
    """A copy of the contract for an organization: form, preview, confirm."""
    source = contract_with_organization(contract_id) or abort(404)
    data = _form_data(copies.clone_defaults(source), organization_id=source.organization_id)
    form = CloneForm(organizations=organizations_by_name(), data=data)
    context: dict[str, Any] = {"contract": source, "form": form, "proposal": None}
    if not form.validate_on_submit():
        return page(CLONE, invalid_status(form), **context)
    org_id = int(form.organization_id.data)
    values = _values(form, org_id)
    proposal = attempt(form, lambda: copies.clone_preview(source.id, org_id, values))
    if isinstance(proposal, Refused):
        return page(CLONE, proposal.status, **context)
    context.update(proposal=proposal, resubmit=_resubmit())
    if request.form.get("confirm") != "1":
        return page(CLONE, **context)
    created = attempt(
        form,
        lambda: copies.clone_contract(source.id, org_id, values),
        conflict=lambda exc: (form.slug, SLUG_TAKEN),
    )
    if isinstance(created, Refused):
        return page(CLONE, created.status, **context)
    runs = len(proposal.courseware.courses)
    cloned = plural(
        runs,
        "%(old)s cloned as %(new)s for %(organization)s; %(num)s contract run is being created "
        "in edX.",
        "%(old)s cloned as %(new)s for %(organization)s; %(num)s contract runs are being created "
        "in edX.",
        old=source.name,
        new=created.name,
        organization=proposal.organization.name,
    )
    flash(cloned, "success")
    return redirect(url_for("staff.contract_detail", contract_id=created.id))
