"""Words (issue 17, item 7): a count meets its noun in the right number everywhere, and codes are
shown grouped for reading (and accepted as shown)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flask import Flask, render_template_string

from portal.core.text import all_seats_taken, group_code, plural
from portal.i18n import in_words
from portal.services.codes import CODE_LENGTH, new_code, normalize_code

ROOT = Path(__file__).resolve().parents[2]
LOG_CALLS = {"debug", "info", "warning", "error", "exception", "critical"}


def test_plural() -> None:
    assert plural(1, "seat") == "1 seat"
    assert plural(0, "seat") == "0 seats"
    assert plural(60, "minute") == "60 minutes"
    assert plural(1_000, "one-time code") == "1,000 one-time codes"
    assert plural(1, "person", "people") == "1 person"
    assert plural(3, "person", "people") == "3 people"
    assert all_seats_taken(1) == "its only seat is taken"
    assert all_seats_taken(25) == "all 25 seats are taken"
    assert in_words([1], noun="day") == "1 day"
    assert in_words([3, 10, 19], noun="day") == "3, 10, and 19 days"
    assert in_words([], noun="day") == ""


def test_the_filters_in_templates(app: Flask) -> None:
    with app.app_context():
        out = render_template_string(
            "{{ 1|plural('seat') }}; {{ 2|plural('code') }}; {{ 1|all_seats_taken }}; "
            "{{ 'ABCDEFGHJKMNPQRSTUVW'|group_code }}"
        )
    assert out == "1 seat; 2 codes; its only seat is taken; ABCD-EFGH-JKMN-PQRS-TUVW"


def test_a_grouped_code_is_the_same_code() -> None:
    code = new_code()
    grouped = group_code(code)
    assert len(grouped) == CODE_LENGTH + 4 and grouped.count("-") == 4
    assert all(len(group) == 4 for group in grouped.split("-"))
    for typed in (grouped, grouped.lower(), f" {grouped.replace('-', ' ')} ", code):
        assert normalize_code(typed) == code
    assert group_code("") == "" and group_code(None) == ""
    assert group_code("SPRING20") == "SPRING20"  # a short code reads as it is
    assert group_code("SPRING2026") == "SPRI-NG20-26"


def _template_text(source: str) -> str:
    """A template with its Jinja tags and expressions taken out: what it says in words."""
    return re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)


def test_no_template_says_s_in_brackets() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {line.strip()[:120]}"
        for path in sorted((ROOT / "templates").rglob("*"))
        if path.suffix in {".html", ".txt"}
        for line in _template_text(path.read_text()).splitlines()
        if "(s)" in line
    ]
    assert found == []


def _logged_strings(tree: ast.AST) -> set[int]:
    """The ids of string nodes inside logging calls (log lines are for operators' grep)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LOG_CALLS
        ):
            inside.update(id(child) for child in ast.walk(node))
    return inside


def test_no_message_of_the_portal_says_s_in_brackets() -> None:
    """Flash messages, refusals, emails, job summaries and command output: "1 code", "2 codes",
    never "code(s)". (Log lines are left as they are.)"""
    found = []
    for path in sorted((ROOT / "portal").rglob("*.py")):
        tree = ast.parse(path.read_text())
        logged = _logged_strings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in logged
                and re.search(r"\w\(s\)", node.value)
                and "http(s)" not in node.value
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:100]}")
    assert found == []
