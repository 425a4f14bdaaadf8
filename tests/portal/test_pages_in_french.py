"""The learner's and the public pages in French (issue 17, item 9): the same page asked for in
French reads in French (its words, dates and typography) with no English sentence left, and in
English reads as it always did. User data (names, titles, codes) stays as it was typed."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from portal.models import OrderState, User, utcnow
from tests.portal.test_catalog_api import PUBLIC, build_catalog, forget_user_between_requests
from tests.portal.test_order_pages import add_order, refund
from tests.portal.test_perf_dashboard_render import _world as dashboard_world
from tests.support.factories import (
    CodeRedemptionFactory,
    ContractFactory,
    CourseRunFactory,
    EnrollmentCodeFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.support.sessions import sign_in

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
NNBSP = "\u202f"  # French typography: a narrow no-break space before : ; ! ? and %
INLINE_TAG = re.compile(r"</?(?:a|strong|em|code|span|small|s|b|i)\b[^>]*>")
TAG = re.compile(r"<[^>]+>")


def text_of(response: Any) -> str:
    """What a reader sees: the page without its tags (a word's own markup leaves no space),
    entities decoded, spaces collapsed."""
    assert response.status_code < 500
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    body = TAG.sub(" ", INLINE_TAG.sub("", body))
    return re.sub(r"[ \t\r\n]+", " ", html.unescape(body))


@cache
def english_sentences() -> frozenset[str]:
    """The catalog's English messages of several words whose French differs: none of them may
    be read on a page served in French."""
    with CATALOG.open("rb") as po_file:
        catalog = read_po(po_file, locale="fr")
    found = set()
    for message in catalog:
        english = message.id[0] if isinstance(message.id, tuple) else message.id
        french = message.string[0] if isinstance(message.string, tuple) else message.string
        if not english or "%(" in english or "<" in english or len(english.split()) < 2:
            continue
        if french and french != english:
            found.add(english)
    return frozenset(found)


def english_left(text: str) -> list[str]:
    return sorted(s for s in english_sentences() if s in text)


def both(client: FlaskClient, path: str) -> tuple[str, str, Any]:
    """The page at ``path`` in French and in English, and the French response."""
    french = client.get(path, headers=FRENCH)
    english = client.get(path, headers=ENGLISH)
    assert french.status_code == english.status_code
    return text_of(french), text_of(english), french


def test_the_home_page_and_its_menu_in_both_languages(client: FlaskClient) -> None:
    french, english, response = both(client, "/")
    assert '<html lang="fr">' in response.get_data(as_text=True)
    for words in (
        "Les formations que votre organisation a déjà payées",
        "Parcourir le catalogue",
        "Pour les administrateurs d'organisation",
        "Se connecter",
        "Aller au contenu",
        "Portail de formation B2B · mode test",
    ):
        assert words in french, words
    assert english_left(french) == []
    for words in ("Learning your organization already paid for", "Browse the catalog", "Sign in"):
        assert words in english and words not in french
    assert "B2B Learning Portal · test mode" in english


def test_the_learners_dashboard_in_both_languages(
    client: FlaskClient, db: Any, login_as: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    user = login_as(make_user(name="Learner"))
    dashboard_world(db, user)
    french, english, _ = both(client, "/learner/")
    for words in (
        "Mes formations",
        "Mes organisations",
        "Acme · administration",
        "(rejointe avec un code)",
        "En attente de paiement",
        "Commande ORD-PENDING-1 · 149.00 USD",
        "149.00 USD par apprenant, une seule fois pour tous ses cours",
        f"Programme{NNBSP}: Program 1",
        "S'inscrire à tout le programme",
        "Mes inscriptions",
        "Inscrit",
        "N'a pas pu être préparée dans edX",
        "Désinscription en cours dans edX",
        f"Vous désinscrire de Zeta{NNBSP}?",
        "Oui, me désinscrire",
        "Aller au cours",
    ):
        assert words in french, words
    assert english_left(french) == []
    for words in ("My enrollments", "Enroll in the whole program", "Unenrolling in edX"):
        assert words in english and words not in french


@pytest.fixture
def _catalog(app: Flask, db: Any) -> None:
    forget_user_between_requests(app)
    build_catalog(db)


@pytest.mark.usefixtures("_catalog")
def test_the_catalog_in_both_languages(client: FlaskClient) -> None:
    french, english, _ = both(client, "/catalog/")
    assert "Catalogue" in french and "Programmes" in french and "Intro to Computing" in french
    assert "Débute le " in french and "rythmé par l'enseignant" in french
    assert english_left(french) == []
    assert "Starts " in english and "instructor-paced" in english

    french, english, _ = both(client, f"/catalog/runs/{PUBLIC}")
    for words in ("Session de cours", "Début", "Inscriptions", "à partir du ", "Rythme"):
        assert words in french, words
    assert english_left(french) == []
    assert "Course run" in english and "Pacing" in english and "Rythme" not in english


@pytest.fixture
def receipt(db: Any) -> tuple[User, str]:
    """Ada's refunded order of a paid contract, bought with a 20% code: Ada and the receipt's
    address."""
    contract = ContractFactory(
        organization=OrganizationFactory(name="Acme Corporation"),
        name="Acme Data Academy",
        price_per_learner=Decimal("149.00"),
    )
    run = CourseRunFactory(contract=contract, title="Data Science 101")
    ada = UserFactory(email="ada@acme.example", name="Ada Lovelace")
    code = EnrollmentCodeFactory(contract=contract, code="SPRING20", discount_percent=Decimal(20))
    redemption = CodeRedemptionFactory(code=code, user=ada)
    order = add_order(
        ada,
        contract,
        [run],
        reference="B2B-FR0001",
        state=OrderState.REFUNDED,
        discount=Decimal("29.80"),
        redemption_id=redemption.id,
        transaction_id="7000000000000000042",
        created_at=utcnow() - dt.timedelta(days=2),
    )
    refund(order)
    db.session.commit()
    return ada, f"/learner/orders/{order.reference}/receipt"


def test_the_receipt_in_both_languages(client: FlaskClient, receipt: tuple[User, str]) -> None:
    ada, path = receipt
    sign_in(client, ada)
    french, english, _ = both(client, path)
    for words in (
        "Portail de formation B2B · Reçu",
        "Référence de la commande",
        "Prix catalogue",
        "Remise (code SPRING20",
        "Remboursée",
        "Remboursements",
        "149.00 USD",
        "Data Science 101",
    ):
        assert words in french, words
    assert english_left(french) == []
    assert "B2B Learning Portal · Receipt" in english and "Refunded" in english


def test_the_error_page_in_both_languages(client: FlaskClient) -> None:
    french, english, response = both(client, "/no/such/page")
    assert response.status_code == 404
    for words in ("Page introuvable", "Catalogue des cours", "Page d'accueil", "Se connecter"):
        assert words in french, words
    assert english_left(french) == []
    assert "Page not found" in english and "Course catalog" in english
