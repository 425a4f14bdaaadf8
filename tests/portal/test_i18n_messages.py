"""The Python side's words in French (issue 17, item 9): flashes, refusal reasons, form messages and
error pages follow the browser's language, English stays as it was, and the French catalog is
complete, with every placeholder kept and every message extractable."""

from __future__ import annotations

import ast
import datetime as dt
import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import refresh

from portal.core.text import plural
from portal.models import utcnow
from tests.support.factories import ContractFactory, EnrollmentCodeFactory
from tests.support.org_world import OrgWorld

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
NNBSP = "\u202f"  # French typography: the narrow no-break space before : ; ! ? and inside « »
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
GETTEXT_CALLS = {"_", "gettext", "lazy_gettext", "_l", "ngettext"}
# What ``pybabel extract`` looks for in portal/ (README, "Languages").
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "plural": (2, 3)}

GOOD = "FRENCHAAAABBBBCCCC22"
EXPIRED = "FRENCHAAAABBBBCCCC33"


def _page(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def codes(world: OrgWorld, db: Any) -> OrgWorld:
    main = ContractFactory(organization=world.acme, name="Main")
    EnrollmentCodeFactory(code=GOOD, contract=main)
    EnrollmentCodeFactory(code=EXPIRED, contract=main, expires_at=utcnow() - dt.timedelta(days=1))
    db.session.commit()
    return world


def _redeem(client: FlaskClient, code: str, headers: dict[str, str]) -> Any:
    return client.post("/learner/redeem", data={"code": code}, headers=headers)


def test_a_refused_code_says_why_in_french_and_in_english(
    client: FlaskClient, login_as: Callable[..., Any], codes: OrgWorld
) -> None:
    login_as("learner")
    french = _redeem(client, EXPIRED, FRENCH)
    assert french.status_code == 410
    text = _page(french)
    assert "Ce code a expiré le " in text
    assert "Demandez-en un nouveau à l'administrateur de votre organisation (Acme)." in text
    english = _redeem(client, EXPIRED, ENGLISH)
    assert english.status_code == 410
    text = _page(english)
    assert "This code expired on " in text
    assert "Ask your organization's admin (Acme) for a new one." in text
    assert "Ce code" not in text


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        (FRENCH, "Saisissez un code : les lettres et chiffres que votre organisation vous a remis"),
        (
            ENGLISH,
            "Enter a code: the letters and digits your organization gave you, with or without",
        ),
    ],
)
def test_an_empty_code_is_a_400_in_the_visitors_language(
    client: FlaskClient,
    login_as: Callable[..., Any],
    codes: OrgWorld,
    headers: dict[str, str],
    words: str,
) -> None:
    login_as("learner")
    answer = _redeem(client, "  -  ", headers)
    assert answer.status_code == 400
    assert words.replace(" :", NNBSP + ":") in _page(answer)


def test_a_flash_after_redeeming_is_french_for_a_french_browser(
    client: FlaskClient, login_as: Callable[..., Any], codes: OrgWorld
) -> None:
    login_as("learner")
    answer = _redeem(client, GOOD, FRENCH)
    assert answer.status_code == 302
    page = _page(client.get(answer.headers["Location"], headers=FRENCH))
    assert f"Code accepté{NNBSP}: vous avez maintenant accès à Main de Acme." in page
    again = _redeem(client, GOOD, ENGLISH)
    page = _page(client.get(again.headers["Location"], headers=ENGLISH))
    assert "You already have access to Main from Acme; the code was not used again." in page


def test_a_form_speaks_french_labels_and_validation_messages(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.grace)
    form = _page(client.get("/org/ACME/api-tokens", headers=FRENCH))
    assert "Nom du jeton" in form
    assert "Ce qui va l'utiliser, par exemple «" in form
    refused = client.post("/org/ACME/api-tokens", data={"name": "  "}, headers=FRENCH)
    assert refused.status_code == 400
    assert "Nommez le jeton d'après ce qui va l'utiliser." in _page(refused)
    refused = client.post("/org/ACME/api-tokens", data={"name": "  "}, headers=ENGLISH)
    assert refused.status_code == 400
    text = _page(refused)
    assert "Token name" in text and "Name the token after what will use it." in text


