"""Signing in through the Keycloak emulator over real HTTP, and membership at login."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Membership, MembershipSource, Organization, User
from tests.support.rows import one


def user(email: str) -> User:
    db.session.expire_all()
    return one(User, email=email)


def member_keys(u: User) -> set[str]:
    return set(
        db.session.scalars(
            select(Organization.key)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == u.id)
        )
    )


def test_learner_signs_in_and_joins_the_claimed_organization(sso: Any) -> None:
    _browser, final = sso.login("learner@acme.example")
    assert final.status_code == 200
    assert final.url == f"{sso.portal_url}/learner/"
    assert "Acme Corporation" in final.text and "Signed in as Ada Lovelace" in final.text
    ada = user("learner@acme.example")
    assert ada.keycloak_sub and ada.email_verified and not ada.is_staff
    assert member_keys(ada) == {"ACME"}
    membership = db.session.scalar(select(Membership).where(Membership.user_id == ada.id))
    assert membership.source is MembershipSource.SSO
    assert (
        db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.login")) is not None
    )


def test_the_staff_role_makes_staff(sso: Any) -> None:
    browser, final = sso.login("staff@portal.example")
    assert final.status_code == 200
    assert user("staff@portal.example").is_staff
    assert browser.get(f"{sso.portal_url}/staff/").status_code == 200


def test_learner_without_the_role_is_not_staff(sso: Any) -> None:
    browser, _ = sso.login("newcomer@example.com")
    assert browser.get(f"{sso.portal_url}/staff/").status_code == 403
    assert member_keys(user("newcomer@example.com")) == set()


def test_pre_made_account_is_linked_by_verified_email(sso: Any) -> None:
    """Grace exists before her first sign-in (demo data made her Acme's admin): she is linked to
    her Keycloak account, keeps the admin flag, and the claim confirms her hand-made membership."""
    before = user("admin@acme.example")
    assert before.keycloak_sub is None
    browser, _ = sso.login("admin@acme.example")
    after = user("admin@acme.example")
    assert after.id == before.id and after.keycloak_sub
    membership = db.session.scalar(select(Membership).where(Membership.user_id == after.id))
    assert membership.is_manager and membership.keep_until_seen is False
    assert browser.get(f"{sso.portal_url}/org/ACME/").status_code == 200


def test_next_is_honoured_and_open_redirects_are_not(sso: Any) -> None:
    browser = sso.browser()
    start = browser.get(f"{sso.portal_url}/staff/users")  # deny by default: sent to sign in
    assert urlsplit(start.url).path.endswith("/openid-connect/auth")
    final = browser.keycloak_login(start, "staff@portal.example")
    assert final.url == f"{sso.portal_url}/staff/users"

    _, evil = sso.login("newcomer@example.com", next_path="https://evil.example/")
    assert evil.url == f"{sso.portal_url}/learner/"


def test_session_is_replaced_at_sign_in(sso: Any) -> None:
    browser = sso.browser()
    start = browser.get(f"{sso.portal_url}/auth/login")
    before = browser.http.cookies.get("session", domain="127.0.0.1")
    browser.keycloak_login(start, "newcomer@example.com")
    after = browser.http.cookies.get("session", domain="127.0.0.1")
    assert before and after and before != after
    with sso.app.test_request_context():
        data = sso.app.session_interface.get_signing_serializer(sso.app).loads(after)
    assert "_user_id" in data
    assert not any(key.startswith("_state_") for key in data)  # the login's state is gone
    assert "login_next" not in data


def test_logout_ends_both_sessions(sso: Any) -> None:
    browser, _ = sso.login("learner@acme.example")
    token = browser.csrf_token(f"{sso.portal_url}/learner/")
    out = browser.post(
        f"{sso.portal_url}/auth/logout", data={"csrf_token": token}, allow_redirects=False
    )
    assert out.status_code == 302
    location = out.headers["Location"]
    assert location.startswith(f"{sso.keycloak_url}/realms/b2b-demo/protocol/openid-connect/logout")
    query = parse_qs(urlsplit(location).query)
    assert query["post_logout_redirect_uri"] == [f"{sso.portal_url}/"]
    assert query["id_token_hint"][0].count(".") == 2
    home = browser.get(location)
    assert home.url == f"{sso.portal_url}/" or home.url.startswith(f"{sso.portal_url}/?state=")
    assert browser.get(f"{sso.portal_url}/learner/").url.startswith(sso.keycloak_url)
    # Keycloak's session ended too: signing in again asks for the username, no silent SSO.
    again = browser.get(f"{sso.portal_url}/auth/login")
    assert 'name="username"' in again.text


def test_logout_needs_post_and_csrf(sso: Any) -> None:
    browser, _ = sso.login("learner@acme.example")
    assert browser.get(f"{sso.portal_url}/auth/logout").status_code == 405
    refused = browser.post(f"{sso.portal_url}/auth/logout", data={}, allow_redirects=False)
    # The tests' apps run with CSRF off except where they say so; this app has it off, so the
    # POST itself is the guard here. CSRF on every form is proven in tests/portal/test_pages.py.
    assert refused.status_code == 302
