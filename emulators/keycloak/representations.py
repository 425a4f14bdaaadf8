"""JSON representations of the admin API, with Keycloak's field order and null omission."""

from __future__ import annotations

from typing import Any

from .builtins import default_role_name
from .http_utils import omit_none
from .models import Client, ClientScope, IdentityProvider, Organization, Realm, Role, User

FULL_ACCESS = {"manageGroupMembership": True, "resetPassword": True, "view": True,
               "mapRoles": True, "impersonate": True, "manage": True}  # fmt: skip


def realm_rep(realm: Realm) -> dict[str, Any]:
    default_role = realm.roles.get(default_role_name(realm))
    rep: dict[str, Any] = {
        "id": realm.id,
        "realm": realm.name,
        "displayName": realm.display_name,
        "notBefore": 0,
        "defaultSignatureAlgorithm": "RS256",
        "revokeRefreshToken": realm.revoke_refresh_token,
        "refreshTokenMaxReuse": 0,
        "accessTokenLifespan": realm.access_token_lifespan,
        "accessCodeLifespan": realm.access_code_lifespan,
        "ssoSessionIdleTimeout": realm.sso_idle,
        "ssoSessionMaxLifespan": realm.sso_max,
        "enabled": realm.enabled,
        "sslRequired": "external",
        "registrationAllowed": realm.registration_allowed,
        "registrationEmailAsUsername": False,
        "rememberMe": False,
        "verifyEmail": False,
        "loginWithEmailAllowed": realm.login_with_email_allowed,
        "duplicateEmailsAllowed": realm.duplicate_emails_allowed,
        "resetPasswordAllowed": False,
        "editUsernameAllowed": realm.edit_username_allowed,
        "bruteForceProtected": False,
        "defaultRole": role_rep(default_role, realm.id) if default_role else None,
        "defaultDefaultClientScopes": list(realm.default_default_scopes),
        "defaultOptionalClientScopes": list(realm.default_optional_scopes),
        "organizationsEnabled": realm.organizations_enabled,
        "attributes": dict(realm.attributes),
    }
    for key, value in realm.extra.items():
        rep.setdefault(key, value)
    return omit_none(rep)


def role_rep(role: Role, container_id: str, client_role: bool = False) -> dict[str, Any]:
    return omit_none(
        {
            "id": role.id,
            "name": role.name,
            "description": role.description,
            "composite": bool(role.composites),
            "clientRole": client_role,
            "containerId": container_id,
        }
    )


def client_rep(client: Client) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "id": client.id,
        "clientId": client.client_id,
        "name": client.name,
        "description": client.description,
        "rootUrl": client.root_url,
        "baseUrl": client.base_url,
        "surrogateAuthRequired": False,
        "enabled": client.enabled,
        "alwaysDisplayInConsole": False,
        "clientAuthenticatorType": "client-secret",
        "secret": None if client.public_client or client.bearer_only else client.secret,
        "redirectUris": list(client.redirect_uris),
        "webOrigins": list(client.web_origins),
        "notBefore": 0,
        "bearerOnly": client.bearer_only,
        "consentRequired": False,
        "standardFlowEnabled": client.standard_flow,
        "implicitFlowEnabled": client.implicit_flow,
        "directAccessGrantsEnabled": client.direct_access_grants,
        "serviceAccountsEnabled": client.service_accounts,
        "publicClient": client.public_client,
        "frontchannelLogout": client.frontchannel_logout,
        "protocol": "openid-connect",
        "attributes": dict(client.attributes),
        "authenticationFlowBindingOverrides": {},
        "fullScopeAllowed": True,
        "nodeReRegistrationTimeout": -1,
        "defaultClientScopes": list(client.default_scopes),
        "optionalClientScopes": list(client.optional_scopes),
        "access": {"view": True, "configure": True, "manage": True},
    }
    for key, value in client.extra.items():
        rep.setdefault(key, value)
    return omit_none(rep)


def user_rep(user: User, *, brief: bool = False, list_entry: bool = False) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "email": user.email,
        "emailVerified": user.email_verified,
    }
    if not brief and user.attributes:
        rep["attributes"] = {key: list(values) for key, values in user.attributes.items()}
    rep["enabled"] = user.enabled
    rep["createdTimestamp"] = user.created_ms
    if brief:
        return omit_none(rep)
    rep.update(
        {
            "totp": False,
            "disableableCredentialTypes": [],
            "requiredActions": list(user.required_actions),
            "notBefore": user.not_before,
        }
    )
    rep["access"] = {"manage": True} if list_entry else dict(FULL_ACCESS)
    return omit_none(rep)


def member_rep(user: User, membership: str, *, brief: bool = True) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "email": user.email,
        "emailVerified": user.email_verified,
        "enabled": user.enabled,
        "createdTimestamp": user.created_ms,
    }
    if not brief:
        if user.attributes:
            rep["attributes"] = {key: list(values) for key, values in user.attributes.items()}
        rep.update(
            {
                "totp": False,
                "disableableCredentialTypes": [],
                "requiredActions": list(user.required_actions),
                "notBefore": user.not_before,
            }
        )
    rep["membershipType"] = membership
    return omit_none(rep)


def organization_rep(org: Organization, *, brief: bool = True) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "id": org.id,
        "name": org.name,
        "alias": org.alias,
        "enabled": org.enabled,
        "description": org.description or None,
        "redirectUrl": org.redirect_url or None,
    }
    if not brief:
        rep["attributes"] = {key: list(values) for key, values in org.attributes.items()}
    if org.domains:
        rep["domains"] = [{"name": d.name, "verified": d.verified} for d in org.domains]
    return omit_none(rep)


def idp_rep(idp: IdentityProvider) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "alias": idp.alias,
        "displayName": idp.display_name,
        "internalId": idp.internal_id,
        "providerId": idp.provider_id,
        "enabled": idp.enabled,
        "updateProfileFirstLoginMode": "on",
        "trustEmail": idp.trust_email,
        "storeToken": False,
        "addReadTokenRoleOnCreate": False,
        "authenticateByDefault": False,
        "linkOnly": False,
        "hideOnLogin": idp.hide_on_login,
        "organizationId": idp.organization_id,
        "config": dict(idp.config),
    }
    for key, value in idp.extra.items():
        rep.setdefault(key, value)
    return omit_none(rep)


def client_scope_rep(scope: ClientScope) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "id": scope.id,
        "name": scope.name,
        "description": scope.description,
        "protocol": scope.protocol,
        "attributes": dict(scope.attributes),
    }
    if scope.mappers:
        rep["protocolMappers"] = [
            {
                "id": m.id,
                "name": m.name,
                "protocol": m.protocol,
                "protocolMapper": m.protocol_mapper,
                "consentRequired": False,
                "config": dict(m.config),
            }
            for m in scope.mappers
        ]
    return omit_none(rep)
