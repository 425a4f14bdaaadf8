"""What every new Keycloak realm contains: built-in clients, roles and client scopes."""

from __future__ import annotations

from .models import Client, ClientScope, ProtocolMapper, Realm, Role, User, new_id

REALM_MANAGEMENT = "realm-management"
ORG_MAPPER_TYPE = "oidc-organization-membership-mapper"

BASE_ADMIN_ROLES = (
    "create-client",
    "impersonation",
    "manage-authorization",
    "manage-clients",
    "manage-events",
    "manage-identity-providers",
    "manage-realm",
    "manage-users",
    "query-clients",
    "query-groups",
    "query-realms",
    "query-users",
    "view-authorization",
    "view-clients",
    "view-events",
    "view-identity-providers",
    "view-realm",
    "view-users",
)
ORG_ADMIN_ROLES = ("manage-organizations", "query-organizations", "view-organizations")
# composite admin roles as Keycloak defines them
ADMIN_COMPOSITES = {
    "view-users": {"query-users", "query-groups"},
    "view-clients": {"query-clients"},
    "view-organizations": {"query-organizations"},
}

DEFAULT_DEFAULT_SCOPES = ["acr", "basic", "email", "profile", "roles", "web-origins"]
DEFAULT_OPTIONAL_SCOPES = ["address", "microprofile-jwt", "offline_access", "organization", "phone"]
SCOPE_DESCRIPTIONS = {
    "acr": "OpenID Connect scope for add acr (authentication context class reference) to the token",
    "address": "OpenID Connect built-in scope: address",
    "basic": "OpenID Connect scope for add all basic claims to the token",
    "email": "OpenID Connect built-in scope: email",
    "microprofile-jwt": "Microprofile - JWT built-in scope",
    "offline_access": "OpenID Connect built-in scope: offline_access",
    "organization": "Additional claims about the organization a subject belongs to",
    "phone": "OpenID Connect built-in scope: phone",
    "profile": "OpenID Connect built-in scope: profile",
    "roles": "OpenID Connect scope for add user roles to the access token",
    "web-origins": "OpenID Connect scope for add allowed web origins to the access token",
}
IN_TOKEN_SCOPE = {
    "address",
    "email",
    "microprofile-jwt",
    "offline_access",
    "organization",
    "phone",
    "profile",
}


def admin_role_names(dedicated_org_roles: bool) -> list[str]:
    names = [*BASE_ADMIN_ROLES, "realm-admin"]
    if dedicated_org_roles:
        names.extend(ORG_ADMIN_ROLES)
    return sorted(names)


def organization_mapper() -> ProtocolMapper:
    return ProtocolMapper(
        id=new_id(),
        name="organization",
        protocol_mapper=ORG_MAPPER_TYPE,
        config={
            "claim.name": "organization",
            "jsonType.label": "String",
            "multivalued": "true",
            "access.token.claim": "true",
            "id.token.claim": "true",
            "introspection.token.claim": "true",
        },
    )


def builtin_scopes() -> list[ClientScope]:
    scopes = []
    for name, description in SCOPE_DESCRIPTIONS.items():
        scope = ClientScope(
            id=new_id(),
            name=name,
            description=description,
            attributes={
                "include.in.token.scope": "true" if name in IN_TOKEN_SCOPE else "false",
                "display.on.consent.screen": "true",
            },
        )
        if name == "organization":
            scope.mappers.append(organization_mapper())
        scopes.append(scope)
    return scopes


def _client(client_id: str, **kwargs: object) -> Client:
    client = Client(id=new_id(), client_id=client_id, **kwargs)  # type: ignore[arg-type]
    client.default_scopes = list(DEFAULT_DEFAULT_SCOPES)
    client.optional_scopes = list(DEFAULT_OPTIONAL_SCOPES)
    return client


def populate_new_realm(realm: Realm, dedicated_org_roles: bool) -> None:
    """Add what Keycloak creates in every realm before anything is imported."""
    for scope in builtin_scopes():
        realm.client_scopes[scope.id] = scope
    realm.default_default_scopes = list(DEFAULT_DEFAULT_SCOPES)
    realm.default_optional_scopes = list(DEFAULT_OPTIONAL_SCOPES)
    for name in ("offline_access", "uma_authorization"):
        realm.roles[name] = Role(id=new_id(), name=name, description=f"${{role_{name}}}")
    default_role = f"default-roles-{realm.name}"
    realm.roles[default_role] = Role(
        id=new_id(),
        name=default_role,
        description="${role_default-roles}",
        composites={"offline_access", "uma_authorization"},
    )
    management = _client(REALM_MANAGEMENT, name="${client_realm-management}", bearer_only=True)
    management.standard_flow = False
    for role in admin_role_names(dedicated_org_roles):
        management.roles[role] = Role(id=new_id(), name=role, description=f"${{role_{role}}}")
    account = _client("account", name="${client_account}", public_client=True)
    for role in ("manage-account", "manage-account-links", "view-profile", "view-groups"):
        account.roles[role] = Role(id=new_id(), name=role, description=f"${{role_{role}}}")
    admin_cli = _client(
        "admin-cli", name="${client_admin-cli}", public_client=True, direct_access_grants=True
    )
    admin_cli.standard_flow = False
    broker = _client("broker", name="${client_broker}", bearer_only=True)
    broker.standard_flow = False
    for client in (management, account, admin_cli, broker):
        realm.clients[client.id] = client


def default_role_name(realm: Realm) -> str:
    return f"default-roles-{realm.name}"


def expand_realm_roles(realm: Realm, names: set[str]) -> set[str]:
    result: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in result:
            continue
        result.add(name)
        role = realm.roles.get(name)
        if role is not None:
            pending.extend(role.composites)
    return result


def effective_client_roles(realm: Realm, user: User) -> dict[str, set[str]]:
    """Client roles with composites expanded (``realm-admin`` holds every admin role)."""
    roles: dict[str, set[str]] = {}
    for client_id, names in user.client_roles.items():
        roles.setdefault(client_id, set()).update(names)
    realm_roles = expand_realm_roles(realm, user.realm_roles)
    if default_role_name(realm) in realm_roles:
        roles.setdefault("account", set()).update({"manage-account", "view-profile"})
        roles["account"].add("manage-account-links")
    management = roles.get(REALM_MANAGEMENT)
    if management:
        if "realm-admin" in management:
            client = next(
                (c for c in realm.clients.values() if c.client_id == REALM_MANAGEMENT), None
            )
            management.update(client.roles if client else BASE_ADMIN_ROLES)
        for role, implied in ADMIN_COMPOSITES.items():
            if role in management:
                management.update(implied)
    return {key: value for key, value in roles.items() if value}
