"""The staff contract, order and audit pages speak the visitor's language (issue 17, item 9): the
same page read with ``Accept-Language: fr`` is in French (its headings, buttons, counts and stored
states in words), and in English as before."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from tests.support.org_world import OrgWorld

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en"}


def _text(response: Any) -> str:
    """The words of the page's main content, tags out and whitespace (a narrow no-break space
    too) collapsed."""
    body = response.get_data(as_text=True)
    body = body.split("<main", 1)[-1].split("</main>", 1)[0]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def _page(client: FlaskClient, path: str, language: dict[str, str]) -> str:
    response = client.get(path, headers=language)
    assert response.status_code == 200, path
    return _text(response)


def test_the_contract_page_speaks_french_and_english(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    world.seat_learner(world.seats, "l1@acme.example")
    login_as(world.staff)
    path = f"/staff/contracts/{world.seats.id}"
    french = _page(client, path, FRENCH)
    for words in [
        "contrat code",
        "places prises",
        "Sessions de cours",
        "Dans edX",
        "prête",  # the run's state in edX, in words
        "Synchroniser les résultats maintenant",
        "Inutilisés 9 · utilisés 1 · attribués 0 · désactivés 0",
        "usage unique",  # a code's redemption type
        "inutilisé",  # and its status
        "Place obtenue par",
        "déc.",  # the claim date, written the French way
    ]:
        assert words in french, words
    assert "Course runs" not in french and "Unused 9" not in french
    english = _page(client, path, ENGLISH)
    for words in [
        "code contract",
        "seats claimed",
        "Course runs",
        "ready",
        "Unused 9 · used 1 · assigned 0 · deactivated 0",
        "one-time",
        "Seat from",
    ]:
        assert words in english, words


def test_the_contract_change_pages_speak_french(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    world.seat_learner(world.seats, "l1@acme.example")
    login_as(world.staff)
    c = world.seats.id
    expected = {
        f"/staff/contracts/{c}/seats": ["Places de Seats", "Actuellement : 10 places"],
        f"/staff/contracts/{c}/membership": [
            "Type d'adhésion de Seats",
            "Prévisualiser le changement",
        ],
        f"/staff/contracts/{c}/renew": [
            "Renouveler Seats",
            "Reporter les titulaires de place actuels",
        ],
        f"/staff/contracts/{c}/clone": ["Cloner Seats", "Prévisualiser la copie"],
        f"/staff/contracts/{c}/deactivate": [
            "Désactiver Seats ?",
            "Son 1 apprenant ayant une place perd l'accès",
            "9 codes utilisables",
        ],
        f"/staff/contracts/{c}/edit": ["Modifier Seats", "changer le type d'adhésion"],
        "/staff/contracts/new": ["Nouveau contrat", "Créer le contrat"],
    }
    for path, words in expected.items():
        page = _page(client, path, FRENCH)
        for word in words:
            assert word in page, (path, word)
    assert "Its 1 learner with a seat lose access" in _page(
        client, f"/staff/contracts/{c}/deactivate", ENGLISH
    )
    assert "Now: 10 seats" in _page(client, f"/staff/contracts/{c}/seats", ENGLISH)


def test_the_audit_records_speak_french(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.staff)
    french = _page(client, "/staff/audit", FRENCH)
    assert "Champ Avant Après" in french and "Brut" in french
    english = _page(client, "/staff/audit", ENGLISH)
    assert "Field Before After" in english and "Raw" in english
