"""Roles and sessions follow Keycloak (b2b-rules section 10), over real HTTP with the emulator:
staff rights follow the realm role at sign-in and re-sync, Keycloak's back-channel logout ends the
portal session at once (on every app instance), and a bad logout token changes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import func, select

from emulators.keycloak.jwt_codec import sign_rs256
from portal.extensions import db
from portal.models import AuditEvent, User
from portal.models.users import EndedSsoSession, UsedLogoutToken
from tests.conftest import KeycloakPortal, _base_config
from tests.support.browser import Browser
from tests.support.emulators import KeycloakAdminApi
from tests.support.live_server import live_server
from tests.support.rows import one

EVENT = "http://schemas.openid.net/event/backchannel-logout"
REALM = "b2b-demo"


def user(email: str) -> User:
    db.session.expire_all()
    return one(User, email=email)


def signed_in(env: Any, browser: Browser, base: str | None = None) -> bool:
    page = browser.get(f"{base or env.portal_url}/learner/", allow_redirects=False)
    if page.status_code == 302:
        assert "/auth/login" in page.headers["Location"]
        return False
    assert page.status_code == 200, page.text[:300]
    return True


def login_sid(u: User) -> str:
    event = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "user.login", AuditEvent.object_id == str(u.id))
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and event.after and event.after.get("sid")
    return str(event.after["sid"])


def realm_keys(env: Any) -> Any:
    store = env.keycloak.extensions["keycloak_emulator"]
    return store.keys(store.realm(REALM))


def claims_for(env: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iat": now,
        "exp": now + 120,
        "jti": str(uuid.uuid4()),
        "iss": f"{env.keycloak_url}/realms/{REALM}",
        "aud": "b2b-portal",
        "typ": "Logout",
        "events": {EVENT: {}},
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def logout_token(env: Any, **changes: Any) -> str:
    """A logout token signed with the realm's key, as Keycloak makes them."""
    return sign_rs256(claims_for(env, **changes), realm_keys(env))


def post_logout(env: Any, token: str, base: str | None = None) -> requests.Response:
    return requests.post(
        f"{base or env.portal_url}/auth/backchannel-logout",
        data={"logout_token": token},
        timeout=10,
    )


def remove_staff_role(api: KeycloakAdminApi, user_id: str) -> None:
    r = requests.delete(
        f"{api.base}/admin/realms/{REALM}/users/{user_id}/role-mappings/realm",
        headers=api.headers,
        json=[{"name": "portal-staff"}],
        timeout=10,
    )
    assert r.status_code == 204, r.text


def audit(action: str, u: User) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.object_id == str(u.id))
        )
    )


# -- staff rights follow the realm role -----------------------------------------------------------


def test_staff_role_removed_in_keycloak_is_not_staff_after_the_next_login(sso: Any) -> None:
    browser, _ = sso.login("staff@portal.example")
    assert browser.get(f"{sso.portal_url}/staff/").status_code == 200
    staff = user("staff@portal.example")
    assert staff.is_staff and staff.staff_from_keycloak

    remove_staff_role(KeycloakAdminApi(sso.keycloak_url), staff.keycloak_sub or "")
    again, final = sso.login("staff@portal.example")
    assert final.status_code == 200
    assert not user("staff@portal.example").is_staff
    assert again.get(f"{sso.portal_url}/staff/").status_code == 403
    (revoked,) = audit("user.staff_revoked", staff)
    assert revoked.before == {"is_staff": True, "staff_from_keycloak": True}
    assert revoked.after == {"is_staff": False, "staff_from_keycloak": False}
    assert "portal-staff" in revoked.reason


def test_staff_role_removed_is_not_staff_after_a_resync(keycloak_portal: KeycloakPortal) -> None:
    from portal.jobs import record_job
    from portal.models import BackgroundJob, JobState

    kc = keycloak_portal
    staff = user("staff@portal.example")
    staff.keycloak_sub = kc.api.user_id("staff@portal.example")
    db.session.commit()

    def resync() -> None:
        job = record_job("keycloak.resync_member", {"user_id": staff.id})
        db.session.commit()
        kc.jobs.run()
        db.session.expire_all()
        done = db.session.get(BackgroundJob, job.id)
        assert done is not None and done.state is JobState.SUCCEEDED, done and done.last_error

    resync()  # the role is there: Keycloak governs her staff right from now on
    assert user("staff@portal.example").staff_from_keycloak
    remove_staff_role(kc.api, staff.keycloak_sub or "")
    resync()
    after = user("staff@portal.example")
    assert not after.is_staff and not after.staff_from_keycloak
    (revoked,) = audit("user.staff_revoked", after)
    assert revoked.actor_kind == "job" and "staff-resync" in revoked.reason


