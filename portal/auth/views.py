"""Signing in and out through Keycloak (OpenID Connect code flow with PKCE, state and nonce).

The callback refuses, with a clear page and no session: a missing or wrong ``state``, an ``iss``
parameter from another issuer, an error returned by Keycloak, a code Keycloak will not exchange (e.g.
replayed), an ID token with a bad signature, wrong issuer or audience, wrong nonce, or expired.
An ``error`` from Keycloak is shown in the portal's own words, and ends the session only when it
answers a sign-in this browser started (its ``state`` is pending); a link someone sent changes nothing.

``/auth/backchannel-logout`` is Keycloak's back-channel logout (OpenID Connect Back-Channel Logout
1.0): public, CSRF-exempt, rate-limited on refusals; the sign-in remembers the Keycloak ``sid`` so a
session Keycloak ends is signed out at its next request, on every web process.
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
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from joserfc.errors import JoseError
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from portal.core.access import SESSION_VERSION_KEY, safe_next
from portal.core.domain_errors import DomainError
from portal.core.text import LazyText
from portal.core.text import lazy_gettext as _l
from portal.extensions import csrf, db, limiter
from portal.i18n import remember_locale
from portal.integrations import keycloak_oidc
from portal.integrations.keycloak_oidc import LogoutTokenError, SignInError
from portal.models import User
from portal.services.audit import record_event
from portal.services.memberships import (
    MalformedClaim,
    identity_provider_of,
    parse_organization_claim,
    reconcile_memberships,
)
from portal.services.organization_contracts import managed_organizations
from portal.services.sso_sessions import (
    ReplayedLogoutToken,
    end_sso_sessions,
    sso_session_ended,
)
from portal.services.users import user_from_claims

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

UNREACHABLE = _l(
    "The sign-in service (Keycloak) cannot be reached right now. Nothing was changed; please try "
    "again in a few minutes."
)


# The Keycloak session (``sid``) this portal session was signed in through: back-channel logout
# ends the portal sessions of a ``sid`` Keycloak ended (``services/sso_sessions.py``).
SSO_SID_KEY = "_kc_sid"

# ``?error=`` on the callback: the page shows the portal's own words for the OAuth error code, never
# the text in the URL (anyone can send a link with any ``error_description``).
KEYCLOAK_ERRORS = {
    "access_denied": _l("Keycloak refused the sign-in (access denied)"),
    "login_required": _l("Keycloak needs you to sign in again"),
    "interaction_required": _l("Keycloak needs you to complete the sign-in in its pages"),
    "consent_required": _l("Keycloak needs your consent to sign you in"),
    "account_selection_required": _l("Keycloak needs you to choose an account"),
    "invalid_request": _l("Keycloak refused the sign-in request as invalid"),
    "invalid_scope": _l("Keycloak refused the requested scopes"),
    "unauthorized_client": _l("Keycloak does not allow the portal to sign you in this way"),
    "unsupported_response_type": _l("Keycloak refused the sign-in request as invalid"),
    "server_error": _l("Keycloak had an internal error during the sign-in"),
    "temporarily_unavailable": _l("Keycloak is temporarily unavailable"),
}
# Descriptions Keycloak itself sends, shown in the portal's words when they come back to a
# sign-in this browser started; any other text is never shown.
KEYCLOAK_DESCRIPTIONS = {
    "User cancelled": _l("Keycloak refused the sign-in: User cancelled"),
    "Missing parameter: code_challenge": _l(
        "Keycloak refused the sign-in: a PKCE challenge is missing"
    ),
    "Missing parameter: code_challenge_method": _l(
        "Keycloak refused the sign-in: a PKCE challenge method is missing"
    ),
}
UNKNOWN_ERROR = _l("Keycloak did not complete the sign-in")
FOREIGN_ERROR = _l(
    "This sign-in response does not belong to a sign-in started in this browser, so it was "
    "ignored. Nothing was changed."
)
# Keycloak sends one logout token per ended session, from its own address: only refused tokens
# count against the limit, so a burst of real logouts (a user disabled) is never throttled.
BACKCHANNEL_LIMIT = "30 per minute;300 per hour"


def _failure(message: str | LazyText, status: int = 400) -> tuple[str, int]:
    session.clear()
    return render_template("auth/failed.html", message=message), status


def _pending_sign_in(state: str | None) -> bool:
    """Whether ``state`` is that of a sign-in this browser started (authlib keeps it in the session)."""
    return bool(state) and f"_state_{keycloak_oidc.CLIENT_NAME}_{state}" in session


def _keycloak_error() -> tuple[str, int]:
    """``?error=`` on the callback. For a sign-in this browser started, that sign-in failed: the
    session is cleared and a fixed message shown. Anything else (a link someone sent) changes
    nothing, the current session included, and shows a fixed message."""
    if not _pending_sign_in(request.args.get("state")):
        log.info("callback error without a pending sign-in ignored")
        return render_template("auth/failed.html", message=FOREIGN_ERROR), 400
    description = request.args.get("error_description") or ""
    error = request.args.get("error") or ""
    message = KEYCLOAK_DESCRIPTIONS.get(description) or KEYCLOAK_ERRORS.get(error, UNKNOWN_ERROR)
    return _failure(_("%(reason)s. Please sign in again.", reason=message))


@bp.before_app_request
def end_sessions_keycloak_ended() -> None:
    """A portal session whose Keycloak session was ended by back-channel logout is signed out at
    its next request, whichever web process took the logout (one primary-key lookup)."""
    sid = session.get(SSO_SID_KEY)
    if not sid or request.endpoint == "static" or "_user_id" not in session:
        return
    if sso_session_ended(str(sid)):
        logout_user()
        session.clear()


def _public_url(endpoint: str) -> str:
    """Where Keycloak sends people back: always PUBLIC_BASE_URL, never the request's Host header
    (which a client chooses)."""
    return current_app.config["PORTAL"].public_base_url.rstrip("/") + url_for(endpoint)


def landing(user: User) -> str:
    """Where a sign-in lands when no page was asked for: staff on the staff overview, an
    organization's admin on its overview (on "My organizations" when they manage several),
    everyone else on "My learning"."""
    if user.is_staff:
        return url_for("staff.index")
    managed = managed_organizations(user)
    if len(managed) == 1:
        return url_for("org_admin.overview", org_key=managed[0].key)
    return url_for("org_admin.index") if managed else url_for("learner.dashboard")


@bp.get("/login")
def login() -> Response | tuple[str, int]:
    # Only a page of our own that was asked for (``next``) is kept; without one, the user's role
    # decides where the sign-in lands (``landing``).
    requested = safe_next(request.args.get("next"), default="")
    if current_user.is_authenticated:
        return redirect(requested or landing(current_user))
    if requested:
        session["login_next"] = requested
    else:
        session.pop("login_next", None)
    try:
        redirect_uri = _public_url("auth.callback")
        response: Response = keycloak_oidc.client().authorize_redirect(redirect_uri)
        return response
    except (requests.RequestException, ValueError, KeyError) as exc:
        log.warning("keycloak unreachable at login: %s", exc)
        return _failure(UNREACHABLE, 503)


@bp.get("/callback")
def callback() -> Response | tuple[str, int]:
    requested = safe_next(session.get("login_next"), default="")
    if "error" in request.args:
        return _keycloak_error()
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
            reconcile_memberships(user, claimed, identity_provider=identity_provider_of(claims))
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
            _(
                "This sign-in attempt expired or was already used, so it was refused. Please sign "
                "in again."
            )
        )
    except JoseError as exc:
        log.warning("id token refused: %s", exc)
        return _failure(
            _(
                "The sign-in token failed verification (%(error)s), so it was refused. "
                "Please sign in again.",
                error=exc.error,
            )
        )
    except AuthlibBaseError as exc:
        log.warning("token exchange refused: %s", exc)
        detail = getattr(exc, "description", None) or getattr(exc, "error", None) or "refused"
        return _failure(
            _(
                "Keycloak did not complete the sign-in: %(detail)s. Please sign in again.",
                detail=detail,
            )
        )
    except DomainError as exc:
        return _failure(exc.message, exc.status)
    except requests.RequestException as exc:
        log.warning("keycloak unreachable at callback: %s", exc)
        return _failure(UNREACHABLE, 503)

    session.clear()  # a fresh session at sign-in: nothing from before survives
    login_user(user)
    remember_locale(user)  # the emails sent to them later speak the language they sign in with
    session[SESSION_VERSION_KEY] = user.session_version or 0
    session["id_token"] = token.get("id_token")
    if isinstance(claims.get("sid"), str) and claims["sid"]:
        session[SSO_SID_KEY] = claims["sid"]
    flash(_("Signed in as %(name)s.", name=user.display_name), "success")
    return redirect(requested or landing(user))


def _verified_token() -> dict:
    if "state" not in request.args or "code" not in request.args:
        raise SignInError(
            _("The sign-in response is incomplete (no state or code), so it was refused.")
        )
    expected_issuer = keycloak_oidc.issuer()
    returned_issuer = request.args.get("iss")
    if returned_issuer is not None and returned_issuer != expected_issuer:
        raise SignInError(
            _("The sign-in response came from an unexpected issuer, so it was refused.")
        )
    client_id = current_app.config["PORTAL"].keycloak_client_id
    token: dict = keycloak_oidc.client().authorize_access_token(
        claims_options={
            "iss": {"essential": True, "values": [expected_issuer]},
            "aud": {"essential": True, "values": [client_id]},
        }
    )
    if not token.get("userinfo") or not token.get("access_token"):
        raise SignInError(_("Keycloak returned no ID token, so the sign-in was refused."))
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
    flash(_("You are signed out."), "info")
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


@bp.post("/backchannel-logout")
@csrf.exempt
@limiter.limit(BACKCHANNEL_LIMIT, deduct_when=lambda response: response.status_code != 200)
def backchannel_logout() -> Response:
    """OpenID Connect Back-Channel Logout 1.0: Keycloak posts ``logout_token`` when a session ends
    centrally (admin logout, user disabled, logout in another client). A valid token ends the
    portal sessions it names at once and answers 200; any bad token answers 400 and changes
    nothing (section 2.8)."""
    try:
        token = keycloak_oidc.verify_logout_token(request.form.get("logout_token", ""))
        outcome = end_sso_sessions(token, keep_ended_for=current_app.permanent_session_lifetime)
        db.session.commit()
    except LogoutTokenError as exc:
        log.warning("back-channel logout token refused: %s", exc.reason)
        return _backchannel_answer(400)
    except (ReplayedLogoutToken, IntegrityError):
        db.session.rollback()
        log.warning("back-channel logout token refused: jti already used")
        return _backchannel_answer(400)
    except requests.RequestException as exc:
        log.warning("back-channel logout: Keycloak's keys unreachable: %s", exc)
        return _backchannel_answer(503)
    log.info("back-channel logout: %s", outcome)
    return _backchannel_answer(200)


def _backchannel_answer(status: int) -> Response:
    body = b"" if status == 200 else b'{"error":"invalid_request"}'
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response
