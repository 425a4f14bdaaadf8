"""Staff pages for organizations, their logos, their Keycloak link and their members.

Views are thin: validate the form, call ``services.organizations`` (which audits every change with
before/after), flash, redirect; the request's unit of work commits. A refusal, or a conflict only
the database can see (a key taken meanwhile), writes nothing and comes back beside the field.
What the pages list is read by ``services.organization_overview``. Deactivating an
organization, removing a logo and removing a member go through a confirmation page (GET) that
states the impact and changes nothing; only its POST acts.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import Field

from portal.core.access import staff_required
from portal.core.forms import PortalForm
from portal.core.pagination import requested_page
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import Membership, Organization
from portal.services import organization_logos as logos
from portal.services import organization_members as members
from portal.services import organizations as service
from portal.services.jobs import start_job
from portal.services.organization_overview import find_membership, organization_page
from portal.services.staff_listing import ORGANIZATION_SORTING, organizations_page
from portal.staff.organization_forms import (
    LinkKeycloakForm,
    LogoForm,
    MemberForm,
    OrganizationForm,
)
from portal.staff.refusals import ConflictRule, Refused, Rendered, attempt, invalid_status, page
from portal.staff.views import bp, flash_queued

__all__ = ["bp"]


# --------------------------------------------------------------------------- helpers


def _organization(org_id: int) -> Organization:
    return db.session.get(Organization, org_id) or abort(404)


def _membership(org: Organization, user_id: int) -> Membership:
    return find_membership(org, user_id) or abort(404)


def _taken(form: OrganizationForm) -> ConflictRule:
    def rule(exc: IntegrityError) -> tuple[Field, str]:
        if "keycloak_alias" in str(exc.orig):
            return form.keycloak_alias, _("Another organization already uses this Keycloak alias.")
        return form.key, _("Another organization already uses this short key.")

    return rule


def _form_page(form: PortalForm, heading: str, *, status: int = 200, **context: Any) -> Rendered:
    return page("staff/organizations/form.html", status, form=form, heading=heading, **context)


def _detail(org_id: int) -> Response:
    return redirect(url_for("staff.organization_detail", org_id=org_id))


# --------------------------------------------------------------------------- list, create, edit


@bp.get("/organizations")
@staff_required
def organizations() -> str:
    q = (request.args.get("q") or "").strip()[:200]
    rows = organizations_page(
        q, requested_page(request.args), ORGANIZATION_SORTING.read(request.args)
    )
    return render_template("staff/organizations/list.html", rows=rows, q=q)


def _save(form: OrganizationForm, org: Organization, heading: str) -> Rendered | Response:
    """Validate and save; errors (including a key or alias taken meanwhile) go beside their
    field and nothing is written."""
    context = {"organization": org} if org.id else {}
    if not form.validate_on_submit():
        return _form_page(form, heading, status=invalid_status(form), **context)
    creating = org.id is None
    saved = attempt(
        form,
        lambda: service.save_organization(org, form.values()),
        field=form.key,
        conflict=_taken(form),
    )
    if isinstance(saved, Refused):
        return _form_page(form, heading, status=saved.status, **context)
    if creating:
        flash(_("Organization %(name)s (%(key)s) created.", name=org.name, key=org.key), "success")
    else:
        flash(_("Organization %(name)s (%(key)s) saved.", name=org.name, key=org.key), "success")
    return _detail(org.id)


@bp.route("/organizations/new", methods=["GET", "POST"])
@staff_required
def organization_new() -> Rendered | Response:
    return _save(OrganizationForm(), Organization(), _("New organization"))


@bp.route("/organizations/<int:org_id>/edit", methods=["GET", "POST"])
@staff_required
def organization_edit(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    form = OrganizationForm(organization=org, key_locked=service.key_locked(org))
    return _save(form, org, _("Edit %(name)s", name=org.name))


# --------------------------------------------------------------------------- detail and members


def _detail_page(org: Organization, member_form: MemberForm, status: int = 200) -> Rendered:
    shown = organization_page(org, requested_page(request.args))
    return page(
        "staff/organizations/detail.html",
        status,
        org=org,
        members=shown.members,
        member_form=member_form,
        jobs=shown.jobs,
        contracts=shown.contracts,
        outcomes=shown.outcomes,
        all_outcomes=shown.all_outcomes,
        key_locked=service.key_locked(org),
    )


@bp.get("/organizations/<int:org_id>")
@staff_required
def organization_detail(org_id: int) -> Rendered:
    return _detail_page(_organization(org_id), MemberForm())


@bp.post("/organizations/<int:org_id>/members")
@staff_required
def organization_member_add(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    form = MemberForm()
    if not form.validate_on_submit():
        return _detail_page(org, form, 400)
    membership = attempt(
        form,
        lambda: members.add_member(org, form.email.data, is_manager=bool(form.is_manager.data)),
        field=form.email,
        conflict=_("Someone added this person at the same moment; nothing was saved."),
    )
    if isinstance(membership, Refused):
        return _detail_page(org, form, membership.status)
    who = {"email": membership.user.email, "organization": org.name}
    if org.keycloak_id:
        flash(
            _(
                "%(email)s is now a member of %(organization)s and is being added in Keycloak.",
                **who,
            ),
            "success",
        )
    else:
        flash(_("%(email)s is now a member of %(organization)s.", **who), "success")
    return _detail(org.id)


@bp.route("/organizations/<int:org_id>/members/<int:user_id>/remove", methods=["GET", "POST"])
@staff_required
def organization_member_remove(org_id: int, user_id: int) -> Rendered | Response:
    org = _organization(org_id)
    membership = _membership(org, user_id)
    email = membership.user.email
    if request.method == "GET":
        impact = members.member_removal_impact(membership)
        return render_template(
            "staff/organizations/confirm_member_remove.html",
            org=org,
            membership=membership,
            impact=impact,
        )
    members.remove_member(membership)
    who = {"email": email, "organization": org.name}
    if org.keycloak_id:
        message = _(
            "%(email)s is no longer a member of %(organization)s; they are being removed in "
            "Keycloak too.",
            **who,
        )
    else:
        message = _("%(email)s is no longer a member of %(organization)s.", **who)
    flash(message, "success")
    return _detail(org.id)


@bp.post("/organizations/<int:org_id>/members/<int:user_id>/admin")
@staff_required
def organization_member_admin(org_id: int, user_id: int) -> Response:
    org = _organization(org_id)
    membership = _membership(org, user_id)
    choice = request.form.get("is_manager", "")
    if choice not in ("1", "0"):
        flash(_("Choose whether this member is an org admin."), "error")
        return _detail(org.id)
    who = {"email": membership.user.email, "organization": org.name}
    changed = members.set_manager(membership, choice == "1")
    if changed and choice == "1":
        flash(_("%(email)s is now an org admin of %(organization)s.", **who), "success")
    elif changed:
        flash(_("%(email)s is no longer an org admin of %(organization)s.", **who), "success")
    return _detail(org.id)


# --------------------------------------------------------------------------- (de)activation


@bp.route("/organizations/<int:org_id>/deactivate", methods=["GET", "POST"])
@staff_required
def organization_deactivate(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    if not org.active:
        flash(_("%(name)s is already inactive.", name=org.name), "info")
        return _detail(org.id)
    if request.method == "GET":
        impact = service.deactivation_impact(org)
        return render_template(
            "staff/organizations/confirm_deactivate.html", org=org, impact=impact
        )
    service.set_active(org, False)
    flash(
        _("%(name)s is inactive: its learners can no longer use its contracts.", name=org.name),
        "success",
    )
    return _detail(org.id)


@bp.post("/organizations/<int:org_id>/reactivate")
@staff_required
def organization_reactivate(org_id: int) -> Response:
    org = _organization(org_id)
    service.set_active(org, True)
    flash(_("%(name)s is active again.", name=org.name), "success")
    return _detail(org.id)


# --------------------------------------------------------------------------- logo


@bp.route("/organizations/<int:org_id>/logo", methods=["GET", "POST"])
@staff_required
def organization_logo(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    form = LogoForm()
    heading = _("Logo of %(name)s", name=org.name)
    if not form.validate_on_submit():
        return _form_page(
            form, heading, status=invalid_status(form), organization=org, submit=_("Upload")
        )
    upload = form.logo.data
    try:
        data = upload.stream.read(logos.LOGO_MAX_BYTES + 1)
    finally:
        upload.close()  # a large upload is a temporary file: release it now, not at GC
    saved = attempt(form, lambda: logos.set_logo(org, data), field=form.logo)
    if isinstance(saved, Refused):
        return _form_page(form, heading, status=saved.status, organization=org, submit=_("Upload"))
    flash(_("New logo saved for %(name)s.", name=org.name), "success")
    return _detail(org.id)


@bp.route("/organizations/<int:org_id>/logo/remove", methods=["GET", "POST"])
@staff_required
def organization_logo_remove(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    if not org.logo_content_type:
        flash(_("%(name)s has no logo.", name=org.name), "info")
        return _detail(org.id)
    if request.method == "GET":
        return render_template("staff/organizations/confirm_logo_remove.html", org=org)
    logos.remove_logo(org)
    flash(_("Logo of %(name)s removed.", name=org.name), "success")
    return _detail(org.id)


# --------------------------------------------------------------------------- Keycloak


@bp.post("/keycloak/pull")
@staff_required
def pull_organizations() -> Response:
    flash_queued(
        start_job(JobKind.KEYCLOAK_PULL_ORGANIZATIONS), _("Pulling organizations from Keycloak")
    )
    return redirect(url_for("staff.organizations"))


def _start_org_job(org: Organization, kind: JobKind, doing: str) -> Response:
    """Start a Keycloak job about ``org`` (audited through ``start_job``) and say so."""
    job = start_job(
        kind, {"organization_id": org.id}, about=("organization", org.id), organization_id=org.id
    )
    flash_queued(job, doing)
    return _detail(org.id)


@bp.post("/organizations/<int:org_id>/keycloak")
@staff_required
def create_in_keycloak(org_id: int) -> Response:
    org = _organization(org_id)
    if org.keycloak_id:
        flash(_("%(name)s is already linked to Keycloak.", name=org.name), "info")
        return _detail(org.id)
    return _start_org_job(
        org, JobKind.KEYCLOAK_CREATE_ORGANIZATION, _("Creating %(name)s in Keycloak", name=org.name)
    )


@bp.post("/organizations/<int:org_id>/keycloak/resync")
@staff_required
def resync_organization(org_id: int) -> Response:
    """Re-read the organization's members (with their membershipType) and linked identity
    providers from Keycloak, in a job, and reconcile every membership."""
    org = _organization(org_id)
    if not org.keycloak_id:
        flash(_("%(name)s is not linked to Keycloak; link it first.", name=org.name), "info")
        return _detail(org.id)
    return _start_org_job(
        org,
        JobKind.KEYCLOAK_RESYNC_ORGANIZATION,
        _("Re-syncing %(name)s's members from Keycloak", name=org.name),
    )


@bp.route("/organizations/<int:org_id>/keycloak/link", methods=["GET", "POST"])
@staff_required
def organization_link_keycloak(org_id: int) -> Rendered | Response:
    """Link to an existing Keycloak organization by alias; a job looks it up (Keycloak may be
    slow or down, and the job retries)."""
    org = _organization(org_id)
    form = LinkKeycloakForm()
    heading = _("Link %(name)s to a Keycloak organization", name=org.name)
    if org.keycloak_id:
        flash(
            _(
                "%(name)s is already linked to Keycloak (%(alias)s).",
                name=org.name,
                alias=org.keycloak_alias,
            ),
            "info",
        )
        return _detail(org.id)
    if not form.is_submitted():
        form.alias.data = service.alias_for(org)
    if not form.validate_on_submit():
        return _form_page(
            form, heading, status=invalid_status(form), organization=org, submit=_("Link")
        )
    job = attempt(
        form, lambda: service.request_keycloak_link(org, form.alias.data), field=form.alias
    )
    if isinstance(job, Refused):
        return _form_page(form, heading, status=job.status, organization=org, submit=_("Link"))
    flash(
        _(
            "Looking up %(alias)s in Keycloak to link it (job #%(job)s); its state shows on this "
            "page.",
            alias=form.alias.data,
            job=job.id,
        ),
        "info",
    )
    return _detail(org.id)
