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


def test_each_role_lands_on_its_own_page(sso: Any) -> None:
    """Issue 17, item 3: without a page asked for, staff land on the staff overview, an admin of
    one organization on its overview, and a learner on My learning."""
    _, staff = sso.login("staff@portal.example")
    assert staff.url == f"{sso.portal_url}/staff/" and "Signed in as" in staff.text
    _, admin = sso.login("admin@acme.example")
    assert admin.url == f"{sso.portal_url}/org/ACME/" and "Signed in as Grace" in admin.text
    _, learner = sso.login("learner@acme.example")
    assert learner.url == f"{sso.portal_url}/learner/"


def test_an_admin_of_several_organizations_lands_on_my_organizations(sso: Any) -> None:
    grace = user("admin@acme.example")
    initech = Organization(name="Initech", key="INITECH")  # the portal's own: no Keycloak id
    db.session.add(initech)
    db.session.flush()
    db.session.add(
        Membership(
            user_id=grace.id,
            organization_id=initech.id,
            is_manager=True,
            source=MembershipSource.STAFF,
        )
    )
    db.session.commit()
    browser, final = sso.login("admin@acme.example")
    assert final.url == f"{sso.portal_url}/org/"
    assert "Acme Corporation" in final.text and "Initech" in final.text
    # Signed in already: the sign-in link goes to the same page, or to the page asked for.
    assert browser.get(f"{sso.portal_url}/auth/login").url == f"{sso.portal_url}/org/"
    asked = browser.get(f"{sso.portal_url}/auth/login?next=/learner/orders")
    assert asked.url == f"{sso.portal_url}/learner/orders"


def test_a_page_asked_for_wins_over_the_role_landing(sso: Any) -> None:
    _, admin = sso.login("admin@acme.example", next_path="/learner/")
    assert admin.url == f"{sso.portal_url}/learner/"
    browser = sso.browser()
    start = browser.get(f"{sso.portal_url}/org/ACME/learners")  # deny by default keeps the page
    final = browser.keycloak_login(start, "admin@acme.example")
    assert final.url == f"{sso.portal_url}/org/ACME/learners"
    _, evil = sso.login("staff@portal.example", next_path="https://evil.example/")
    assert evil.url == f"{sso.portal_url}/staff/"  # not a page of ours: the role decides


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


def test_the_language_they_sign_in_with_is_kept_for_their_emails(sso: Any) -> None:
    """Issue 17, item 9: a browser asking for French signs in to French pages, and the portal
    keeps that language for the emails it sends them later; another stays English."""
    browser = sso.browser()
    browser.http.headers["Accept-Language"] = "fr-FR,fr;q=0.9,en;q=0.5"
    start = browser.get(f"{sso.portal_url}/auth/login")
    final = browser.keycloak_login(start, "learner@acme.example")
    assert final.status_code == 200
    assert "Connexion établie en tant que Ada Lovelace." in final.text
    assert user("learner@acme.example").locale == "fr"
    _, english = sso.login("admin@acme.example")
    assert "Signed in as Grace" in english.text
    assert user("admin@acme.example").locale == "en"
