"""Organization identity-provider links and invitations (invite-user, invite-existing-user)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request
from werkzeug.wrappers import Response

from .admin_auth import members, org_idps, organizations_call, orgs
from .admin_org_members import raw_id_body
from .admin_organizations import organization_or_404
from .http_utils import (
    empty,
    fail,
    fail_message,
    json_response,
    omit_none,
    page,
    paging,
    require_form_content_type,
    require_json_content_type,
    store,
)
from .models import IdentityProvider, Invitation, Organization, Realm, new_id
from .representations import idp_rep

bp = Blueprint("kc_admin_org_links", __name__)
ORG = "/admin/realms/<realm_name>/organizations/<org_id>"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INVITATION_LIFESPAN = 43200  # actionTokenGeneratedByAdminLifespan


@bp.get(ORG + "/identity-providers")
def list_links(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, org_idps("read"))
    org = organization_or_404(realm, org_id)
    linked = [i for i in realm.identity_providers.values() if i.organization_id == org.id]
    return json_response([idp_rep(i) for i in sorted(linked, key=lambda i: i.alias)])


def _find_idp(realm: Realm, key: str) -> IdentityProvider | None:
    idp = realm.identity_providers.get(key)
    if idp is None:
        idp = next((i for i in realm.identity_providers.values() if i.internal_id == key), None)
    return idp


@bp.post(ORG + "/identity-providers")
def add_link(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, org_idps("manage"))
    org = organization_or_404(realm, org_id)
    require_json_content_type()
    idp = _find_idp(realm, raw_id_body())
    if idp is None:
        fail_message(400, "Identity provider not found with the given alias")
    if idp.organization_id == org.id:
        fail_message(409, "Identity provider already associated to the organization")
    if idp.organization_id is not None:
        fail_message(400, "Identity provider already associated with a different organization")
    idp.organization_id = org.id
    return empty(204)


@bp.get(ORG + "/identity-providers/<alias>")
def get_link(realm_name: str, org_id: str, alias: str) -> Response:
    realm = organizations_call(realm_name, org_idps("read"))
    org = organization_or_404(realm, org_id)
    idp = realm.identity_providers.get(alias)
    if idp is None or idp.organization_id != org.id:
        fail_message(404, "Identity provider not associated with the organization")
    return json_response(idp_rep(idp))


@bp.delete(ORG + "/identity-providers/<alias>")
def remove_link(realm_name: str, org_id: str, alias: str) -> Response:
    realm = organizations_call(realm_name, org_idps("manage"))
    org = organization_or_404(realm, org_id)
    idp = realm.identity_providers.get(alias)
    if idp is None or idp.organization_id != org.id:
        fail_message(404, "Identity provider not found with the given alias")
    idp.organization_id = None
    return empty(204)


# invitations ---------------------------------------------------------------------------------


def _status(invitation: Invitation) -> str:
    return "EXPIRED" if invitation.expires_at <= store().now() else "PENDING"


def _invitation_rep(invitation: Invitation) -> dict[str, Any]:
    return omit_none(
        {
            "id": invitation.id,
            "organizationId": invitation.organization_id,
            "email": invitation.email,
            "firstName": invitation.first_name,
            "lastName": invitation.last_name,
            "sentDate": invitation.sent_at,
            "expiresAt": invitation.expires_at,
            "status": _status(invitation),
        }
    )


def _invite(
    realm: Realm, org: Organization, email: str, first: str | None, last: str | None
) -> None:
    user = store().user_by_email(realm, email)
    if user is not None and user.id in org.members:
        fail_message(409, "User already a member of the organization")
    for invitation in realm.invitations.values():
        if (
            invitation.organization_id == org.id
            and invitation.email == email
            and _status(invitation) == "PENDING"
        ):
            fail_message(409, "User already has a pending invitation")
    now = store().now()
    invitation = Invitation(
        id=new_id(), organization_id=org.id, email=email, sent_at=now,
        expires_at=now + INVITATION_LIFESPAN, first_name=first, last_name=last,
        user_id=user.id if user else None,
    )  # fmt: skip
    realm.invitations[invitation.id] = invitation


@bp.post(ORG + "/members/invite-user")
def invite_user(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, members("manage"))
    org = organization_or_404(realm, org_id)
    require_form_content_type()
    email = request.form.get("email", "").strip().lower()
    if not email:
        fail_message(400, "Email is required to invite a member")
    if not EMAIL.match(email):
        fail_message(400, "Invalid email format")
    _invite(
        realm,
        org,
        email,
        request.form.get("firstName") or None,
        request.form.get("lastName") or None,
    )
    return empty(204)


@bp.post(ORG + "/members/invite-existing-user")
def invite_existing_user(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, members("manage"))
    org = organization_or_404(realm, org_id)
    require_form_content_type()
    user_id = request.form.get("id", "").strip()
    if not user_id:
        fail(400, {"error": "To invite a member you need to provide the user id"})
    user = realm.users.get(user_id)
    if user is None:
        fail_message(400, "User does not exist")
    if not user.email:
        fail_message(400, "User does not have an email address")
    _invite(realm, org, user.email, user.first_name, user.last_name)
    return empty(204)


def _invitation(realm: Realm, org: Organization, invitation_id: str) -> Invitation:
    invitation = realm.invitations.get(invitation_id)
    if invitation is None or invitation.organization_id != org.id:
        fail_message(404, "Invitation not found")
    return invitation


@bp.get(ORG + "/invitations")
def list_invitations(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, orgs("manage"))
    org = organization_or_404(realm, org_id)
    items = sorted(
        (i for i in realm.invitations.values() if i.organization_id == org.id),
        key=lambda i: (i.sent_at, i.email),
    )
    args = request.args
    if args.get("status"):
        items = [i for i in items if _status(i) == args["status"].upper()]
    for key, attr in (("email", "email"), ("firstName", "first_name"), ("lastName", "last_name")):
        if args.get(key):
            items = [i for i in items if args[key].lower() in (getattr(i, attr) or "").lower()]
    if args.get("search"):
        wanted = args["search"].lower()
        items = [
            i for i in items
            if any(wanted in (v or "").lower() for v in (i.email, i.first_name, i.last_name))
        ]  # fmt: skip
    first, maximum = paging(-1)
    return json_response([_invitation_rep(i) for i in page(items, first, maximum)])


@bp.get(ORG + "/invitations/<invitation_id>")
def get_invitation(realm_name: str, org_id: str, invitation_id: str) -> Response:
    realm = organizations_call(realm_name, orgs("manage"))
    org = organization_or_404(realm, org_id)
    return json_response(_invitation_rep(_invitation(realm, org, invitation_id)))


@bp.delete(ORG + "/invitations/<invitation_id>")
def delete_invitation(realm_name: str, org_id: str, invitation_id: str) -> Response:
    realm = organizations_call(realm_name, orgs("manage"))
    org = organization_or_404(realm, org_id)
    realm.invitations.pop(_invitation(realm, org, invitation_id).id, None)
    return empty(204)


@bp.post(ORG + "/invitations/<invitation_id>/resend")
def resend_invitation(realm_name: str, org_id: str, invitation_id: str) -> Response:
    realm = organizations_call(realm_name, orgs("manage"))
    org = organization_or_404(realm, org_id)
    invitation = _invitation(realm, org, invitation_id)
    now = store().now()
    invitation.sent_at, invitation.expires_at = now, now + INVITATION_LIFESPAN
    return empty(204)
