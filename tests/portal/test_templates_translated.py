"""Every word a template shows goes through the catalog (issue 17, item 9).

A template's text outside ``{% trans %}`` blocks and ``_()`` calls reaches people untranslated.
This reads each template with Jinja's own lexer: the literal text between tags and expressions,
once HTML tags, comments and entities are taken out, must hold no letters; the attributes people
read (``title``, ``alt``, ``placeholder``, ``aria-label``, ``aria-description``, ``value`` of a
button, ``content`` of a description meta tag) must hold no literal letters either."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from jinja2 import Environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
TEMPLATE_FILES = sorted(
    p for p in TEMPLATES.rglob("*") if p.suffix in {".html", ".txt"} and p.is_file()
)
READ_ATTRIBUTES = re.compile(
    r"""\b(?:title|alt|placeholder|aria-label|aria-description|data-confirm)\s*=\s*(["'])(.*?)\1""",
    re.S,
)
TAG = re.compile(r"<(?:[^<>\"']|\"[^\"]*\"|'[^']*')*>", re.S)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
STYLE_OR_SCRIPT = re.compile(r"<(style|script)\b.*?</\1>", re.S | re.I)
# Words that are the same in every language: the names of things, not sentences.
SAME_IN_EVERY_LANGUAGE = {
    "CSV",
    "PDF",
    "SSO",
    "OIDC",
    "API",
    "JSON",
    "edX",
    "Open",
    "Keycloak",
    "CyberSource",
    "UTC",
    "URL",
    "ID",
    "OK",
}
LETTERS = re.compile(r"[^\W\d_]{2,}")


def _literal_text(source: str) -> str:
    """The template as a browser would get it with every expression and tag taken out (each
    leaves a NUL, which holds no letters) and every ``{% trans %}`` block dropped: HTML tags stay
    whole, so their attributes can be read."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    out: list[str] = []
    in_trans = 0
    first_name_of_block = False
    for _, kind, value in env.lex(source):
        if kind == "block_begin":
            first_name_of_block = True
        elif kind == "name" and first_name_of_block:
            first_name_of_block = False
            in_trans += {"trans": 1, "endtrans": -1}.get(value, 0)
        if kind == "data" and not in_trans:
            out.append(value)
        elif kind in ("block_begin", "variable_begin") and (not out or out[-1] != "\x00"):
            out.append("\x00")
    return "".join(out)


def untranslated(source: str) -> list[str]:
    """The words a template shows that do not go through the catalog."""
    text = STYLE_OR_SCRIPT.sub(" ", HTML_COMMENT.sub(" ", _literal_text(source)))
    found: list[str] = []
    for tag in TAG.findall(text):
        for _, value in READ_ATTRIBUTES.findall(tag):
            found.extend(LETTERS.findall(html.unescape(value)))
    found.extend(LETTERS.findall(html.unescape(TAG.sub(" ", text))))
    return [w for w in found if w not in SAME_IN_EVERY_LANGUAGE]


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_the_template_shows_no_untranslated_words(path: Path) -> None:
    words = untranslated(path.read_text(encoding="utf-8"))
    assert not words, f"{path.relative_to(ROOT)} shows untranslated words: {' '.join(words[:20])}"


def test_the_check_finds_untranslated_words() -> None:
    assert untranslated("<p>Hello {{ name }}</p>") == ["Hello"]
    assert untranslated('<input placeholder="Search">') == ["Search"]
    assert untranslated("<p>{% trans %}Hello {{ name }}{% endtrans %}</p>") == []
    assert untranslated("<p>{{ _('Hello') }} · {{ count }} — 42</p>") == []
    assert untranslated('<a title="{{ _(\'Open\') }}" href="/x">{{ _("Next") }}</a>') == []
    assert untranslated("<!-- a note --><p>&nbsp;</p>") == []
    assert untranslated("{# a comment #}<p>CSV</p>") == []
