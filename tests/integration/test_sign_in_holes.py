"""Two holes in sign-in, closed (issue 14, 8a/8b), over real HTTP with the emulator: an ``error``
on the callback never shows the text in the URL nor ends a session it does not belong to, and an
email address from Keycloak is validated before anything is stored."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User
from tests.support.browser import Browser

ATTACKER_TEXT = "Your account is locked \u202eemoc.live//:sptth\u202c call +1 555 0100 now"


def signed_in(env: Any, browser: Browser) -> bool:
    page = browser.get(f"{env.portal_url}/learner/", allow_redirects=False)
    return page.status_code == 200


def users() -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count(User.id))) or 0)


def callback(env: Any, **params: str) -> str:
    return f"{env.portal_url}/auth/callback?{urlencode(params)}"


@pytest.mark.parametrize("state", [None, "made-up-state"])
def test_an_error_link_keeps_the_session_and_shows_only_the_portals_words(
    sso: Any, state: str | None
) -> None:
    browser, _ = sso.login("learner@acme.example")
    params = {"error": "access_denied", "error_description": ATTACKER_TEXT}
    if state:
        params["state"] = state
    page = browser.get(callback(sso, **params))
    assert page.status_code == 400
    assert "does not belong to a sign-in started in this browser" in page.text
    assert "locked" not in page.text and "\u202e" not in page.text and "555" not in page.text
    assert signed_in(sso, browser)  # a link someone sent does not sign anyone out


def test_an_error_for_this_browsers_sign_in_shows_a_fixed_message(sso: Any) -> None:
    browser = Browser()
    start = browser.get(f"{sso.portal_url}/auth/login", allow_redirects=False)
    assert start.status_code == 302
    from urllib.parse import parse_qs, urlsplit

    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    page = browser.get(
        callback(sso, error="server_error", error_description=ATTACKER_TEXT, state=state)
    )
    assert page.status_code == 400
    assert "Keycloak had an internal error during the sign-in" in page.text
    assert "locked" not in page.text and "\u202e" not in page.text
    again = browser.get(
        callback(sso, error="server_error", state=state)
    )  # that sign-in is over: its state went with the session
    assert "does not belong to a sign-in started in this browser" in again.text


def test_an_unknown_error_code_is_not_echoed(sso: Any) -> None:
    browser = Browser()
    page = browser.get(callback(sso, error="<b>pwned</b>", error_description="x"))
    assert page.status_code == 400 and "pwned" not in page.text


def _set_email(env: Any, username: str, email: str) -> None:
    store = env.keycloak.extensions["keycloak_emulator"]
    realm = store.realm("b2b-demo")
    (account,) = [u for u in realm.users.values() if u.username == username]
    account.email = email


@pytest.mark.parametrize(
    "email",
    [
        "newcomer\u202e@example.com",  # right-to-left override
        "new\u200bcomer@example.com",  # zero-width space
        "newcomer@exa\u0007mple.com",  # a control character
        "not-an-email",
        "newcomer@example..com",
    ],
    ids=["RLO", "zero-width", "control", "no at-sign", "bad domain"],
)
def test_an_invalid_email_from_keycloak_is_refused_and_nothing_is_stored(
    sso: Any, email: str
) -> None:
    before = users()
    _set_email(sso, "newcomer@example.com", email)
    browser = Browser()
    start = browser.get(f"{sso.portal_url}/auth/login")
    final = browser.keycloak_login(start, "newcomer@example.com")
    assert final.status_code == 400
    assert "not a valid address" in final.text and "nothing was stored" in final.text
    assert users() == before
    assert not signed_in(sso, browser)


def test_a_valid_email_is_normalized(sso: Any) -> None:
    _set_email(sso, "newcomer@example.com", "  NewComer@Example.COM ")
    browser = Browser()
    final = browser.keycloak_login(
        browser.get(f"{sso.portal_url}/auth/login"), "newcomer@example.com"
    )
    assert final.status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(User).where(User.email == "newcomer@example.com")) is not None
