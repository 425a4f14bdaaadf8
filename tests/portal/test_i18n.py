"""Languages (issue 17, item 9): the locale comes from the visitor's choice, else the browser;
dates, numbers and money are written per locale."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_babel import refresh

from portal.i18n import COOKIE, LOCALES, current_locale

FRENCH_BROWSER = {"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}


def locale_of(app: Flask, headers: dict[str, str] | None = None, cookie: str | None = None) -> str:
    environ = {"HTTP_COOKIE": f"{COOKIE}={cookie}"} if cookie else {}
    with app.test_request_context("/", headers=headers or {}, environ_base=environ):
        refresh()  # as every request does (an app context is pushed around the tests)
        return current_locale()


def test_the_browser_chooses_when_the_visitor_has_not(app: Flask) -> None:
    assert locale_of(app) == "en"
    assert locale_of(app, FRENCH_BROWSER) == "fr"
    assert locale_of(app, {"Accept-Language": "de-DE,de;q=0.9"}) == "en"  # not spoken: English
    assert locale_of(app, {"Accept-Language": "de;q=0.9,fr;q=0.1"}) == "fr"


def test_the_visitors_choice_wins_over_the_browser(app: Flask) -> None:
    assert locale_of(app, FRENCH_BROWSER, cookie="en") == "en"
    assert locale_of(app, {"Accept-Language": "en"}, cookie="fr") == "fr"
    assert locale_of(app, FRENCH_BROWSER, cookie="xx") == "fr"  # a forged cookie is ignored


def test_choosing_a_language_sticks_and_goes_back(client: FlaskClient) -> None:
    answer = client.post("/language", data={"locale": "fr", "next": "/catalog/"})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/catalog/"
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None and cookie.value == "fr"
    assert cookie.http_only and cookie.same_site == "Lax"
    assert cookie.max_age is not None and cookie.max_age >= 300 * 24 * 3600


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "javascript:x"])
def test_the_way_back_stays_on_the_portal(client: FlaskClient, next_url: str) -> None:
    answer = client.post("/language", data={"locale": "en", "next": next_url})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


@pytest.mark.parametrize("locale", ["", "de", "fr<script>", "EN"])
def test_an_unknown_language_is_refused_and_nothing_is_kept(
    client: FlaskClient, locale: str
) -> None:
    answer = client.post("/language", data={"locale": locale})
    assert answer.status_code == 400
    assert "English, Français" in answer.get_data(as_text=True)
    assert client.get_cookie(COOKIE) is None


def test_choosing_needs_a_post(client: FlaskClient) -> None:
    assert client.get("/language?locale=fr").status_code == 405
    assert client.get_cookie(COOKIE) is None


def test_dates_numbers_and_money_per_locale(app: Flask) -> None:
    template = (
        "{{ when|date }} | {{ when|datetime('short') }} | {{ 1234567|number }} | "
        "{{ price|money('USD') }} | {{ price|money('EUR') }} | {{ none|date }}"
    )
    values = {"when": datetime(2026, 12, 4, 15, 30), "price": Decimal("1234.50"), "none": None}
    with app.test_request_context("/"):
        refresh()
        english = render_template_string(template, **values)
    with app.test_request_context("/", headers=FRENCH_BROWSER):
        refresh()
        french = render_template_string(template, **values)
    assert english == "Dec 4, 2026 | 12/4/26, 3:30\u202fPM | 1,234,567 | $1,234.50 | €1,234.50 | "
    assert french == (
        "4 déc. 2026 | 04/12/2026 15:30 | 1\u202f234\u202f567 | 1\u202f234,50\xa0$US | "
        "1\u202f234,50\xa0€ | "
    )


def test_every_locale_is_named_in_its_own_language() -> None:
    assert LOCALES == {"en": "English", "fr": "Français"}


def _language_menu(page: str) -> str:
    start = page.index('<form method="post" action="/language"')
    return page[start : page.index("</form>", start)]


def test_every_page_offers_the_language_menu_and_it_works_without_script(
    client: FlaskClient,
) -> None:
    """A plain form in the header: a labelled list of the languages, each named in its own
    language with the current one chosen, the way back to this page, and a submit button."""
    menu = _language_menu(client.get("/catalog/?page=1").get_data(as_text=True))
    assert '<label for="language-choice">Language</label>' in menu
    assert '<select id="language-choice" name="locale">' in menu
    assert '<option value="en" lang="en" selected>English</option>' in menu
    assert '<option value="fr" lang="fr">Français</option>' in menu
    assert '<input type="hidden" name="next" value="/catalog/?page=1">' in menu
    assert 'name="csrf_token"' in menu and '<button type="submit"' in menu

    chosen = client.post("/language", data={"locale": "fr", "next": "/catalog/?page=1"})
    assert chosen.status_code == 302 and chosen.headers["Location"] == "/catalog/?page=1"
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    page = client.get("/catalog/?page=1", headers=english_browser).get_data(as_text=True)
    assert '<html lang="fr">' in page and "<h1>Catalogue</h1>" in page
    menu = _language_menu(page)
    assert '<label for="language-choice">Langue</label>' in menu
    assert '<option value="fr" lang="fr" selected>Français</option>' in menu


def test_a_redeem_link_does_not_put_its_code_in_the_language_menu(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    """The way back from the language menu names the code as it is shown (grouped), never the
    address as it was typed; the code form itself comes back empty."""
    login_as("learner")
    menu = _language_menu(client.get("/redeem/abcdefghjk").get_data(as_text=True))
    assert 'name="next" value="/redeem/ABCD-EFGH-JK"' in menu
    menu = _language_menu(client.get("/learner/redeem?code=SECRET1").get_data(as_text=True))
    assert 'name="next" value="/learner/redeem"' in menu
