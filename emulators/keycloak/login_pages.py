"""The login pages: identity-first username, password, organization choice, or classic form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from werkzeug.wrappers import Response

from .http_utils import base_url, store
from .login_flow import action_url, current_flow, finish_login, flow_query
from .models import IdentityProvider, LoginFlow, Organization, Realm, User
from .oidc_common import realm_or_404
from .scopes import ScopeProblem, parse_org_scope, split_scope

bp = Blueprint("kc_login", __name__)
INVALID_USER = "Invalid username or password."
INVALID_USERNAME_OR_EMAIL = "Invalid username or email."
ACCOUNT_DISABLED = "Account is disabled, contact your administrator."
REDIRECT_EMAIL_MATCHES = "kc.org.broker.redirect.mode.email-matches"


def first_stage(realm: Realm) -> str:
    """Identity-first when organizations are on and at least one exists (as Keycloak 26)."""
    return "username" if realm.organizations_enabled and realm.organizations else "login"


def demo_accounts(realm: Realm) -> list[dict[str, str]]:
    if realm.attributes.get("emulatorShowDemoAccounts", "").lower() != "true":
        return []
    users = [u for u in realm.users.values() if u.seed_password and not u.service_account_client]
    return [
        {"username": u.email or u.username, "password": u.seed_password or "", "name": _name(u)}
        for u in sorted(users, key=lambda u: u.username)
    ]


def _name(user: User) -> str:
    return " ".join(part for part in (user.first_name, user.last_name) if part)


def _user_orgs(realm: Realm, flow: LoginFlow) -> list[Organization]:
    if not flow.user_id:
        return []
    return store().user_organizations(realm, flow.user_id, enabled_only=True)


def render_stage(
    realm: Realm, flow: LoginFlow, error: str | None = None, status: int = 200
) -> Response:
    template = {
        "login": "login.html",
        "username": "login-username.html",
        "password": "login-password.html",
        "select-organization": "select-organization.html",
    }.get(flow.stage, "login.html")
    context: dict[str, Any] = {
        "realm": realm,
        "title": realm.display_name or realm.name,
        "action": action_url(realm, flow),
        "restart": action_url(realm, flow, "restart"),
        "error": error,
        "username": flow.attempted_username or "",
        "demo_accounts": demo_accounts(realm) if flow.stage in ("login", "username") else [],
        "organizations": _user_orgs(realm, flow) if flow.stage == "select-organization" else [],
    }
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store, must-revalidate, max-age=0"
    return response


def organization_idp(realm: Realm, user: User | None, login: str) -> IdentityProvider | None:
    """The org IdP a username redirects to: a managed member's IdP, or an email-domain match."""
    linked = [
        idp for idp in realm.identity_providers.values() if idp.organization_id and idp.enabled
    ]
    if user is not None:
        for link in user.federated:
            for idp in linked:
                org = realm.organizations.get(idp.organization_id or "")
                if idp.alias == link.identity_provider and org and user.id in org.members:
                    return idp
    email = user.email if user is not None and user.email else login
    if "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].lower()
    org = store().organization_by_domain(realm, domain)
    if org is None or not org.enabled:
        return None
    for idp in linked:
        if idp.organization_id != org.id or idp.config.get(REDIRECT_EMAIL_MATCHES) != "true":
            continue
        if idp.config.get("kc.org.domain", "").lower() in (domain, "any"):
            return idp
    return None


def _wants_selection(realm: Realm, flow: LoginFlow) -> bool:
    try:
        org_scope = parse_org_scope(split_scope(flow.params.get("scope")))
    except ScopeProblem:
        return False
    return (
        org_scope is not None
        and org_scope.form == "single"
        and realm.organizations_enabled
        and len(_user_orgs(realm, flow)) > 1
    )


def _redirect(location: str) -> Response:
    response = Response(b"", status=302)
    response.headers["Location"] = location
    return response


@bp.route("/realms/<realm_name>/login-actions/authenticate", methods=["GET", "POST"])
def authenticate(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    flow = current_flow(realm)
    if request.method == "GET":
        return render_stage(realm, flow)
    if flow.stage == "username":
        return _username_step(realm, flow)
    if flow.stage == "select-organization":
        return _select_step(realm, flow)
    if flow.stage == "password":
        return _password_step(realm, flow)
    if flow.stage == "idp" and flow.idp_alias:
        return _redirect(broker_url(realm, flow, flow.idp_alias))
    return _classic_step(realm, flow)


@bp.get("/realms/<realm_name>/login-actions/restart")
def restart(realm_name: str) -> Response:
    realm = realm_or_404(realm_name)
    flow = current_flow(realm)
    flow.stage = first_stage(realm)
    flow.user_id = flow.org_pin = flow.idp_alias = None
    return _redirect(action_url(realm, flow))


def broker_url(realm: Realm, flow: LoginFlow, alias: str) -> str:
    return f"{base_url()}/realms/{realm.name}/broker/{alias}/login?{flow_query(flow)}"


def _username_step(realm: Realm, flow: LoginFlow) -> Response:
    value = request.form.get("username", "").strip()
    if not value:
        return render_stage(realm, flow, INVALID_USERNAME_OR_EMAIL)
    flow.attempted_username = value
    user = store().user_by_login(realm, value)
    flow.user_id = user.id if user else None
    idp = organization_idp(realm, user, value)
    if idp is not None:
        flow.stage = "idp"
        flow.idp_alias = idp.alias
        flow.org_pin = idp.organization_id
        return _redirect(broker_url(realm, flow, idp.alias))
    flow.stage = "select-organization" if user and _wants_selection(realm, flow) else "password"
    return render_stage(realm, flow)


def _select_step(realm: Realm, flow: LoginFlow) -> Response:
    alias = request.form.get("kc.org", "")
    chosen = next((org for org in _user_orgs(realm, flow) if org.alias == alias), None)
    if chosen is None:
        return render_stage(realm, flow, "Select an organization to proceed:")
    flow.org_pin = chosen.id
    flow.stage = "password"
    return render_stage(realm, flow)


def _check_and_finish(realm: Realm, flow: LoginFlow, user: User | None) -> Response:
    password = request.form.get("password", "")
    if user is None or not password or not store().check_password(user, password):
        return render_stage(realm, flow, INVALID_USER)
    if not user.enabled:
        return render_stage(realm, flow, ACCOUNT_DISABLED)
    return finish_login(realm, flow, user, flow.org_pin)


def _password_step(realm: Realm, flow: LoginFlow) -> Response:
    user = realm.users.get(flow.user_id) if flow.user_id else None
    return _check_and_finish(realm, flow, user)


def _classic_step(realm: Realm, flow: LoginFlow) -> Response:
    value = request.form.get("username", "").strip()
    flow.attempted_username = value or flow.attempted_username
    user = store().user_by_login(realm, value) if value else None
    return _check_and_finish(realm, flow, user)
