"""The words of the language a test reads the portal in, so one test proves the same thing in
English and in French (issue 17: "keep the tests' assertions working in both").

Message ids are the English texts, so a test keeps writing the English it expects and wraps it:
``tr("Enroll in the whole program")`` is that text in English, and the French catalog's
translation in French; ``tr("Signed in as %(name)s.", name=name)`` fills the placeholders as
Flask-Babel does; ``ntr(singular, plural, n)`` picks the form for ``n`` (``%(num)s`` is ``n`` as
the language writes it, like ``portal.core.text.plural``). ``number``, ``money`` and ``day`` write
figures the way the portal's ``number``, ``money`` and ``date`` filters do.

A message the French catalog lacks fails the test, naming the message: falling back to English
would let a French run pass on pages still in English. The language is chosen for each test by the
browser journeys' ``locale`` fixture (``use_language``); outside one it is English.
"""

from __future__ import annotations

import gettext
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, NoReturn

import pytest
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from portal.i18n import DEFAULT_LOCALE, LOCALES, compile_catalogs
from tests.conftest import ROOT

LANGUAGES = tuple(LOCALES)  # ("en", "fr"): every journey runs in each
TAG = re.compile(r"<[^>]*>")
_language = DEFAULT_LOCALE


class _NotInCatalog(gettext.NullTranslations):
    """The fallback of a test catalog: a message it lacks fails the test instead of reading as
    English."""

    def __init__(self, locale: str) -> None:
        super().__init__()
        self.locale = locale

    def missing(self, message: str) -> NoReturn:
        name = Locale.parse(self.locale).get_display_name("en")  # "French"
        pytest.fail(f"not in the {name} catalog: {message!r}", pytrace=False)

    def gettext(self, message: str) -> str:
        self.missing(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        self.missing(msgid1)

    def pgettext(self, context: str, message: str) -> str:
        self.missing(f"{message} (context {context!r})")


@cache
def catalog(locale: str) -> gettext.NullTranslations:
    """The compiled catalog of ``locale`` (compiled first if its ``.po`` is newer), failing on
    any message it lacks."""
    compile_catalogs()
    directory = ROOT / "translations"
    if not (directory / locale / "LC_MESSAGES" / "messages.mo").exists():
        pytest.fail(f"no compiled catalog for {locale} in {directory}", pytrace=False)
    translations = Translations.load(str(directory), [locale])
    translations.add_fallback(_NotInCatalog(locale))
    return translations


def language() -> str:
    """The language of the current test: "en" unless ``use_language`` chose another."""
    return _language


@contextmanager
def use_language(locale: str) -> Iterator[None]:
    """Read the portal in ``locale`` for the duration of the block (a test)."""
    global _language
    assert locale in LOCALES, f"the portal speaks {list(LOCALES)}, not {locale!r}"
    before, _language = _language, locale
    catalog.cache_clear()  # read afresh: the catalog may have been recompiled since
    try:
        yield
    finally:
        _language = before


def tr(msgid: str, **values: Any) -> str:
    """``msgid`` (an English message of the catalog) in the test's language, its ``%(name)s``
    placeholders filled from ``values``."""

    text = msgid if _language == DEFAULT_LOCALE else catalog(_language).gettext(msgid)
    return text % values if values else text


def ptr(context: str, msgid: str, **values: Any) -> str:
    """``tr`` for a message the portal gives a context (``pgettext``: "failed" of a refund)."""
    text = msgid if _language == DEFAULT_LOCALE else catalog(_language).pgettext(context, msgid)
    return text % values if values else text


def text_of(message: str) -> str:
    """The words people read of a message that holds markup (a link, ``<strong>``): the message
    (from ``tr`` or ``ntr``) without its tags, entities decoded."""
    return html.unescape(TAG.sub("", message))


def ntr(singular: str, plural: str, n: int, **values: Any) -> str:
    """The form of a plural message for ``n`` in the test's language; ``%(num)s`` is ``n``."""
    if _language == DEFAULT_LOCALE:
        text = singular if n == 1 else plural
    else:
        text = catalog(_language).ngettext(singular, plural, n)
    return text % {"num": number(n), **values}


def number(value: int | float | Decimal) -> str:
    """A number as the portal's ``number`` filter writes it ("1,234"; "1 234" in French)."""
    return str(format_decimal(value, locale=_language))


def money(amount: int | float | Decimal, currency: str = "USD") -> str:
    """An amount as the portal's ``money`` filter writes it ("$149.00"; "149,00 $US")."""
    return str(format_currency(amount, currency, locale=_language))


def day(value: date, style: str = "medium") -> str:
    """A date as the portal's ``date`` filter writes it ("Dec 4, 2026"; "4 déc. 2026"), or in a
    CLDR pattern ("dd MMM": "04 Dec", "04 déc.")."""
    return str(format_date(value, style, locale=_language))


def moment(value: datetime, style: str = "medium") -> str:
    """A date and time as the portal's ``datetime`` filter writes it, in UTC as the portal does."""
    return str(format_datetime(value, style, tzinfo=UTC, locale=_language))


__all__ = [
    "DEFAULT_LOCALE",
    "LANGUAGES",
    "day",
    "language",
    "moment",
    "money",
    "ntr",
    "number",
    "ptr",
    "text_of",
    "tr",
    "use_language",
]
