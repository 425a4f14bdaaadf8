"""In-memory data model of the emulated Keycloak: realms and everything that lives in them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class PasswordCredential:
    salt: bytes
    digest: bytes
    temporary: bool
    created_ms: int
    id: str = field(default_factory=new_id)


@dataclass
class FederatedIdentity:
    identity_provider: str
    user_id: str
    user_name: str


@dataclass
class User:
    id: str
    username: str
    created_ms: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    enabled: bool = True
    email_verified: bool = False
    attributes: dict[str, list[str]] = field(default_factory=dict)
    required_actions: list[str] = field(default_factory=list)
    password: PasswordCredential | None = None
    realm_roles: set[str] = field(default_factory=set)
    # client_id (the public clientId) -> role names
    client_roles: dict[str, set[str]] = field(default_factory=dict)
    service_account_client: str | None = None  # internal id of the client
    federated: list[FederatedIdentity] = field(default_factory=list)
    # plain-text password from the realm file, shown in the demo accounts box only
    seed_password: str | None = None
    not_before: int = 0


@dataclass
class Role:
    id: str
    name: str
    description: str | None = None
    composites: set[str] = field(default_factory=set)  # realm role names this role includes


@dataclass
class Client:
    id: str
    client_id: str
    name: str | None = None
    description: str | None = None
    enabled: bool = True
    public_client: bool = False
    bearer_only: bool = False
    secret: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    web_origins: list[str] = field(default_factory=list)
    standard_flow: bool = True
    implicit_flow: bool = False
    direct_access_grants: bool = False
    service_accounts: bool = False
    frontchannel_logout: bool = True
    root_url: str | None = None
    base_url: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    default_scopes: list[str] = field(default_factory=list)
    optional_scopes: list[str] = field(default_factory=list)
    roles: dict[str, Role] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProtocolMapper:
    id: str
    name: str
    protocol_mapper: str
    config: dict[str, str] = field(default_factory=dict)
    protocol: str = "openid-connect"


@dataclass
class ClientScope:
    id: str
    name: str
    description: str | None = None
    protocol: str = "openid-connect"
    attributes: dict[str, str] = field(default_factory=dict)
    mappers: list[ProtocolMapper] = field(default_factory=list)


@dataclass
class Domain:
    name: str
    verified: bool = False


@dataclass
class Organization:
    id: str
    name: str
    alias: str
    enabled: bool = True
    description: str | None = None
    redirect_url: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    domains: list[Domain] = field(default_factory=list)
    # user id -> "MANAGED" | "UNMANAGED"
    members: dict[str, str] = field(default_factory=dict)


@dataclass
class IdentityProvider:
    internal_id: str
    alias: str
    provider_id: str
    enabled: bool = True
    display_name: str | None = None
    config: dict[str, str] = field(default_factory=dict)
    organization_id: str | None = None
    trust_email: bool = False
    hide_on_login: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Invitation:
    id: str
    organization_id: str
    email: str
    sent_at: int
    expires_at: int
    first_name: str | None = None
    last_name: str | None = None
    user_id: str | None = None


@dataclass
class ClientSession:
    client_id: str  # public clientId
    org_pin: str | None = None  # organization id picked by the login flow (Keycloak's kc.org note)


@dataclass
class UserSession:
    id: str
    user_id: str
    auth_time: int
    started: int
    last_refresh: int
    clients: dict[str, ClientSession] = field(default_factory=dict)
    ip_address: str = "127.0.0.1"
    active: bool = True
    # Keycloak's user-session notes: a brokered login sets ``identity_provider`` (the alias of the
    # identity provider used) and ``identity_provider_identity``; a password login sets neither.
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class AuthCode:
    code: str
    client_id: str
    session_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: int
    acr: str


@dataclass
class LoginFlow:
    """Keycloak's authentication session: one browser tab's pending authorization request."""

    tab_id: str
    root_id: str
    client_id: str
    params: dict[str, str]
    created: int
    stage: str = "username"
    attempted_username: str | None = None
    user_id: str | None = None
    org_pin: str | None = None
    idp_alias: str | None = None


@dataclass
class Realm:
    id: str
    name: str
    enabled: bool = True
    display_name: str | None = None
    organizations_enabled: bool = False
    registration_allowed: bool = False
    login_with_email_allowed: bool = True
    duplicate_emails_allowed: bool = False
    edit_username_allowed: bool = False
    access_token_lifespan: int = 300
    access_code_lifespan: int = 60
    sso_idle: int = 1800
    sso_max: int = 36000
    revoke_refresh_token: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    client_scopes: dict[str, ClientScope] = field(default_factory=dict)
    default_default_scopes: list[str] = field(default_factory=list)
    default_optional_scopes: list[str] = field(default_factory=list)
    organizations: dict[str, Organization] = field(default_factory=dict)
    identity_providers: dict[str, IdentityProvider] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)
    sessions: dict[str, UserSession] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    flows: dict[str, LoginFlow] = field(default_factory=dict)
    revoked_token_ids: set[str] = field(default_factory=set)
    used_refresh_ids: set[str] = field(default_factory=set)