def test_a_labels_apostrophe_is_escaped_as_before(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    """A translated label is escaped like the plain string it replaced (``&#39;``), not printed
    raw as Flask-Babel's own lazy strings would be."""
    login_as(world.grace)
    page = client.get("/org/ACME/api-tokens", headers=FRENCH).get_data(as_text=True)
    assert "Ce qui va l&#39;utiliser" in page
    assert "Ce qui va l'utiliser" not in page


def test_the_404_page_in_french_and_in_english(client: FlaskClient) -> None:
    french = client.get("/no-such-page", headers=FRENCH)
    assert french.status_code == 404
    text = _page(french)
    assert "Page introuvable" in text
    assert "Il n'y a aucune page à cette adresse." in text
    english = client.get("/no-such-page", headers=ENGLISH)
    assert english.status_code == 404
    text = _page(english)
    assert "Page not found" in text
    assert "There is no page at this address. The link may be old or mistyped" in text
    assert "introuvable" not in text


def test_an_api_error_is_still_json_with_words_as_text(client: FlaskClient) -> None:
    answer = client.get("/api/org/v1/no-such-thing", headers=FRENCH)
    assert answer.status_code in (401, 404)
    body = answer.get_json()
    assert isinstance(body["error"], str) and isinstance(body["detail"], str)


USED_UP = (
    "This code has already been used the %(num)s time it allows. Ask %(organization)s's admin "
    "for your own code.",
    "This code has already been used the %(num)s times it allows. Ask %(organization)s's admin "
    "for your own code.",
)


def test_a_count_is_written_the_way_the_language_writes_it(app: Flask) -> None:
    with app.test_request_context("/", headers=FRENCH):
        refresh()
        french = plural(1000, *USED_UP, organization="Acme")
    with app.test_request_context("/", headers=ENGLISH):
        refresh()
        english = [plural(n, *USED_UP, organization="Acme") for n in (1, 1000)]
    assert french.startswith(f"Ce code a déjà été utilisé 1{NNBSP}000 fois, le maximum")
    assert english == [
        "This code has already been used the 1 time it allows. Ask Acme's admin for your own code.",
        "This code has already been used the 1,000 times it allows. Ask Acme's admin for your "
        "own code.",
    ]
    assert plural(2, "seat") == "2 seats"  # the older form stays English


def _catalog() -> Any:
    with CATALOG.open("rb") as po_file:
        return read_po(po_file, locale="fr")


def _forms(message: Any) -> tuple[list[str], list[str]]:
    ids = list(message.id) if isinstance(message.id, tuple) else [message.id]
    strings = list(message.string) if isinstance(message.string, tuple) else [message.string]
    return ids, strings


def test_the_french_catalog_is_complete_and_keeps_every_placeholder() -> None:
    catalog = _catalog()
    problems = []
    messages = [m for m in catalog if m.id]
    assert len(messages) > 200
    for message in messages:
        ids, strings = _forms(message)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        if not all(s.strip() for s in strings):
            problems.append(f"untranslated: {ids[0]!r}")
        wanted = set(PLACEHOLDER.findall(" ".join(ids)))
        for form, string in enumerate(strings):
            found = set(PLACEHOLDER.findall(string))
            # French's first form is the singular: it may leave out the count, as the English
            # singular does ("the carried seat" for "each of the %(carried)s carried seats")
            allowed = set(PLACEHOLDER.findall(ids[0])) if form == 0 and len(ids) > 1 else wanted
            if not (allowed <= found <= wanted):
                problems.append(f"placeholders differ: {ids[0]!r} -> {string!r}")
        # a lone % in a message that is formatted would break it
        if "python-format" in message.flags:
            for string in strings:
                if "%" in PLACEHOLDER.sub("", string).replace("%%", ""):
                    problems.append(f"stray %: {string!r}")
    assert problems == []


def test_every_message_of_the_code_is_in_the_french_catalog() -> None:
    """``pybabel extract`` then ``pybabel update`` were run after the last change of words."""
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog() if m.id}
    missing = set()
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "portal"), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid and msgid not in known:
            missing.add(f"portal/{filename}: {msgid!r}")
    assert sorted(missing) == []


def _first_arguments(tree: ast.AST) -> list[tuple[int, str, ast.expr | None]]:
    """Each gettext-like call with the arguments that must be literal messages."""
    calls = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in GETTEXT_CALLS
        ):
            continue
        count = 2 if node.func.id == "ngettext" else 1
        for i in range(count):
            argument = node.args[i] if len(node.args) > i else None
            calls.append((node.lineno, node.func.id, argument))
    return calls


def test_every_gettext_call_in_the_portal_takes_a_literal_message() -> None:
    """f-strings and variables cannot be extracted: a translator would never see them."""
    found = []
    for path in sorted((ROOT / "portal").rglob("*.py")):
        for lineno, name, argument in _first_arguments(ast.parse(path.read_text())):
            literal = isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            if not literal:
                found.append(f"{path.relative_to(ROOT)}:{lineno}: {name}(...)")
    assert found == []


def test_the_literal_check_catches_an_f_string() -> None:
    tree = ast.parse('x = 1\n_(f"Hello {x}")\n_l("fine")\nngettext("one", plural, 2)\n')
    bad = [
        (line, name)
        for line, name, argument in _first_arguments(tree)
        if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str))
    ]
    assert bad == [(2, "_"), (4, "ngettext")]
