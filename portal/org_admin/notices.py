"""Org admins' notices page: the admin's own "email me notices about this organization" choice,
the organization's "send reminders to invitees" switch, and the notices sent about the
organization, newest first. The change is a POST with its CSRF token, audited by
``services.notices.update_notice_settings``."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import BooleanField

from portal.core.access import org_admin_required
from portal.core.forms import PortalForm
from portal.core.pagination import requested_page
from portal.core.text import lazy_gettext as _l
from portal.i18n import in_words
from portal.models import Membership, NoticeKind, Organization
from portal.org_admin.views import bp
from portal.services import notices as notice_service
from portal.services.notice_listing import NOTICE_SORTING, sent_notices

LABELS = {
    NoticeKind.CONTRACT_ENDING: _l("Contract ending"),
    NoticeKind.CONTRACT_ENDED: _l("Contract ended"),
    NoticeKind.SEATS_USED: _l("Seats used"),
    NoticeKind.UNREDEEMED_DIGEST: _l("Codes not redeemed (weekly)"),
    NoticeKind.CODE_REMINDER: _l("Reminder to an invitee"),
    NoticeKind.SCHEDULED_REPORT: _l("Scheduled report"),
}


class NoticeSettingsForm(PortalForm):
    email_me = BooleanField(_l("Email me notices about this organization"))
    invite_reminders = BooleanField(_l("Send reminders to invitees"))


def _form(organization: Organization, membership: Membership | None) -> NoticeSettingsForm:
    """The form with the current choices (on a POST, what was submitted); without the personal
    choice for staff who are not one of the organization's admins."""
    form = NoticeSettingsForm(
        # Given explicitly: a POST with every box unticked (and no CSRF token, in tests) is
        # still what was submitted, not an empty form that falls back to the current choices.
        formdata=request.form if request.method == "POST" else None,
        data={
            "email_me": membership is not None and not membership.notices_opt_out,
            "invite_reminders": organization.invite_reminders,
        },
    )
    if membership is None:
        del form.email_me
    return form


def _page(
    organization: Organization, membership: Membership | None, form: NoticeSettingsForm
) -> str:
    settings = current_app.config["PORTAL"]
    return render_template(
        "org_admin/notices.html",
        organization=organization,
        membership=membership,
        form=form,
        page=sent_notices(
            organization, requested_page(request.args), NOTICE_SORTING.read(request.args)
        ),
        labels=LABELS,
        contract_days=in_words(
            reversed(notice_service.thresholds("contract_notice_days")), noun="day"
        ),
        seat_percents=in_words(notice_service.thresholds("seat_notice_percents"), "%"),
        reminder_days=in_words(notice_service.thresholds("code_reminder_days"), noun="day"),
        outbox=settings.captures_mail,
    )


@bp.route("/<org_key>/notices", methods=["GET", "POST"])
@org_admin_required
def notices(organization: Organization) -> Response | str | tuple[str, int]:
    membership = notice_service.admin_membership(organization, current_user)
    form = _form(organization, membership)
    if request.method == "GET":
        return _page(organization, membership, form)
    if not form.validate_on_submit():
        return _page(organization, membership, form), 400
    changes = notice_service.update_notice_settings(
        organization,
        current_user,
        email_me=None if membership is None else bool(form.email_me.data),
        invite_reminders=bool(form.invite_reminders.data),
    )
    if changes:
        flash(" ".join(changes), "success")
    else:
        flash(_("Nothing changed."), "info")
    return redirect(url_for("org_admin.notices", org_key=organization.key))


__all__ = ["NoticeSettingsForm", "notices"]
