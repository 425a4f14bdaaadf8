"""Languages: which one a page speaks, and how it writes dates, numbers and money.

The locale of a request is the visitor's own choice (the language menu, ``POST /language``, kept
in a cookie for a year so it sticks across sign-in and sign-out), else the best match of the
browser's ``Accept-Language`` among ``LOCALES``, else English. Work outside a request (jobs
sending email) speaks English unless it chooses with ``flask_babel.force_locale``.

Strings go through Flask-Babel (``gettext``/``ngettext`` in Python, ``{% trans %}`` and ``_()`` in
templates); the catalogs live in ``translations/<locale>/LC_MESSAGES/messages.po`` and are compiled
to ``.mo`` by the build (``python3 dev.py`` compiles them before it runs anything;
``pybabel compile -d translations`` by hand). ``babel.cfg`` says where strings are extracted from.

Dates, numbers and money are written per locale by the template filters ``date``, ``datetime``,
``number`` and ``money`` (Babel's CLDR data: "4 déc. 2026", "1 234", "1 234,50 $US").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, abort, current_app, has_request_context, redirect, request
from flask_babel import (
    Babel,
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    format_time,
    gettext,
    ngettext,
    refresh,
)
from flask_babel import get_locale as babel_locale
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.core.access import safe_next
from portal.models.users import User

# The locales the portal speaks, each named in its own language (as the language menu shows it).
LOCALES = {"en": "English", "fr": "Français"}
DEFAULT_LOCALE = "en"
COOKIE = "portal_locale"
COOKIE_MAX_AGE = 365 * 24 * 3600

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent  # the checkout: translations/ beside portal/
babel = Babel()
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The visitor's choice, else the browser's best match, else English."""
    if not has_request_context():
        return DEFAULT_LOCALE
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES, DEFAULT_LOCALE) or DEFAULT_LOCALE


def current_locale() -> str:
    locale = babel_locale()
    return locale.language if locale is not None else DEFAULT_LOCALE


@bp.post("/language")
def set_language() -> Response:
    """Remember the visitor's language and go back to the page they were on."""
    locale = request.form.get("locale", "")
    if locale not in LOCALES:
        names = ", ".join(LOCALES.values())
        abort(
            400,
            description=gettext("Choose one of the portal's languages: %(names)s.", names=names),
        )
    response = redirect(safe_next(request.form.get("next"), default="/"))
    if current_user.is_authenticated:  # their emails follow their choice too
        current_user.locale = locale
    response.set_cookie(
        COOKIE,
        locale,
        max_age=COOKIE_MAX_AGE,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )
    return response


def local_date(value: date | datetime | None, style: str = "medium") -> str:
    return "" if value is None else format_date(value, style)


def local_datetime(value: datetime | None, style: str = "medium") -> str:
    return "" if value is None else format_datetime(value, style)


def local_time(value: datetime | None, style: str = "short") -> str:
    return "" if value is None else format_time(value, style)


def local_number(value: int | float | Decimal | None) -> str:
    return "" if value is None else format_decimal(value)


def local_money(amount: Decimal | int | float | None, currency: str = "USD") -> str:
    return "" if amount is None else format_currency(amount, currency)


def list_words(items: list[str]) -> str:
    """ "a, b, and c" in the reader's language ("a, b et c"); "" for none."""
    return format_list(items, locale=current_locale()) if items else ""


def in_words(numbers: Iterable[int], unit: str = "", noun: str = "") -> str:
    """ "3, 10, and 19", each with its ``unit`` ("75% and 100%"), then ``noun`` in the number the
    list asks for ("3, 10, and 19 days", "1 day"), in the reader's language; "" for none."""
    listed = list(numbers)
    text = list_words([f"{n}{unit}" for n in listed])
    if not text or not noun:
        return text
    if noun != "day":
        raise ValueError(f"no words for counting {noun!r}")
    count = listed[0] if len(listed) == 1 else 2  # "3, 10, and 19 days": plural
    return ngettext("%(list)s day", "%(list)s days", count, list=text)


def remember_locale(user: User) -> None:
    """Keep the language ``user`` reads the portal in now (their choice, else their browser's),
    for the emails sent to them later from jobs; called at sign-in and when they choose."""
    locale = current_locale()
    if user.locale != locale:
        user.locale = locale


def locale_of_address(address: str) -> str:
    """The language to write to ``address`` in: its person's (``remember_locale``), else English
    (an invitation to someone who never signed in)."""
    from portal.extensions import db
    from portal.models.users import normalize_email

    locale = db.session.scalar(select(User.locale).where(User.email == normalize_email(address)))
    return locale if locale in LOCALES else DEFAULT_LOCALE


def _stale_catalogs(directory: Path) -> list[Path]:
    """The catalogs whose ``.mo`` is missing or older than their ``.po``."""
    found = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo_path = po_path.with_suffix(".mo")
        if not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime:
            found.append(po_path)
    return found


def compile_catalogs(directory: Path | None = None) -> list[Path]:
    """Compile each ``messages.po`` whose ``messages.mo`` is missing or older (the build step: the
    ``.mo`` files are not kept in git). Returns the catalogs compiled."""
    compiled = []
    for po_path in _stale_catalogs(directory or ROOT / "translations"):
        mo_path = po_path.with_suffix(".mo")
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        compiled.append(mo_path)
    return compiled


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "translations"))
    babel.init_app(app, locale_selector=select_locale)
    stale = _stale_catalogs(ROOT / "translations")
    if stale:  # French would silently read as English: say how to build it
        log.warning(
            "translations not compiled (%s): run `pybabel compile -d translations`",
            ", ".join(str(p) for p in stale),
        )
    # Flask-Babel keeps the locale on ``g``, which outlives a request when an app context was
    # pushed around it (the CLI, the tests): each request chooses afresh.
    app.before_request(refresh)
    app.register_blueprint(bp)
    app.add_template_filter(local_date, "date")
    app.add_template_filter(local_datetime, "datetime")
    app.add_template_filter(local_number, "number")
    app.add_template_filter(local_money, "money")
    app.add_template_filter(local_time, "time")
    app.add_template_filter(list_words, "list_words")
    app.add_template_filter(in_words, "in_words")
    # Whitespace inside {% trans %} is collapsed, so a message reads the same however the
    # template is indented.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals.update(LOCALES=LOCALES, current_locale=current_locale)
