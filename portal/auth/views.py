"""Signing in and out through Keycloak (OpenID Connect code flow with PKCE, state and nonce).

The callback refuses, with a clear page and no session: a missing or wrong ``state``, an ``iss``
parameter from another issuer, an error returned by Keycloak, a code Keycloak will not exchange (e.g.
replayed), an ID token with a bad signature, wrong issuer or audience, wrong nonce, or expired.
"""

from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from portal.core.access import SESSION_VERSION_KEY, safe_next
from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.integrations import keycloak_oidc
from portal.integrations.keycloak_oidc import SignInError
from portal.services.audit import record_event
from portal.services.memberships import (
    MalformedClaim,
    parse_organization_claim,
    reconcile_memberships,
)
from portal.services.users import user_from_claims

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

UNREACHABLE = (
    "The sign-in service (Keycloak) cannot be reached right now. Nothing was changed; please try "
    "again in a few minutes."
)


def _failure(message: str, status: int = 400) -> tuple[str, int]:
    session.clear()
    return render_template("auth/failed.html", message=message), status


def _public_url(endpoint: str) -> str:
    """Where Keycloak sends people back: always PUBLIC_BASE_URL, never the request's Host header
    (which a client chooses)."""
    return current_app.config["PORTAL"].public_base_url.rstrip("/") + url_for(endpoint)


@bp.get("/login")
def login() -> Response | tuple[str, int]:
    target = safe_next(request.args.get("next"), default=url_for("learner.dashboard"))
    if current_user.is_authenticated:
        return redirect(target)
    session["login_next"] = target
    try:
        redirect_uri = _public_url("auth.callback")
        response: Response = keycloak_oidc.client().authorize_redirect(redirect_uri)
        return response
    except (requests.RequestException, ValueError, KeyError) as exc:
        log.warning("keycloak unreachable at login: %s", exc)
        return _failure(UNREACHABLE, 503)


@bp.get("/callback")
def callback() -> Response | tuple[str, int]:
    target = safe_next(session.get("login_next"), default=url_for("learner.dashboard"))
    try:
        token = _verified_token()
        claims = token["userinfo"]
        roles = keycloak_oidc.realm_roles(token["access_token"])
        user = user_from_claims(claims, is_staff_by_role=keycloak_oidc.staff_role() in roles)
        try:
            claimed = parse_organization_claim(claims.get("organization"))
        except MalformedClaim as exc:
            log.warning("organization claim ignored for %s: %s", user.email, exc)
        else:
            reconcile_memberships(user, claimed)
        record_event(
            "user.login", "user", user.id, actor_id=user.id, after={"sid": claims.get("sid")}
        )
        # Committed before the session names the user, not with the request: if the account and
        # its memberships could not be stored, the browser must not come out signed in with what
        # the database does not hold (the request's commit comes after the cookie is set).
        db.session.commit()
    except SignInError as exc:
        return _failure(exc.message, exc.status)
    except MismatchingStateError:
        return _failure(
            "This sign-in attempt expired or was already used, so it was refused. Please sign in again."
        )
    except JoseError as exc:
        log.warning("id token refused: %s", exc)
        return _failure(
            f"The sign-in token failed verification ({exc.error}), so it was refused. "
            "Please sign in again."
        )
    except AuthlibBaseError as exc:
        log.warning("token exchange refused: %s", exc)
        detail = getattr(exc, "description", None) or getattr(exc, "error", None) or "refused"
        return _failure(f"Keycloak did not complete the sign-in: {detail}. Please sign in again.")
    except DomainError as exc:
        return _failure(exc.message, exc.status)
    except requests.RequestException as exc:
        log.warning("keycloak unreachable at callback: %s", exc)
        return _failure(UNREACHABLE, 503)

    session.clear()  # a fresh session at sign-in: nothing from before survives
    login_user(user)
    session[SESSION_VERSION_KEY] = user.session_version or 0
    session["id_token"] = token.get("id_token")
    flash(f"Signed in as {user.display_name}.", "success")
    return redirect(target)


def _verified_token() -> dict:
    if error := request.args.get("error"):
        description = request.args.get("error_description") or error
        raise SignInError(f"Keycloak refused the sign-in: {description}.")
    if "state" not in request.args or "code" not in request.args:
        raise SignInError(
            "The sign-in response is incomplete (no state or code), so it was refused."
        )
    expected_issuer = keycloak_oidc.issuer()
    returned_issuer = request.args.get("iss")
    if returned_issuer is not None and returned_issuer != expected_issuer:
        raise SignInError("The sign-in response came from an unexpected issuer, so it was refused.")
    client_id = current_app.config["PORTAL"].keycloak_client_id
    token: dict = keycloak_oidc.client().authorize_access_token(
        claims_options={
            "iss": {"essential": True, "values": [expected_issuer]},
            "aud": {"essential": True, "values": [client_id]},
        }
    )
    if not token.get("userinfo") or not token.get("access_token"):
        raise SignInError("Keycloak returned no ID token, so the sign-in was refused.")
    return token


@bp.post("/logout")
def logout() -> Response:
    """Ends the portal session, then Keycloak's (RP-initiated logout with ``id_token_hint``)."""
    id_token = session.get("id_token")
    if current_user.is_authenticated:
        record_event("user.logout", "user", current_user.id)
        current_user.session_version += 1  # every copy of this session's cookie stops working
        # Committed before this session is cleared and the browser leaves for Keycloak: if it
        # could not be stored, the person must still be signed in here to try again, not signed
        # out of this copy of the cookie while every other copy keeps working.
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    if id_token:
        try:
            result = keycloak_oidc.client().create_logout_url(
                post_logout_redirect_uri=_public_url("core.home"),
                id_token_hint=id_token,
            )
            return redirect(result["url"])
        except (requests.RequestException, RuntimeError, KeyError) as exc:
            log.warning("keycloak logout skipped: %s", exc)
    return redirect(url_for("core.home"))