def test_a_local_grant_without_the_role_is_kept(keycloak_portal: KeycloakPortal) -> None:
    """``grant-staff`` (here: demo data) bootstraps staff before Keycloak's role exists: Keycloak
    never governed it, so a re-sync without the role leaves it."""
    from portal.jobs import record_job

    kc = keycloak_portal
    ada = user("learner@acme.example")
    ada.keycloak_sub = kc.api.user_id("learner@acme.example")
    ada.is_staff = True
    db.session.commit()
    record_job("keycloak.resync_member", {"user_id": ada.id})
    db.session.commit()
    kc.jobs.run()
    assert user("learner@acme.example").is_staff


# -- back-channel logout ---------------------------------------------------------------------------


@pytest.fixture
def second_portal(sso: Any, database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another web process of the same portal (same database, same secret key)."""
    from portal import create_app

    app: Flask = create_app(
        _base_config(
            tmp_path / "instance-b",
            database_url,
            KEYCLOAK_SERVER_URL=sso.keycloak_url,
            PUBLIC_BASE_URL=sso.portal_url,
        )
    )
    with live_server(app) as url:
        yield url
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _admin_logout(api: KeycloakAdminApi, user_id: str) -> None:
    r = requests.post(
        f"{api.base}/admin/realms/{REALM}/users/{user_id}/logout", headers=api.headers
    )
    assert r.status_code == 204, r.text


def _disable(api: KeycloakAdminApi, user_id: str) -> None:
    r = requests.put(
        f"{api.base}/admin/realms/{REALM}/users/{user_id}",
        headers=api.headers,
        json={"enabled": False},
        timeout=10,
    )
    assert r.status_code == 204, r.text


@pytest.mark.parametrize("end", [_admin_logout, _disable], ids=["admin logout", "user disabled"])
def test_keycloak_ending_the_session_signs_the_browser_out_at_once(
    sso: Any, second_portal: str, end: Any
) -> None:
    browser, _ = sso.login("learner@acme.example")
    assert signed_in(sso, browser) and signed_in(sso, browser, second_portal)
    ada = user("learner@acme.example")

    end(KeycloakAdminApi(sso.keycloak_url), ada.keycloak_sub or "")

    assert not signed_in(sso, browser)
    assert not signed_in(sso, browser, second_portal)  # the other web process too
    db.session.expire_all()
    assert db.session.get(EndedSsoSession, login_sid(ada)) is not None
    (event,) = audit("user.sso_logout", ada)
    assert event.after and event.after["ended"] == "session"


def test_logout_in_another_client_ends_the_portal_session(sso: Any) -> None:
    """The same Keycloak session ends through another client's RP-initiated logout."""
    browser, _ = sso.login("learner@acme.example")
    ada = user("learner@acme.example")
    other_id_token = sign_rs256(
        {
            "iss": f"{sso.keycloak_url}/realms/{REALM}",
            "aud": "account-console",
            "azp": "account-console",
            "typ": "ID",
            "sub": ada.keycloak_sub,
            "sid": login_sid(ada),
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
        },
        realm_keys(sso),
    )
    page = requests.get(
        f"{sso.keycloak_url}/realms/{REALM}/protocol/openid-connect/logout",
        params={"id_token_hint": other_id_token},
        timeout=10,
    )
    assert page.status_code == 200, page.text[:300]
    assert not signed_in(sso, browser)


def test_a_token_naming_only_the_user_ends_all_their_sessions(sso: Any, second_portal: str) -> None:
    first, _ = sso.login("learner@acme.example")
    second, _ = sso.login("learner@acme.example")
    ada = user("learner@acme.example")
    version = ada.session_version
    r = post_logout(sso, logout_token(sso, sub=ada.keycloak_sub), second_portal)
    assert r.status_code == 200, r.text
    assert not signed_in(sso, first) and not signed_in(sso, second)
    assert user("learner@acme.example").session_version == version + 1


def _forged_signature(env: Any, **changes: Any) -> str:
    key = RSAKey.generate_key(2048)
    kid = realm_keys(env).signing.kid
    return jwt.encode({"alg": "RS256", "kid": kid}, claims_for(env, **changes), key)


def _hs256(env: Any, **changes: Any) -> str:
    return jwt.encode(
        {"alg": "HS256", "kid": realm_keys(env).signing.kid},
        claims_for(env, **changes),
        OctKey.import_key("a-secret-anyone-could-guess-000000"),
        algorithms=["HS256"],
    )


def _unsigned(env: Any, **changes: Any) -> str:
    import base64
    import json

    def seg(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{seg({'alg': 'none', 'typ': 'JWT'})}.{seg(claims_for(env, **changes))}."


BAD_TOKENS = {
    "wrong signature": lambda env, who: _forged_signature(env, **who),
    "HS256 instead of RS256": lambda env, who: _hs256(env, **who),
    "alg none": lambda env, who: _unsigned(env, **who),
    "wrong audience": lambda env, who: logout_token(env, aud="another-client", **who),
    "wrong issuer": lambda env, who: logout_token(
        env, iss=f"{env.keycloak_url}/realms/master", **who
    ),
    "with a nonce": lambda env, who: logout_token(env, nonce="n-0S6_WzA2Mj", **who),
    "no events": lambda env, who: logout_token(env, events=None, **who),
    "another event": lambda env, who: logout_token(
        env, events={"http://schemas.openid.net/event/other": {}}, **who
    ),
    "event not an object": lambda env, who: logout_token(env, events={EVENT: True}, **who),
    "expired": lambda env, who: logout_token(
        env, iat=int(time.time()) - 3600, exp=int(time.time()) - 3500, **who
    ),
    "issued in the future": lambda env, who: logout_token(env, iat=int(time.time()) + 3600, **who),
    "no iat": lambda env, who: logout_token(env, iat=None, **who),
    "no jti": lambda env, who: logout_token(env, jti=None, **who),
    "neither sub nor sid": lambda env, who: logout_token(env, sub=None, sid=None),
    "not a JWT": lambda env, who: "not-a-token",
    "empty": lambda env, who: "",
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_logout_token_is_refused_and_changes_nothing(sso: Any, kind: str) -> None:
    browser, _ = sso.login("learner@acme.example")
    ada = user("learner@acme.example")
    version = ada.session_version
    who = {"sub": ada.keycloak_sub, "sid": login_sid(ada)}
    r = post_logout(sso, BAD_TOKENS[kind](sso, who))
    assert r.status_code == 400, r.text
    assert r.headers["Cache-Control"] == "no-store"
    assert signed_in(sso, browser)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(EndedSsoSession)) == 0
    assert db.session.scalar(select(func.count()).select_from(UsedLogoutToken)) == 0
    assert user("learner@acme.example").session_version == version
    assert audit("user.sso_logout", ada) == []


def test_a_reused_jti_is_refused(sso: Any, second_portal: str) -> None:
    first, _ = sso.login("learner@acme.example")
    ada = user("learner@acme.example")
    jti = str(uuid.uuid4())
    first_use = logout_token(sso, jti=jti, sub=ada.keycloak_sub, sid="other-session")
    assert post_logout(sso, first_use).status_code == 200
    second, _ = sso.login("learner@acme.example")
    replay = logout_token(sso, jti=jti, sub=ada.keycloak_sub, sid=login_sid(ada))
    assert post_logout(sso, replay, second_portal).status_code == 400  # on another process too
    assert post_logout(sso, replay).status_code == 400
    assert signed_in(sso, first) and signed_in(sso, second)


def test_the_endpoint_needs_no_session_or_csrf_and_only_takes_post(sso: Any) -> None:
    assert requests.get(f"{sso.portal_url}/auth/backchannel-logout", timeout=10).status_code == 405
    r = post_logout(sso, logout_token(sso, sub="someone-unknown"))
    assert r.status_code == 200  # valid, though it names nobody the portal knows
