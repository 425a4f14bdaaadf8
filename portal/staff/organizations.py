"""Staff pages for organizations, their logos, their Keycloak link and their members.

Views are thin: validate the form, call ``services.organizations`` (which audits every change with
before/after), commit once, flash, redirect. A conflict only the database can see (a key taken
meanwhile) rolls everything back and comes back as an error beside the field. Deactivating an
organization, removing a logo and removing a member go through a confirmation page (GET) that
states the impact and changes nothing; only its POST acts.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response
from wtforms import Field

from portal.core.access import staff_required
from portal.core.domain_errors import DomainError
from portal.core.forms import PortalForm
from portal.core.params import page_number
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import BackgroundJob, Membership, Organization, User
from portal.services import organizations as service
from portal.services.audit import record_event
from portal.staff.organization_forms import (
    LinkKeycloakForm,
    LogoForm,
    MemberForm,
    OrganizationForm,
)
from portal.staff.views import bp

__all__ = ["bp"]

PAGE_SIZE = 50
Rendered = tuple[str, int] | str


# --------------------------------------------------------------------------- helpers


def _organization(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        abort(404)
    return org


def _membership(org: Organization, user_id: int) -> Membership:
    membership = db.session.scalar(
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.organization_id == org.id, Membership.user_id == user_id)
    )
    if membership is None:
        abort(404)
    return membership


def _page() -> int:
    return page_number(request.args.get("page"))


def _add_error(field: Field, message: str) -> None:
    field.errors = [*field.errors, message]


def _conflict(form: OrganizationForm, exc: IntegrityError) -> None:
    if "keycloak_alias" in str(exc.orig):
        _add_error(form.keycloak_alias, "Another organization already uses this Keycloak alias.")
    else:
        _add_error(form.key, "Another organization already uses this short key.")


def _status(form: PortalForm) -> int:
    return 400 if form.is_submitted() else 200


def _form_page(form: PortalForm, heading: str, *, status: int = 200, **context: Any) -> Rendered:
    page = render_template("staff/organizations/form.html", form=form, heading=heading, **context)
    return (page, status) if status != 200 else page


def _detail(org_id: int) -> Response:
    return redirect(url_for("staff.organization_detail", org_id=org_id))


def _queue(org: Organization | None, kind: str, payload: dict[str, int], message: str) -> None:
    where: dict[str, Any] = {}
    if org is not None:
        where = {"object_type": "organization", "object_id": org.id, "organization_id": org.id}
    job = record_job(kind, payload, **where)
    record_event(
        "job.queued",
        "background_job",
        job.id,
        organization_id=org.id if org else None,
        after={"kind": kind, **payload},
    )
    db.session.commit()
    flash(f"{message} (job #{job.id}); its state shows under Recent background jobs.", "info")


# --------------------------------------------------------------------------- list, create, edit


@bp.get("/organizations")
@staff_required
def organizations() -> str:
    q = (request.args.get("q") or "").strip()[:200]
    page = _page()
    members = (
        select(Membership.organization_id, func.count(Membership.id).label("members"))
        .group_by(Membership.organization_id)
        .subquery()
    )
    query = (
        select(Organization, func.coalesce(members.c.members, 0))
        .outerjoin(members, members.c.organization_id == Organization.id)
        .order_by(Organization.name, Organization.id)
    )
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        query = query.where(
            or_(
                Organization.name.ilike(like, escape="\\"),
                Organization.key.ilike(like, escape="\\"),
            )
        )
    rows = db.session.execute(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return render_template(
        "staff/organizations/list.html",
        rows=rows[:PAGE_SIZE],
        q=q,
        page=page,
        has_next=len(rows) > PAGE_SIZE,
    )


def _save(form: OrganizationForm, org: Organization, heading: str) -> Rendered | Response:
    """Validate, save and commit; errors (including a key or alias taken meanwhile) go beside
    their field and nothing is written."""
    context = {"organization": org} if org.id else {}
    if not form.validate_on_submit():
        return _form_page(form, heading, status=_status(form), **context)
    creating = org.id is None
    try:
        service.save_organization(org, form.values())
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _add_error(form.key, exc.message)
        return _form_page(form, heading, status=400, **context)
    except IntegrityError as exc:
        db.session.rollback()
        _conflict(form, exc)
        return _form_page(form, heading, status=409, **context)
    flash(f"Organization {org.name} ({org.key}) {'created' if creating else 'saved'}.", "success")
    return _detail(org.id)


@bp.route("/organizations/new", methods=["GET", "POST"])
@staff_required
def organization_new() -> Rendered | Response:
    return _save(OrganizationForm(), Organization(), "New organization")


@bp.route("/organizations/<int:org_id>/edit", methods=["GET", "POST"])
@staff_required
def organization_edit(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    form = OrganizationForm(organization=org, key_locked=service.key_locked(org))
    return _save(form, org, f"Edit {org.name}")


# --------------------------------------------------------------------------- detail and members


def _detail_page(org: Organization, member_form: MemberForm, status: int = 200) -> Rendered:
    page = _page()
    members = db.session.scalars(
        select(Membership)
        .join(User, Membership.user_id == User.id)
        .options(joinedload(Membership.user))
        .where(Membership.organization_id == org.id)
        .order_by(User.email)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    jobs = db.session.scalars(
        select(BackgroundJob)
        .where(BackgroundJob.organization_id == org.id, BackgroundJob.kind.like("keycloak.%"))
        .order_by(BackgroundJob.id.desc())
        .limit(5)
    ).all()
    body = render_template(
        "staff/organizations/detail.html",
        org=org,
        members=members[:PAGE_SIZE],
        page=page,
        has_next=len(members) > PAGE_SIZE,
        member_form=member_form,
        jobs=jobs,
        key_locked=service.key_locked(org),
    )
    return (body, status) if status != 200 else body


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
    try:
        membership = service.add_member(org, form.email.data, is_manager=bool(form.is_manager.data))
        email = membership.user.email
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _add_error(form.email, exc.message)
        return _detail_page(org, form, exc.status)
    except IntegrityError:
        db.session.rollback()
        _add_error(form.email, "Someone added this person at the same moment; nothing was saved.")
        return _detail_page(org, form, 409)
    pushed = " and is being added in Keycloak" if org.keycloak_id else ""
    flash(f"{email} is now a member of {org.name}{pushed}.", "success")
    return _detail(org.id)


@bp.route("/organizations/<int:org_id>/members/<int:user_id>/remove", methods=["GET", "POST"])
@staff_required
def organization_member_remove(org_id: int, user_id: int) -> Rendered | Response:
    org = _organization(org_id)
    membership = _membership(org, user_id)
    email = membership.user.email
    if request.method == "GET":
        impact = service.member_removal_impact(membership)
        return render_template(
            "staff/organizations/confirm_member_remove.html",
            org=org,
            membership=membership,
            impact=impact,
        )
    service.remove_member(membership)
    db.session.commit()
    pushed = "; they are being removed in Keycloak too" if org.keycloak_id else ""
    flash(f"{email} is no longer a member of {org.name}{pushed}.", "success")
    return _detail(org.id)


@bp.post("/organizations/<int:org_id>/members/<int:user_id>/admin")
@staff_required
def organization_member_admin(org_id: int, user_id: int) -> Response:
    org = _organization(org_id)
    membership = _membership(org, user_id)
    choice = request.form.get("is_manager", "")
    if choice not in ("1", "0"):
        flash("Choose whether this member is an org admin.", "error")
        return _detail(org.id)
    email = membership.user.email
    changed = service.set_manager(membership, choice == "1")
    db.session.commit()
    if changed:
        state = "is now an org admin" if choice == "1" else "is no longer an org admin"
        flash(f"{email} {state} of {org.name}.", "success")
    return _detail(org.id)


# --------------------------------------------------------------------------- (de)activation


@bp.route("/organizations/<int:org_id>/deactivate", methods=["GET", "POST"])
@staff_required
def organization_deactivate(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    if not org.active:
        flash(f"{org.name} is already inactive.", "info")
        return _detail(org.id)
    if request.method == "GET":
        impact = service.deactivation_impact(org)
        return render_template(
            "staff/organizations/confirm_deactivate.html", org=org, impact=impact
        )
    service.set_active(org, False)
    db.session.commit()
    flash(f"{org.name} is inactive: its learners can no longer use its contracts.", "success")
    return _detail(org.id)


@bp.post("/organizations/<int:org_id>/reactivate")
@staff_required
def organization_reactivate(org_id: int) -> Response:
    org = _organization(org_id)
    service.set_active(org, True)
    db.session.commit()
    flash(f"{org.name} is active again.", "success")
    return _detail(org.id)


# --------------------------------------------------------------------------- logo


@bp.route("/organizations/<int:org_id>/logo", methods=["GET", "POST"])
@staff_required
def organization_logo(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    form = LogoForm()
    heading = f"Logo of {org.name}"
    if not form.validate_on_submit():
        return _form_page(form, heading, status=_status(form), organization=org, submit="Upload")
    upload = form.logo.data
    try:
        data = upload.stream.read(service.LOGO_MAX_BYTES + 1)
    finally:
        upload.close()  # a large upload is a temporary file: release it now, not at GC
    try:
        service.set_logo(org, data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _add_error(form.logo, exc.message)
        return _form_page(form, heading, status=400, organization=org, submit="Upload")
    flash(f"New logo saved for {org.name}.", "success")
    return _detail(org.id)


@bp.route("/organizations/<int:org_id>/logo/remove", methods=["GET", "POST"])
@staff_required
def organization_logo_remove(org_id: int) -> Rendered | Response:
    org = _organization(org_id)
    if not org.logo_content_type:
        flash(f"{org.name} has no logo.", "info")
        return _detail(org.id)
    if request.method == "GET":
        return render_template("staff/organizations/confirm_logo_remove.html", org=org)
    service.remove_logo(org)
    db.session.commit()
    flash(f"Logo of {org.name} removed.", "success")
    return _detail(org.id)


# --------------------------------------------------------------------------- Keycloak


@bp.post("/keycloak/pull")
@staff_required
def pull_organizations() -> Response:
    _queue(None, JobKind.KEYCLOAK_PULL_ORGANIZATIONS, {}, "Pulling organizations from Keycloak")
    return redirect(url_for("staff.organizations"))


@bp.post("/organizations/<int:org_id>/keycloak")
@staff_required
def create_in_keycloak(org_id: int) -> Response:
    org = _organization(org_id)
    if org.keycloak_id:
        flash(f"{org.name} is already linked to Keycloak.", "info")
        return _detail(org.id)
    _queue(
        org,
        JobKind.KEYCLOAK_CREATE_ORGANIZATION,
        {"organization_id": org.id},
        f"Creating {org.name} in Keycloak",
    )
    return _detail(org.id)


@bp.route("/organizations/<int:org_id>/keycloak/link", methods=["GET", "POST"])
@staff_required
def organization_link_keycloak(org_id: int) -> Rendered | Response:
    """Link to an existing Keycloak organization by alias; a job looks it up (Keycloak may be
    slow or down, and the job retries)."""
    org = _organization(org_id)
    form = LinkKeycloakForm()
    heading = f"Link {org.name} to a Keycloak organization"
    if org.keycloak_id:
        flash(f"{org.name} is already linked to Keycloak ({org.keycloak_alias}).", "info")
        return _detail(org.id)
    if not form.is_submitted():
        form.alias.data = service.alias_for(org)
    if not form.validate_on_submit():
        return _form_page(form, heading, status=_status(form), organization=org, submit="Link")
    try:
        job = service.request_keycloak_link(org, form.alias.data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _add_error(form.alias, exc.message)
        return _form_page(form, heading, status=exc.status, organization=org, submit="Link")
    flash(
        f"Looking up {form.alias.data} in Keycloak to link it (job #{job.id}); "
        "its state shows on this page.",
        "info",
    )
    return _detail(org.id)
