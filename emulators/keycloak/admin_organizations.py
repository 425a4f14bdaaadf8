"""``/admin/realms/{r}/organizations``: list/search/count, create, get, replace, delete (§6.2-§6.5)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, request
from werkzeug.wrappers import Response

from .admin_auth import organizations_call, orgs
from .http_utils import (
    bad_json,
    base_url,
    check_fields,
    created,
    empty,
    fail_message,
    json_response,
    page,
    paging,
    parse_bool,
    read_json,
    store,
)
from .models import Domain, Organization, Realm, new_id
from .representations import organization_rep
from .sessions import end_user_sessions

bp = Blueprint("kc_admin_organizations", __name__)
ORGS = "/admin/realms/<realm_name>/organizations"
ORG_FIELDS = {"id", "name", "alias", "enabled", "description", "redirectUrl", "attributes",
              "domains", "members", "identityProviders"}  # fmt: skip
DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def organization_or_404(realm: Realm, org_id: str) -> Organization:
    org = realm.organizations.get(org_id)
    if org is None:
        fail_message(404, "Organization not found.")
    return org


@dataclass
class OrgInput:
    name: str | None
    alias: str | None
    enabled: bool | None
    description: str | None
    redirect_url: str | None
    attributes: dict[str, list[str]] | None
    domains: list[Domain] | None


def _opt(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        bad_json()
    return value


def parse_org(body: Any) -> OrgInput:
    if not isinstance(body, dict):
        bad_json()
    check_fields(body, ORG_FIELDS, "OrganizationRepresentation")
    attributes = _opt(body, "attributes", dict)
    if attributes is not None and not all(
        isinstance(v, list) and all(isinstance(i, str) for i in v) for v in attributes.values()
    ):
        bad_json()
    domains: list[Domain] | None = None
    raw_domains = _opt(body, "domains", list)
    if raw_domains is not None:
        domains = []
        for item in raw_domains:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                bad_json()
            verified = item.get("verified")
            if verified is not None and not isinstance(verified, bool):
                bad_json()
            name = item["name"].strip().lower()
            if all(d.name != name for d in domains):
                domains.append(Domain(name, bool(verified)))
    return OrgInput(
        name=_opt(body, "name", str),
        alias=_opt(body, "alias", str),
        enabled=_opt(body, "enabled", bool),
        description=_opt(body, "description", str),
        redirect_url=_opt(body, "redirectUrl", str),
        attributes={k: list(v) for k, v in attributes.items()} if attributes is not None else None,
        domains=domains,
    )


def _alias_problem(alias: str) -> str | None:
    if any(c.isspace() for c in alias):
        return "Empty Space not allowed."
    if "/" in alias:
        return "Character '/' not allowed."
    return None


def _validate(realm: Realm, data: OrgInput, current: Organization | None) -> tuple[str, str]:
    name = (data.name or "").strip()
    if not name:
        fail_message(400, "Name can not be null")
    derived = not data.alias
    alias = data.alias if data.alias else name
    if current is not None and alias != current.alias:
        fail_message(400, "Cannot change the alias")
    problem = _alias_problem(alias) if current is None else None
    if problem:
        if not derived:
            fail_message(400, f"Invalid alias: {problem}")
        if store().config.mode >= "26.7":
            fail_message(400, f"Name cannot be used as alias: {problem}")
        fail_message(400, "Name contains a reserved character and cannot be used as alias")
    others = [o for o in realm.organizations.values() if current is None or o.id != current.id]
    if any(o.name.lower() == name.lower() for o in others):
        fail_message(409, "A organization with the same name already exists.")
    if any(o.alias == alias for o in others):
        fail_message(409, "A organization with the same alias already exists")
    for domain in data.domains or []:
        if not DOMAIN.match(domain.name):
            fail_message(400, f"The specified domain is invalid: {domain.name}")
        owner = next((o for o in others if any(d.name == domain.name for d in o.domains)), None)
        if owner is not None:
            if store().config.mode >= "26.7":
                fail_message(
                    400,
                    f"Domain {domain.name} is already linked to organization {owner.name} "
                    f"in realm {realm.name}",
                )
            fail_message(
                400,
                f"Domain {domain.name} is already linked to another organization in realm {realm.name}",
            )
    if data.redirect_url:
        parts = urlsplit(data.redirect_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            fail_message(400, "Invalid redirect URL")
    return name, alias


def _matches_search(org: Organization, search: str, exact: bool) -> bool:
    wanted = search.lower()
    values = [org.name.lower(), *(d.name for d in org.domains)]
    return wanted in values if exact else any(wanted in v for v in values)


def _matches_q(org: Organization, q: str) -> bool:
    for pair in q.split():
        key, sep, value = pair.partition(":")
        if not sep:
            continue
        if key == "alias":
            if org.alias != value:
                return False
        elif value not in org.attributes.get(key, []):
            return False
    return True


def filtered_organizations(realm: Realm) -> list[Organization]:
    items = sorted(realm.organizations.values(), key=lambda o: o.name)
    q = request.args.get("q")
    search = request.args.get("search")
    if q:
        items = [o for o in items if _matches_q(o, q)]
    elif search:
        exact = bool(parse_bool(request.args.get("exact")))
        items = [o for o in items if _matches_search(o, search, exact)]
    idp_alias = request.args.get("identityProviderAlias")
    if idp_alias:
        idp = realm.identity_providers.get(idp_alias)
        items = [o for o in items if idp is not None and idp.organization_id == o.id]
    return items


@bp.get(ORGS)
def list_organizations(realm_name: str) -> Response:
    realm = organizations_call(realm_name, orgs("list"))
    first, maximum = paging(10)
    brief = parse_bool(request.args.get("briefRepresentation")) is not False
    items = page(filtered_organizations(realm), first, maximum)
    return json_response([organization_rep(o, brief=brief) for o in items])


@bp.get(ORGS + "/count")
def count_organizations(realm_name: str) -> Response:
    realm = organizations_call(realm_name, orgs("list"))
    return json_response(len(filtered_organizations(realm)))


@bp.post(ORGS)
def create_organization(realm_name: str) -> Response:
    realm = organizations_call(realm_name, orgs("manage"))
    present, body = read_json()
    if not present or body is None:
        fail_message(400, "Organization cannot be null.")
    data = parse_org(body)
    name, alias = _validate(realm, data, None)
    org = Organization(
        id=new_id(),
        name=name,
        alias=alias,
        enabled=data.enabled if data.enabled is not None else True,
        description=data.description or None,
        redirect_url=data.redirect_url or None,
        attributes=data.attributes or {},
        domains=data.domains or [],
    )
    realm.organizations[org.id] = org
    return created(f"{base_url()}/admin/realms/{realm.name}/organizations/{org.id}")


@bp.get(ORGS + "/<org_id>")
def get_organization(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, orgs("read"))
    return json_response(organization_rep(organization_or_404(realm, org_id), brief=False))


@bp.put(ORGS + "/<org_id>")
def update_organization(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, orgs("manage"))
    org = organization_or_404(realm, org_id)
    present, body = read_json()
    if not present or body is None:
        # Keycloak answers 500 unknown_error here; the emulator keeps bad input a 4xx
        fail_message(400, "Organization cannot be null.")
    data = parse_org(body)
    name, _ = _validate(realm, data, org)
    org.name = name
    org.enabled = data.enabled if data.enabled is not None else True
    org.description = data.description or None
    org.redirect_url = data.redirect_url or None
    org.domains = data.domains or []
    if data.attributes is not None:
        org.attributes = data.attributes
    return empty(204)


@bp.delete(ORGS + "/<org_id>")
def delete_organization(realm_name: str, org_id: str) -> Response:
    realm = organizations_call(realm_name, orgs("manage"))
    org = organization_or_404(realm, org_id)
    for user_id, membership in list(org.members.items()):
        if membership == "MANAGED":
            end_user_sessions(realm, user_id)
            store().remove_user(realm, user_id)
    for idp in realm.identity_providers.values():
        if idp.organization_id == org.id:
            idp.organization_id = None
    for invitation_id in [
        i for i, inv in realm.invitations.items() if inv.organization_id == org.id
    ]:
        realm.invitations.pop(invitation_id, None)
    realm.organizations.pop(org.id, None)
    return empty(204)
