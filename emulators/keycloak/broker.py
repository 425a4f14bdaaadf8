"""Organization identity providers: the emulator shows where Keycloak would redirect, then signs in.

No real identity provider is contacted. Continuing signs in the user whose email was typed; an
unknown email becomes a new MANAGED member, as a first broker login through the organization's IdP.
The login's user session carries the ``identity_provider`` and ``identity_provider_identity``
notes, which an ``oidc-usersessionmodel-note-mapper`` copies into the tokens (keycloak.md section 9).
"""

from __future__ import annotations

from flask import Blueprint, render_template
from werkzeug.wrappers import Response

from .builtins import default_role_name
from .http_utils import base_url, store
from .login_flow import action_url, current_flow, finish_login, flow_query
from .models import FederatedIdentity, LoginFlow, Realm, User, new_id
from .oidc_common import fail_page, realm_or_404

bp = Blueprint("kc_broker", __name__)


def _flow_for(realm: Realm, alias: str) -> LoginFlow:
    flow = current_flow(realm)
    idp = realm.identity_providers.get(alias)
    if flow.stage != "idp" or flow.idp_alias != alias or idp is None or not idp.enabled:
        fail_page("Could not find an identity provider with the identifier.", 400, realm)
    return flow


@bp.get("/realms/<realm_name>/broker/<alias>/login")
def broker_login(realm_name: str, alias: str) -> Response:
    realm = realm_or_404(realm_name)
    flow = _flow_for(realm, alias)
    idp = realm.identity_providers[alias]
    org = realm.organizations.get(idp.organization_id or "")
    html = render_template(
        "idp-redirect.html",
        realm=realm,
        title=realm.display_name or realm.name,
        idp=idp,
        idp_name=idp.display_name or idp.alias,
        organization=org,
        email=flow.attempted_username or "",
        action=f"{base_url()}/realms/{realm.name}/broker/{alias}/endpoint?{flow_query(flow)}",
        restart=action_url(realm, flow, "restart"),
    )
    return Response(html, status=200, mimetype="text/html")


def _brokered_user(realm: Realm, flow: LoginFlow, alias: str) -> User:
    user = realm.users.get(flow.user_id) if flow.user_id else None
    login = (flow.attempted_username or "").strip().lower()
    if user is None and "@" in login:
        user = store().user_by_email(realm, login)
    if user is None:
        if "@" not in login:
            fail_page("Invalid username or email.", 400, realm)
        local = login.split("@", 1)[0]
        user = User(
            id=new_id(), username=login, created_ms=store().now_ms(), email=login,
            email_verified=True, first_name=local.capitalize(),
            realm_roles={default_role_name(realm)},
        )  # fmt: skip
        realm.users[user.id] = user
    if not any(link.identity_provider == alias for link in user.federated):
        user.federated.append(FederatedIdentity(alias, new_id(), user.email or user.username))
    return user


@bp.post("/realms/<realm_name>/broker/<alias>/endpoint")
def broker_endpoint(realm_name: str, alias: str) -> Response:
    realm = realm_or_404(realm_name)
    flow = _flow_for(realm, alias)
    user = _brokered_user(realm, flow, alias)
    if not user.enabled:
        fail_page("Account is disabled, contact your administrator.", 400, realm)
    idp = realm.identity_providers[alias]
    org = realm.organizations.get(idp.organization_id or "")
    if org is not None and user.id not in org.members:
        org.members[user.id] = "MANAGED"
    link = next(f for f in user.federated if f.identity_provider == alias)
    notes = {"identity_provider": alias, "identity_provider_identity": link.user_name}
    return finish_login(realm, flow, user, org.id if org else None, notes)
