"""Realm import: the realm-export JSON shape, used for the seed file and ``POST /admin/realms``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .builtins import default_role_name, populate_new_realm
from .models import (
    ClientScope,
    Domain,
    FederatedIdentity,
    IdentityProvider,
    Organization,
    ProtocolMapper,
    Realm,
    Role,
    User,
    new_id,
)
from .rep_fields import (
    ImportProblem,
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_str,
    multi_map,
    str_list,
    string_map,
)
from .seed_clients import apply_client_rep, ensure_service_account, new_client
from .store import Store

__all__ = [
    "ImportProblem",
    "apply_client_rep",
    "apply_realm_settings",
    "bootstrap_master",
    "ensure_service_account",
    "import_realm",
    "load_realm_file",
    "new_client",
    "string_map",
]


def _import_roles(realm: Realm, rep: dict[str, Any]) -> None:
    roles = as_dict(rep.get("roles"), "roles")
    for item in as_list(roles.get("realm"), "roles.realm"):
        item = as_dict(item, "role")
        name = as_str(item.get("name"), "role name")
        if not name:
            raise ImportProblem("role name is required")
        composites = as_dict(item.get("composites"), "composites")
        realm.roles[name] = Role(
            id=as_str(item.get("id"), "id") or new_id(),
            name=name,
            description=as_str(item.get("description"), "description"),
            composites=set(str_list(composites.get("realm"), "composites.realm")),
        )
    for client_id, items in as_dict(roles.get("client"), "roles.client").items():
        client = Store.client_by_client_id(realm, client_id)
        if client is None:
            raise ImportProblem(f"roles.client names unknown client {client_id}")
        for item in as_list(items, "client roles"):
            item = as_dict(item, "role")
            name = as_str(item.get("name"), "role name")
            if not name:
                raise ImportProblem("role name is required")
            client.roles[name] = Role(id=new_id(), name=name, description=item.get("description"))


def _import_scopes(realm: Realm, rep: dict[str, Any]) -> None:
    for item in as_list(rep.get("clientScopes"), "clientScopes"):
        item = as_dict(item, "clientScope")
        name = as_str(item.get("name"), "clientScope name")
        if not name:
            raise ImportProblem("clientScope name is required")
        existing = next((s for s in realm.client_scopes.values() if s.name == name), None)
        scope = ClientScope(
            id=existing.id if existing else (as_str(item.get("id"), "id") or new_id()),
            name=name,
            description=as_str(item.get("description"), "description"),
            protocol=as_str(item.get("protocol"), "protocol") or "openid-connect",
            attributes=string_map(item.get("attributes"), "attributes"),
        )
        for mapper in as_list(item.get("protocolMappers"), "protocolMappers"):
            mapper = as_dict(mapper, "protocolMapper")
            scope.mappers.append(
                ProtocolMapper(
                    id=as_str(mapper.get("id"), "id") or new_id(),
                    name=as_str(mapper.get("name"), "name") or "mapper",
                    protocol_mapper=as_str(mapper.get("protocolMapper"), "protocolMapper") or "",
                    config=string_map(mapper.get("config"), "config"),
                )
            )
        realm.client_scopes[scope.id] = scope
    if rep.get("defaultDefaultClientScopes") is not None:
        realm.default_default_scopes = str_list(rep["defaultDefaultClientScopes"], "scopes")
    if rep.get("defaultOptionalClientScopes") is not None:
        realm.default_optional_scopes = str_list(rep["defaultOptionalClientScopes"], "scopes")


def _import_user(store: Store, realm: Realm, item: dict[str, Any]) -> None:
    sa_client_id = as_str(item.get("serviceAccountClientId"), "serviceAccountClientId")
    if sa_client_id:
        client = store.client_by_client_id(realm, sa_client_id)
        if client is None:
            raise ImportProblem(f"service account of unknown client {sa_client_id}")
        user = ensure_service_account(realm, client)
    else:
        username = (as_str(item.get("username"), "username") or "").strip().lower()
        email = as_str(item.get("email"), "email")
        if not username and email:
            username = email.strip().lower()
        if not username:
            raise ImportProblem("user without username")
        if store.user_by_username(realm, username):
            raise ImportProblem(f"duplicate user {username}")
        user = User(
            id=as_str(item.get("id"), "id") or new_id(),
            username=username,
            created_ms=as_int(item.get("createdTimestamp"), store.now_ms(), "createdTimestamp"),
            email=email.strip().lower() if email else None,
            first_name=as_str(item.get("firstName"), "firstName"),
            last_name=as_str(item.get("lastName"), "lastName"),
            enabled=as_bool(item.get("enabled"), True, "enabled"),
            email_verified=as_bool(item.get("emailVerified"), False, "emailVerified"),
            attributes=multi_map(item.get("attributes"), "attributes"),
            required_actions=str_list(item.get("requiredActions"), "requiredActions"),
            realm_roles={default_role_name(realm)},
        )
        realm.users[user.id] = user
    user.realm_roles.update(str_list(item.get("realmRoles"), "realmRoles"))
    for client_id, names in as_dict(item.get("clientRoles"), "clientRoles").items():
        user.client_roles.setdefault(client_id, set()).update(str_list(names, "clientRoles"))
    for cred in as_list(item.get("credentials"), "credentials"):
        cred = as_dict(cred, "credential")
        value = as_str(cred.get("value"), "credential value")
        if cred.get("type", "password") == "password" and value:
            store.set_password(user, value, as_bool(cred.get("temporary"), False, "temporary"))
            user.seed_password = value
    for link in as_list(item.get("federatedIdentities"), "federatedIdentities"):
        link = as_dict(link, "federatedIdentity")
        user.federated.append(
            FederatedIdentity(
                identity_provider=str(link.get("identityProvider", "")),
                user_id=str(link.get("userId", "")),
                user_name=str(link.get("userName", "")),
            )
        )


def _import_idp(realm: Realm, item: dict[str, Any]) -> None:
    alias = as_str(item.get("alias"), "alias")
    if not alias:
        raise ImportProblem("identity provider without alias")
    known = {"alias", "providerId", "enabled", "displayName", "config", "trustEmail",
             "hideOnLogin", "internalId", "organizationId"}  # fmt: skip
    realm.identity_providers[alias] = IdentityProvider(
        internal_id=as_str(item.get("internalId"), "internalId") or new_id(),
        alias=alias,
        provider_id=as_str(item.get("providerId"), "providerId") or "oidc",
        enabled=as_bool(item.get("enabled"), True, "enabled"),
        display_name=as_str(item.get("displayName"), "displayName"),
        config=string_map(item.get("config"), "config"),
        trust_email=as_bool(item.get("trustEmail"), False, "trustEmail"),
        hide_on_login=as_bool(item.get("hideOnLogin"), False, "hideOnLogin"),
        organization_id=as_str(item.get("organizationId"), "organizationId"),
        extra={k: v for k, v in item.items() if k not in known},
    )


def _import_org(store: Store, realm: Realm, item: dict[str, Any]) -> None:
    name = as_str(item.get("name"), "organization name")
    if not name:
        raise ImportProblem("organization without name")
    org = Organization(
        id=as_str(item.get("id"), "id") or new_id(),
        name=name,
        alias=as_str(item.get("alias"), "alias") or name,
        enabled=as_bool(item.get("enabled"), True, "enabled"),
        description=as_str(item.get("description"), "description"),
        redirect_url=as_str(item.get("redirectUrl"), "redirectUrl"),
        attributes=multi_map(item.get("attributes"), "attributes"),
    )
    for domain in as_list(item.get("domains"), "domains"):
        domain = as_dict(domain, "domain")
        domain_name = (as_str(domain.get("name"), "domain name") or "").lower()
        org.domains.append(Domain(domain_name, as_bool(domain.get("verified"), False, "verified")))
    for member in as_list(item.get("members"), "members"):
        member = as_dict(member, "member")
        user = None
        if member.get("id"):
            user = realm.users.get(str(member["id"]))
        if user is None and member.get("username"):
            user = store.user_by_username(realm, str(member["username"]))
        if user is None and member.get("email"):
            user = store.user_by_email(realm, str(member["email"]))
        if user is None:
            raise ImportProblem(f"organization {name} names an unknown member")
        org.members[user.id] = str(member.get("membershipType") or "UNMANAGED").upper()
    for link in as_list(item.get("identityProviders"), "identityProviders"):
        alias = as_str(as_dict(link, "identityProvider").get("alias"), "alias")
        idp = realm.identity_providers.get(alias or "")
        if idp is None:
            raise ImportProblem(f"organization {name} links unknown identity provider {alias}")
        idp.organization_id = org.id
    realm.organizations[org.id] = org


REALM_FIELDS = {
    "displayName": ("display_name", "str"),
    "enabled": ("enabled", "bool"),
    "organizationsEnabled": ("organizations_enabled", "bool"),
    "registrationAllowed": ("registration_allowed", "bool"),
    "loginWithEmailAllowed": ("login_with_email_allowed", "bool"),
    "duplicateEmailsAllowed": ("duplicate_emails_allowed", "bool"),
    "editUsernameAllowed": ("edit_username_allowed", "bool"),
    "revokeRefreshToken": ("revoke_refresh_token", "bool"),
    "accessTokenLifespan": ("access_token_lifespan", "int"),
    "accessCodeLifespan": ("access_code_lifespan", "int"),
    "ssoSessionIdleTimeout": ("sso_idle", "int"),
    "ssoSessionMaxLifespan": ("sso_max", "int"),
}
SECTIONS = {"roles", "clients", "clientScopes", "users", "identityProviders", "organizations",
            "defaultDefaultClientScopes", "defaultOptionalClientScopes", "id", "realm"}  # fmt: skip


def apply_realm_settings(realm: Realm, rep: dict[str, Any]) -> None:
    """Merge the scalar settings of a RealmRepresentation (``PUT /admin/realms/{r}``)."""
    for key, value in rep.items():
        if key in REALM_FIELDS:
            attr, kind = REALM_FIELDS[key]
            if value is None:
                continue
            if kind == "bool":
                setattr(realm, attr, as_bool(value, False, key))
            elif kind == "int":
                setattr(realm, attr, as_int(value, 0, key))
            else:
                setattr(realm, attr, as_str(value, key))
        elif key == "attributes":
            realm.attributes.update(string_map(value, "attributes"))
        elif key not in SECTIONS:
            realm.extra[key] = value


def import_realm(store: Store, rep: Any) -> Realm:
    """Build a realm from a realm representation; raises ImportProblem for bad input."""
    if not isinstance(rep, dict):
        raise ImportProblem("a realm representation must be a JSON object")
    name = rep.get("realm")
    if not isinstance(name, str) or not name.strip():
        raise ImportProblem("Realm name cannot be empty")
    realm = Realm(id=as_str(rep.get("id"), "id") or new_id(), name=name)
    populate_new_realm(realm, store.config.dedicated_org_roles)
    apply_realm_settings(realm, rep)
    _import_scopes(realm, rep)
    for item in as_list(rep.get("clients"), "clients"):
        item = as_dict(item, "client")
        existing = store.client_by_client_id(realm, str(item.get("clientId", "")))
        if existing is not None:
            apply_client_rep(realm, existing, item)
        else:
            client = new_client(realm, item)
            realm.clients[client.id] = client
    _import_roles(realm, rep)
    for item in as_list(rep.get("users"), "users"):
        _import_user(store, realm, as_dict(item, "user"))
    for item in as_list(rep.get("identityProviders"), "identityProviders"):
        _import_idp(realm, as_dict(item, "identityProvider"))
    for item in as_list(rep.get("organizations"), "organizations"):
        _import_org(store, realm, as_dict(item, "organization"))
    return realm


def bootstrap_master(store: Store) -> Realm:
    """The master realm with its first admin, as ``KC_BOOTSTRAP_ADMIN_*`` creates it."""
    realm = import_realm(
        store,
        {
            "realm": "master",
            "displayName": "Keycloak",
            "accessTokenLifespan": 60,
            "roles": {
                "realm": [
                    {"name": "admin", "description": "${role_admin}"},
                    {"name": "create-realm", "description": "${role_create-realm}"},
                ]
            },
        },
    )
    admin = User(
        id=new_id(),
        username=store.config.admin_username.lower(),
        created_ms=store.now_ms(),
        enabled=True,
        realm_roles={"admin", "create-realm", default_role_name(realm)},
        attributes={"is_temporary_admin": ["true"]},
    )
    store.set_password(admin, store.config.admin_password, temporary=False)
    realm.users[admin.id] = admin
    store.realms[realm.name] = realm
    return realm


def load_realm_file(store: Store, path: str) -> None:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    for rep in data if isinstance(data, list) else [data]:
        if isinstance(rep, dict) and rep.get("realm") == "master":
            raise ImportProblem("the master realm is built in; seed other realms only")
        realm = import_realm(store, rep)
        if realm.name in store.realms:
            raise ImportProblem(f"realm {realm.name} appears twice")
        store.realms[realm.name] = realm
