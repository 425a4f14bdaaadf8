"""The session at sign-in and sign-out.

``tests/integration/test_login.py::test_session_is_replaced_at_sign_in`` shows the cookie changes
and the login's own state is gone. Here: whatever else the session held before sign-in (values an
attacker planted in a session they handed the victim, or a CSRF token they know) is gone after the
OpenID callback, and the cookie it sets is HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.security.conftest import SecurityWorld, sign_in


def _cookie(browser: Any) -> str:
    value = browser.http.cookies.get("session", domain="127.0.0.1")
    assert value
    return str(value)


def test_values_planted_before_sign_in_are_gone_after_the_callback(sso: Any) -> None:
    serializer = sso.app.session_interface.get_signing_serializer(sso.app)
    browser = sso.browser()
    start = browser.get(f"{sso.portal_url}/auth/login?next=/learner/")
    with sso.app.test_request_context():
        before = serializer.loads(_cookie(browser))
        assert any(key.startswith("_state_") for key in before)  # the login's own state
        planted = {
            **before,
            "csrf_token": "attacker-knows-this-token",
            "planted": "by-the-attacker",
            "_flashes": [("info", "planted message")],
        }
        browser.http.cookies.set("session", serializer.dumps(planted), domain="127.0.0.1")

    final = browser.keycloak_login(start, "newcomer@example.com")
    assert final.status_code == 200 and final.url == f"{sso.portal_url}/learner/"
    assert "planted message" not in final.text

    after_cookie = next(c for c in browser.http.cookies if c.name == "session")
    with sso.app.test_request_context():
        after = serializer.loads(after_cookie.value)
    assert "_user_id" in after
    assert "planted" not in after
    assert after.get("csrf_token") != "attacker-knows-this-token"
    assert not any(key.startswith("_state_") for key in after)
    assert after_cookie.has_nonstandard_attr("HttpOnly")
    assert after_cookie.secure is False  # plain http in tests; production: test_headers.py


def test_sign_out_clears_the_session(client: FlaskClient, world: SecurityWorld) -> None:
    sign_in(client, world.lee)
    with client.session_transaction() as session:
        session["id_token"] = None
        session["left_over"] = "x"
    out = client.post("/auth/logout")
    assert out.status_code == 302
    with client.session_transaction() as session:
        assert "_user_id" not in session and "left_over" not in session
    assert client.get("/learner/").status_code == 302


def test_a_cookie_copied_before_sign_out_no_longer_works_after_it(
    client: FlaskClient, world: SecurityWorld
) -> None:
    sign_in(client, world.lee)
    assert client.get("/learner/").status_code == 200
    copied = client.get_cookie("session")
    assert copied is not None
    assert client.post("/auth/logout").status_code == 302
    assert client.get("/learner/").status_code == 302  # this browser is signed out

    client.set_cookie("session", copied.value)  # ...but whoever copied the cookie is not
    from flask import g

    g.pop("_login_user", None)
    assert client.get("/learner/").status_code == 302
