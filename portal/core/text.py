"""Words shared by every page, flash message and email: a count with its noun in the right number
(in the visitor's language), dates written out in words, and enrollment codes grouped for reading.
``plural``, ``all_seats_taken`` and ``group_code`` are also Jinja filters of the same name
(``register_filters``).

``lazy_gettext`` is Flask-Babel's, for module-level constants (form labels, validator messages),
except that its text is escaped in templates like any other string: Flask-Babel's ``LazyString``
declares itself safe HTML, which would print a label's apostrophe raw where a plain string gives
``&#39;``."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask
from flask_babel import (
    LazyString,
    format_date,
    format_decimal,
    get_locale,
    get_translations,
    gettext,
)
from markupsafe import escape

CODE_GROUP = 4  # ABCD-EFGH-JKLM-NPQR-STUV
CODE_SEPARATOR = "-"
COUNT = "%(num)s"  # where a message of ``plural`` puts the count


class LazyText(LazyString):
    """A message translated when it is shown, escaped in templates like a plain string."""

    def __html__(self) -> str:
        return str(escape(str(self)))


def lazy_gettext(string: str, **variables: Any) -> LazyText:
    return LazyText(gettext, string, **variables)


def count_text(count: int) -> str:
    """A count as the visitor's language writes it ("1,000"; "1 000" in French)."""
    if get_locale() is None:  # no app context (a bare script): the English way
        return f"{count:,}"
    return str(format_decimal(count))


def lazy_count(count: int) -> LazyText:
    """``count_text`` when it is shown: a count inside a module-level message."""
    return LazyText(count_text, count)


def plural(count: int, singular: str, plural_form: str | None = None, **variables: Any) -> str:
    """``count`` with its noun in the right number, through ``ngettext`` when the message pair is
    given whole: ``plural(n, "%(num)s seat", "%(num)s seats")`` ("1 seat", "1,000 seats"; in
    French "1 place", "1 000 places"), so a translator sees the words around the count too.

    The older form ``plural(n, "seat")`` (``plural_form`` for nouns without an "s": "person",
    "people") stays English: for command output, job summaries and callers not yet converted
    (a noun passed as a variable cannot be extracted for translation)."""
    if COUNT in singular:
        # Flask-Babel's ngettext would fill %(num)s with the bare count ("1000"): its
        # translations are used directly, so the count is written as the locale writes it.
        message = get_translations().ungettext(singular, plural_form or singular, count)
        return str(message % {**variables, "num": count_text(count)})
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {word}"


def all_seats_taken(limit: int) -> str:
    """ "all 10 seats are taken", or for a contract of one seat "its only seat is taken"."""
    if limit == 1:
        return gettext("its only seat is taken")
    return gettext("all %(num)s seats are taken", num=count_text(limit))


def long_date(value: object) -> str:
    """A day written out as refusals name it: "04 December 2026" ("04 décembre 2026")."""
    if not isinstance(value, date):
        return str(value)
    if get_locale() is None:
        return value.strftime("%d %B %Y")
    return str(format_date(value, "dd MMMM yyyy"))


def group_code(code: str | None) -> str:
    """An enrollment code as people read it: the portal's 20-character codes in groups of four
    joined by dashes (``ABCD-EFGH-JKLM-NPQR-STUV``); a short code (up to two groups, e.g. one
    made by hand) reads at a glance and stays as it is. Codes are accepted with or without the
    dashes (``services.codes.normalize_code``), so the grouped form can be typed back as shown."""
    value = code or ""
    if len(value) <= 2 * CODE_GROUP:
        return value
    return CODE_SEPARATOR.join(
        value[start : start + CODE_GROUP] for start in range(0, len(value), CODE_GROUP)
    )


def register_filters(app: Flask) -> None:
    app.add_template_filter(plural, "plural")
    app.add_template_filter(all_seats_taken, "all_seats_taken")
    app.add_template_filter(group_code, "group_code")
