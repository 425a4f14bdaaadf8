"""The callback refuses every forged or broken sign-in with a clear page and no session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User
from tests.support.browser import Browser
from tests.support.tampering_proxy import TamperingProxy


@pytest.fixture
def proxied(sso_factory: Callable[..., Any]) -> Any:
    """The portal signing in through a tampering proxy in front of the emulator. Both share one
    server: the emulator is mounted under /__upstream__ and the proxy forwards there, keeping the
    Host header so every URL the emulator writes points at the proxy."""
    holder: dict[str, TamperingProxy] = {}

    def mount(keycloak: Any, url: str) -> Any:
        holder["proxy"] = TamperingProxy(f"{url}/__upstream__")
        return _Split(holder["proxy"], keycloak)

    env = sso_factory(keycloak_wrapper=mount)
    env.proxy = holder["proxy"]
    return env


class _Split:
    """Requests under /__upstream__ go to the emulator (with the prefix stripped); all others to
    the proxy, which forwards them there."""

    def __init__(self, proxy: TamperingProxy, upstream: Any) -> None:
        self.proxy, self.upstream = proxy, upstream

    def __call__(self, environ: Any, start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__upstream__"):
            environ["PATH_INFO"] = path[len("/__upstream__") :] or "/"
            return self.upstream(environ, start_response)
        return self.proxy(environ, start_response)


def no_session(env: Any, browser: Browser) -> bool:
    page = browser.get(f"{env.portal_url}/learner/", allow_redirects=False)
    return page.status_code == 302 and "/auth/login" in page.headers["Location"]


def users() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(User.id)))


def test_proxy_itself_is_transparent(proxied: Any) -> None:
    browser = Browser()
    final = browser.keycloak_login(
        browser.get(f"{proxied.portal_url}/auth/login"), "newcomer@example.com"
    )
    assert final.url == f"{proxied.portal_url}/learner/"
    assert proxied.proxy.forged == 1


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("bad_signature", "failed verification"),
        ("wrong_issuer", "failed verification"),
        ("wrong_audience", "failed verification"),
        ("expired", "failed verification"),
        ("wrong_nonce", "failed verification"),
    ],
)
def test_forged_id_tokens_are_refused(proxied: Any, mode: str, message: str) -> None:
    proxied.proxy.mode = mode
    browser = Browser()
    with proxied.app.app_context():
        before = users()
        final = browser.keycloak_login(
            browser.get(f"{proxied.portal_url}/auth/login"), "newcomer@example.com"
        )
        assert final.status_code == 400
        assert "Sign-in failed" in final.text and message in final.text
        assert no_session(proxied, browser)
        assert users() == before  # nothing half-written
    assert proxied.proxy.forged == 1


def _callback_url(env: Any, browser: Browser) -> str:
    """Sign in up to the point where Keycloak redirects back, and return that callback URL."""
    start = browser.get(f"{env.portal_url}/auth/login")
    page = browser.submit(start, "kc-form-login", username="newcomer@example.com")
    from tests.support.browser import forms

    form = next(f for f in forms(page) if f["id"] == "kc-form-login")
    back = browser.post(
        form["action"], data={**form["fields"], "password": "demo"}, allow_redirects=False
    )
    assert back.status_code == 302
    return back.headers["Location"]


def _with(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return parts._replace(query=urlencode(query)).geturl()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"state": None}, "incomplete"),
        ({"state": "forged-state"}, "expired or was already used"),
        ({"iss": "http://127.0.0.1:9/realms/b2b-demo"}, "unexpected issuer"),
        ({"code": "made-up-code"}, "Keycloak did not complete the sign-in"),
    ],
)
def test_tampered_callbacks_are_refused(
    sso: Any, changes: dict[str, str | None], message: str
) -> None:
    browser = Browser()
    callback = _callback_url(sso, browser)
    page = browser.get(_with(callback, **changes))
    assert page.status_code == 400
    assert message in page.text
    assert no_session(sso, browser)


def test_a_replayed_code_is_refused(sso: Any) -> None:
    browser = Browser()
    callback = _callback_url(sso, browser)
    saved = browser.http.cookies.get("session", domain="127.0.0.1")
    assert browser.get(callback).url == f"{sso.portal_url}/learner/"  # first use signs in

    attacker = Browser()  # replays the same callback with the pre-login session (same state)
    attacker.http.cookies.set("session", saved, domain="127.0.0.1")
    page = attacker.get(callback)
    assert page.status_code == 400
    assert "Code not valid" in page.text or "did not complete" in page.text
    assert no_session(sso, attacker)


def test_an_error_from_keycloak_is_shown(sso: Any) -> None:
    browser = Browser()
    callback = _callback_url(sso, browser)
    page = browser.get(
        _with(callback, code=None, error="access_denied", error_description="User cancelled")
    )
    assert page.status_code == 400
    assert "Keycloak refused the sign-in: User cancelled" in page.text
    assert no_session(sso, browser)


def test_keycloak_unreachable_gives_a_friendly_page(app_factory: Callable[..., Any]) -> None:
    app = app_factory(KEYCLOAK_SERVER_URL="http://127.0.0.1:9")
    with app.app_context():
        page = app.test_client().get("/auth/login")
    assert page.status_code == 503
    assert b"cannot be reached right now" in page.data
