"""OAuth scopes: validation against the client's scopes, and the ``organization`` claim (§5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .builtins import IN_TOKEN_SCOPE, ORG_MAPPER_TYPE
from .models import Client, ProtocolMapper, Realm, User
from .store import Store

ORG = "organization"


class ScopeProblem(ValueError):
    """``invalid_scope``: unknown scopes or mixed organization scope forms."""


@dataclass(frozen=True)
class OrgScope:
    form: str  # "single" (plain ``organization``), "all" (``organization:*``) or "alias"
    alias: str | None
    text: str


@dataclass(frozen=True)
class Scopes:
    requested: tuple[str, ...]
    applied: frozenset[str]  # client scope names in effect (defaults + requested optional ones)
    openid: bool
    organization: OrgScope | None
    text: str  # the response's ``scope``


def split_scope(value: str | None) -> list[str]:
    seen: list[str] = []
    for item in (value or "").split():
        if item not in seen:
            seen.append(item)
    return seen


def parse_org_scope(requested: list[str]) -> OrgScope | None:
    forms = [s for s in requested if s == ORG or s.startswith(ORG + ":")]
    if not forms:
        return None
    if len(forms) > 1:
        raise ScopeProblem("Invalid scopes: " + " ".join(forms))
    text = forms[0]
    if text == ORG:
        return OrgScope("single", None, text)
    alias = text[len(ORG) + 1 :]
    if not alias:
        raise ScopeProblem(f"Invalid scopes: {text}")
    if alias == "*":
        return OrgScope("all", None, text)
    return OrgScope("alias", alias, text)


def _scope_names(realm: Realm) -> set[str]:
    return {scope.name for scope in realm.client_scopes.values()}


def resolve(realm: Realm, client: Client, requested_text: str | None) -> Scopes:
    requested = split_scope(requested_text)
    known = _scope_names(realm)
    defaults = [s for s in client.default_scopes if s in known]
    optionals = [s for s in client.optional_scopes if s in known]
    org_scope = parse_org_scope(requested)
    org_available = ORG in defaults or ORG in optionals
    invalid = []
    applied = set(defaults)
    for item in requested:
        if item == "openid" or item in defaults:
            continue
        if item == ORG or item.startswith(ORG + ":"):
            if org_available:
                applied.add(ORG)
                continue
        elif item in optionals:
            applied.add(item)
            continue
        invalid.append(item)
    if invalid:
        raise ScopeProblem("Invalid scopes: " + " ".join(requested))
    if ORG in defaults and org_scope is None:
        org_scope = OrgScope("single", None, ORG)
    text_parts = ["openid"] if "openid" in requested else []
    for item in requested:
        name = ORG if item.startswith(ORG + ":") else item
        if item != "openid" and name in IN_TOKEN_SCOPE and item not in text_parts:
            text_parts.append(item)
    for item in defaults:
        if (
            item in IN_TOKEN_SCOPE
            and item not in text_parts
            and not (item == ORG and org_scope is not None and org_scope.text != ORG)
        ):
            text_parts.append(item)
    return Scopes(
        requested=tuple(requested),
        applied=frozenset(applied),
        openid="openid" in requested,
        organization=org_scope,
        text=" ".join(text_parts),
    )


def organization_mapper(realm: Realm) -> ProtocolMapper | None:
    for scope in realm.client_scopes.values():
        if scope.name == ORG:
            for mapper in scope.mappers:
                if mapper.protocol_mapper == ORG_MAPPER_TYPE:
                    return mapper
    return None


NOTE_MAPPER_TYPE = "oidc-usersessionmodel-note-mapper"


@dataclass(frozen=True)
class NoteClaim:
    name: str
    value: str
    id_token: bool
    access_token: bool
    userinfo: bool
    introspection: bool


def session_note_claims(realm: Realm, scopes: Scopes, notes: dict[str, str]) -> list[NoteClaim]:
    """The claims of the ``oidc-usersessionmodel-note-mapper`` mappers in the applied client
    scopes: each copies one user-session note (``user.session.note``) into ``claim.name``; a note
    the session does not have (a password login has no ``identity_provider``) gives no claim."""
    claims = []
    for scope in realm.client_scopes.values():
        if scope.name not in scopes.applied:
            continue
        for mapper in scope.mappers:
            if mapper.protocol_mapper != NOTE_MAPPER_TYPE:
                continue
            config = mapper.config
            note = config.get("user.session.note", "")
            value = notes.get(note) if note else None
            if value is None:
                continue
            id_token = config.get("id.token.claim", "true") == "true"
            claims.append(
                NoteClaim(
                    name=config.get("claim.name") or note,
                    value=value,
                    id_token=id_token,
                    access_token=config.get("access.token.claim", "true") == "true",
                    userinfo=config.get("userinfo.token.claim", "true" if id_token else "false")
                    == "true",
                    introspection=config.get("introspection.token.claim", "true") == "true",
                )
            )
    return claims


@dataclass(frozen=True)
class OrgClaim:
    name: str
    value: Any
    id_token: bool
    access_token: bool
    userinfo: bool
    introspection: bool


def organization_claim(
    store: Store, realm: Realm, user: User, org_scope: OrgScope | None, pin: str | None
) -> OrgClaim | None:
    """The claim for ``user``; ``pin`` is the organization the browser flow picked, if any."""
    if not realm.organizations_enabled or org_scope is None:
        return None
    mapper = organization_mapper(realm)
    if mapper is None:
        return None
    memberships = store.user_organizations(realm, user.id, enabled_only=True)
    pinned = next((org for org in memberships if org.id == pin), None) if pin else None
    if org_scope.form == "all":
        orgs = memberships
    elif pinned is not None:
        orgs = [pinned]
    elif org_scope.form == "alias":
        orgs = [org for org in memberships if org.alias == org_scope.alias]
    else:
        orgs = memberships if len(memberships) == 1 else []
    if not orgs:
        return None
    config = mapper.config
    add_id = config.get("addOrganizationId") == "true"
    add_attributes = config.get("addOrganizationAttributes") == "true"
    value: Any
    if config.get("multivalued", "true") != "true":
        value = orgs[0].alias
    elif add_id or add_attributes:
        value = {}
        for org in orgs:
            entry: dict[str, Any] = {}
            if add_attributes:
                entry.update({key: list(values) for key, values in org.attributes.items()})
            if add_id:
                entry["id"] = org.id
            value[org.alias] = entry
    elif config.get("jsonType.label") == "JSON":
        value = {org.alias: {} for org in orgs}
    else:
        value = [org.alias for org in orgs]
    id_token = config.get("id.token.claim", "true") == "true"
    return OrgClaim(
        name=config.get("claim.name") or ORG,
        value=value,
        id_token=id_token,
        access_token=config.get("access.token.claim", "true") == "true",
        userinfo=config.get("userinfo.token.claim", "true" if id_token else "false") == "true",
        introspection=config.get("introspection.token.claim", "true") == "true",
    )
