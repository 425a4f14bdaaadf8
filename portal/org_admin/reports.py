"""Org admins' scheduled reports: subscribing to a weekly or monthly email about the organization,
changing or ending it, when the last one went (``services.report_subscriptions``); and the download
behind the link in each report email, which streams the learners CSV (``services.report_links``).
Every change is a POST with its CSRF token, audited by the service."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import RadioField, SelectChoice
from wtforms.validators import InputRequired

from portal.core.access import managed_organization_ids, org_admin_required
from portal.core.csv_export import csv_download
from portal.core.forms import PortalForm
from portal.core.text import lazy_gettext as _l
from portal.core.unit_of_work import refusals_redirect_to
from portal.models import Organization, ReportFrequency, ReportSubscription
from portal.org_admin.forms import ConfirmForm
from portal.org_admin.views import bp
from portal.services import learners as learner_service
from portal.services import report_subscriptions as reports_service
from portal.services.organization_contracts import organization_contracts
from portal.services.report_links import downloadable_report, link_days

Rendered = tuple[str, int] | str
FREQUENCY_CHOICES = [
    SelectChoice(
        ReportFrequency.WEEKLY.value, _l("Weekly, on Mondays: the previous week's numbers")
    ),
    SelectChoice(
        ReportFrequency.MONTHLY.value, _l("Monthly, on the 1st: the previous month's numbers")
    ),
]
# What a subscription change answers, by the service's outcome and the frequency chosen: each
# sentence whole, for translators (a frequency agrees with its noun in French).
OUTCOMES = {
    ("created", ReportFrequency.WEEKLY): _l(
        "Subscribed: your first weekly report comes with the next daily run."
    ),
    ("created", ReportFrequency.MONTHLY): _l(
        "Subscribed: your first monthly report comes with the next daily run."
    ),
    ("changed", ReportFrequency.WEEKLY): _l("Changed: your reports now come weekly."),
    ("changed", ReportFrequency.MONTHLY): _l("Changed: your reports now come monthly."),
    ("unchanged", ReportFrequency.WEEKLY): _l("Your reports already come weekly."),
    ("unchanged", ReportFrequency.MONTHLY): _l("Your reports already come monthly."),
}


class SubscriptionForm(PortalForm):
    frequency = RadioField(
        _l("How often"),
        [InputRequired(_l("Choose weekly or monthly."))],
        choices=FREQUENCY_CHOICES,
        default=ReportFrequency.WEEKLY.value,
    )


def _page(
    organization: Organization,
    subscription: ReportSubscription | None,
    form: SubscriptionForm | None = None,
) -> str:
    if form is None:
        form = SubscriptionForm(formdata=None)
        if subscription is not None:
            form.frequency.data = subscription.frequency.value
    return render_template(
        "org_admin/reports.html",
        organization=organization,
        subscription=subscription,
        form=form,
        unsubscribe_form=ConfirmForm(formdata=None),
        can_subscribe=organization.id in managed_organization_ids(current_user),
        link_days=link_days(),
    )


@bp.route("/<org_key>/reports", methods=["GET", "POST"])
@org_admin_required
@refusals_redirect_to("org_admin.reports")
def reports(organization: Organization) -> Rendered | Response:
    subscription = reports_service.subscription_of(organization, current_user)
    if request.method == "GET":
        return _page(organization, subscription)
    back = redirect(url_for("org_admin.reports", org_key=organization.key))
    if "unsubscribe" in request.form:
        if not ConfirmForm().validate_on_submit():
            return _page(organization, subscription), 400
        if reports_service.unsubscribe(organization, current_user):
            flash(
                _(
                    "Unsubscribed: no more scheduled reports about %(organization)s.",
                    organization=organization.name,
                ),
                "success",
            )
        else:
            flash(_("You had no scheduled report to unsubscribe from."), "info")
        return back
    form = SubscriptionForm()
    if not form.validate_on_submit():
        return _page(organization, subscription, form), 400
    frequency = ReportFrequency(form.frequency.data)
    _subscription, outcome = reports_service.subscribe(organization, current_user, frequency)
    flash(str(OUTCOMES[outcome, frequency]), "success")
    return back


@bp.get("/<org_key>/reports/download/<token>")
@org_admin_required
def report_download(organization: Organization, token: str) -> Response:
    """The learners CSV behind a report email's link, as the Learners page exports it (the
    export is audited there), for the subscriber only."""
    _, link = downloadable_report(organization, current_user, token)
    contracts = organization_contracts(organization)
    flt = learner_service.LearnerFilter()
    rows = learner_service.export_learners(organization, contracts, flt)
    return csv_download(rows, f"learners-{organization.key}-{link.period}.csv")


__all__ = ["report_download", "reports"]
