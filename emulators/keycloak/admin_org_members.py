"""Organization members (§6.2, §6.6): list, count, add by raw id, get, remove, their organizations."""

from __future__ import annotations

from flask import Blueprint, request
from werkzeug.wrappers import Response

from .admin_auth import members, organizations_call
from .admin_organizations import organization_or_404
from .http_utils import (
    base_url,
    created,
    empty,
    fail_generic,
    fail_message,
    json_response,
    page,
    paging,
    parse_bool,
    require_json_content_type,
    store,
)
from .models import Organization, Realm, User
from .representations import member_rep, organization_rep
from .sessions import end_user_sessions

bp = Blueprint("kc_admin_org_members", __name__)
ORG = "/admin/realms/<realm_name>/organizations/<org_id>"
MEMBERSHIP_TYPES = ("MANAGED", "UNMANAGED")


def raw_id_body() -> str:
    """Keycloak #34401: trim, then strip at most one ``"`` from each end; never parse as JSON."""
    text = request.get_data(as_text=True).strip()
    if text.startswith('"'):
        text = text[1:]
    if text.endswith('"'):
        text = text[:-1]
    return text


def _member_matches(user: User, search: str, exact: bool) -> bool:
    fields = [f.lower() for f in (user.username, user.email, user.first_name, user.last_name) if f]
    wanted = search.lower()
    return wanted in fields if exact else any(wanted in f for f in fields)


def _members(realm: Realm, org: Organization) -> list[tuple[User, str]]:
    items = [(realm.users[u], t) for u, t in org.members.items() if u in realm.users]
    return sorted(items, key=lambda item: item[0].username)


def _brief_members() -> bool:
    if store().config.mode < "26.7":
        return False
    return parse_bool(request.args.get("briefRepresentation")) is not False


@bp.get(ORG + "/members")
def list_members(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, members("list"))
    org = organization_or_404(realm, org_id)
    first, maximum = paging(10)
    items = _members(realm, org)
    search = request.args.get("search")
    if search:
        exact = bool(parse_bool(request.args.get("exact")))
        items = [(u, t) for u, t in items if _member_matches(u, search, exact)]
    membership = request.args.get("membershipType")
    if membership:
        if membership.upper() not in MEMBERSHIP_TYPES:
            # Keycloak answers 500 here; the emulator keeps bad input a 4xx
            fail_message(400, f"Invalid membershipType: {membership}")
        items = [(u, t) for u, t in items if t == membership.upper()]
    brief = _brief_members()
    return json_response([member_rep(u, t, brief=brief) for u, t in page(items, first, maximum)])


@bp.get(ORG + "/members/count")
def count_members(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, members("list"))
    org = organization_or_404(realm, org_id)
    return json_response(len(_members(realm, org)))


@bp.post(ORG + "/members")
def add_member(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, members("manage"))
    org = organization_or_404(realm, org_id)
    require_json_content_type()
    user_id = raw_id_body()
    user = realm.users.get(user_id)
    if user is None or user.service_account_client is not None:
        if store().config.mode >= "26.7":
            fail_generic(404)
        fail_message(400, "User does not exist")
    if user.id in org.members:
        fail_message(409, "User is already a member of the organization.")
    org.members[user.id] = "UNMANAGED"
    return created(
        f"{base_url()}/admin/realms/{realm.name}/organizations/{org.id}/members/{user.id}"
    )


def _member(realm: Realm, org: Organization, user_id: str) -> tuple[User, str]:
    user = realm.users.get(user_id)
    if user is None or user_id not in org.members:
        fail_generic(404)
    return user, org.members[user_id]


@bp.get(ORG + "/members/<user_id>")
def get_member(realm_name: str, org_id: str, user_id: str) -> Response:
    realm = organizations_call(realm_name, members("read"))
    org = organization_or_404(realm, org_id)
    user, membership = _member(realm, org, user_id)
    return json_response(member_rep(user, membership, brief=False))


@bp.delete(ORG + "/members/<user_id>")
def remove_member(realm_name: str, org_id: str, user_id: str) -> Response:
    realm = organizations_call(realm_name, members("manage"))
    org = organization_or_404(realm, org_id)
    user, membership = _member(realm, org, user_id)
    org.members.pop(user.id, None)
    if membership == "MANAGED":
        end_user_sessions(realm, user.id)
        store().remove_user(realm, user.id)
    return empty(204)


def _organizations_of(realm: Realm, user: User) -> Response:
    brief = parse_bool(request.args.get("briefRepresentation")) is not False
    orgs = store().user_organizations(realm, user.id)
    return json_response([organization_rep(o, brief=brief) for o in orgs])


@bp.get(ORG + "/members/<user_id>/organizations")
def member_organizations(realm_name: str, org_id: str, user_id: str) -> Response:
    realm = organizations_call(realm_name, members("read"))
    org = organization_or_404(realm, org_id)
    user, _ = _member(realm, org, user_id)
    return _organizations_of(realm, user)


@bp.get("/admin/realms/<realm_name>/organizations/members/<user_id>/organizations")
def user_organizations(realm_name: str, user_id: str) -> Response:
    realm = organizations_call(realm_name, members("read"))
    user = realm.users.get(user_id)
    if user is None:
        fail_generic(404)
    return _organizations_of(realm, user)
