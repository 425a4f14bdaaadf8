"""The list pages in French (issue 17, item 9): staff's contracts and orders, the org admin's learners
and codes, the learner's orders and the pager of every list read in French for a French browser
(headers, filters, counts in the right number, states, refusals of a filter, flashes), with French
dates and typography, and in the same English as before for an English one."""

# ruff: noqa: RUF001 - French text has narrow no-break spaces; English text curly quotes

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from portal.models import OutboxMessage
from tests.support.factories import OrderFactory
from tests.support.org_world import OrgWorld

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
NNBSP = "\u202f"  # French typography: the narrow no-break space before : ; ! ? and inside « »
FRENCH_MONTHS = re.compile(r" \d\d (?:janv|févr|mars|avr|mai|juin|juil|août|sept|oct|nov|déc)")


def _text(response: Any, status: int = 200) -> str:
    """The page as people read it: tags out (inline ones without a space), entities decoded,
    whitespace collapsed; then, after a bar, the attributes people read (placeholders, labels)."""
    assert response.status_code == status, response.status_code
    body = response.get_data(as_text=True)
    said = " | ".join(
        html.unescape(value)
        for value in re.findall(r'\b(?:placeholder|aria-label|title)="([^"]*)"', body)
    )
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r"</?(?:strong|em|code|a|span|small)\b[^>]*>", "", body)
    text = re.sub(r"[ \t\r\n]+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))
    return f"{text} | {said}"


@pytest.fixture
def orders(world: OrgWorld, db: Any) -> OrgWorld:
    """Lee has one order on Acme's Seats contract, waiting for payment."""
    OrderFactory(contract=world.seats, user=world.lee, reference="B2B-FRENCH1")
    db.session.commit()
    return world


def test_the_staff_contracts_list_in_french_and_in_english(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.staff)
    text = _text(client.get("/staff/contracts", headers=FRENCH))
    assert "Contrats · Équipe" in text and "Nouveau contrat" in text
    assert "Toutes les organisations" in text and "Tous les types d'adhésion" in text
    assert "Tous les états en cours à venir terminé inactif" in text  # the state filter
    assert "1–4 sur 4 contrats" in text and "Contrat ou organisation" in text  # its placeholder
    assert "Début" in text and "sans date" in text and "géré" in text
    for english in ("All organizations", "contracts", "Any state", "upcoming", "open"):
        assert english not in text

    text = _text(client.get("/staff/contracts", headers=ENGLISH))
    assert "Contracts · Staff" in text and "New contract" in text
    assert "All organizations" in text and "Any state live upcoming ended inactive" in text
    assert "1–4 of 4 contracts" in text and "Starts" in text and "open" in text
    assert "Contrats" not in text and "sans date" not in text


@pytest.mark.parametrize(
    ("url", "french", "english"),
    [
        (
            "/staff/contracts?state=gone",
            f"État de contrat inconnu{NNBSP}: 'gone'{NNBSP}; choisissez parmi{NNBSP}: live, "
            "upcoming, ended, inactive.",
            "Unknown contract state 'gone'; choose one of: live, upcoming, ended, inactive.",
        ),
        (
            "/staff/contracts?organization=acme",
            "Choisissez une organisation dans la liste (pas 'acme').",
            "Choose an organization from the list (not 'acme').",
        ),
        (
            "/staff/orders?contract=-5",
            "Choisissez un contrat dans la liste (pas '-5').",
            "Choose a contract from the list (not '-5').",
        ),
    ],
)
def test_a_refused_filter_says_why_in_the_visitors_language(
    client: FlaskClient,
    login_as: Callable[..., Any],
    world: OrgWorld,
    url: str,
    french: str,
    english: str,
) -> None:
    login_as(world.staff)
    assert french in _text(client.get(url, headers=FRENCH), 400)
    text = _text(client.get(url, headers=ENGLISH), 400)
    assert english in text and "choisissez" not in text.lower()


def test_a_contract_changes_flash_in_french_and_in_english(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.staff)
    url = f"/staff/contracts/{world.managed.id}"
    done = client.post(
        f"{url}/seats",
        data={"seat_limit": "6", "confirm": "y"},
        headers=FRENCH,
        follow_redirects=True,
    )
    assert "Places fixées à 6." in _text(done)
    done = client.post(
        f"{url}/deactivate", data={"confirm": "y"}, headers=FRENCH, follow_redirects=True
    )
    assert "Managed désactivé." in _text(done)
    done = client.post(
        f"{url}/reactivate", data={"confirm": "y"}, headers=ENGLISH, follow_redirects=True
    )
    assert "Managed reactivated." in _text(done)


def test_the_staff_orders_list_in_french(
    client: FlaskClient, login_as: Callable[..., Any], orders: OrgWorld
) -> None:
    login_as(orders.staff)
    text = _text(client.get("/staff/orders", headers=FRENCH))
    assert "1–1 sur 1 commande" in text and "Télécharger le CSV" in text
    assert "B2B-FRENCH1 en attente" in text and "Créée le (UTC)" in text
    assert "Référence, apprenant, contrat, paiement ou code" in text
    assert FRENCH_MONTHS.search(text)
    text = _text(client.get("/staff/orders", headers=ENGLISH))
    assert "1–1 of 1 order" in text and "Download CSV" in text and "B2B-FRENCH1 pending" in text


def test_the_pager_counts_and_links_in_french(
    client: FlaskClient, login_as: Callable[..., Any], db: Any
) -> None:
    learner = login_as("learner")
    db.session.add_all(
        OutboxMessage(to_email=learner.email, subject=f"Message {n:03d}", body_text="x")
        for n in range(60)
    )
    db.session.commit()
    first = _text(client.get("/outbox/", headers=FRENCH))
    assert "Page 1 sur 2 · 1–50 sur 60" in first and "Suivante →" in first
    assert "Dernière »" in first and "Page 1, page actuelle" in first
    assert "Boîte d'envoi" in first and "en attente" in first
    second = _text(client.get("/outbox/?page=2", headers=FRENCH))
    assert "Page 2 sur 2 · 51–60 sur 60" in second
    assert "« Première" in second and "← Précédente" in second
    past = _text(client.get("/outbox/?page=9", headers=FRENCH))
    assert "Page 9 sur 2 · aucun résultat sur 60" in past

    first = _text(client.get("/outbox/", headers=ENGLISH))
    assert "Page 1 of 2 · 1–50 of 60" in first and "Next →" in first and "Last »" in first
    assert "Page 1, this page" in first and "Suivante" not in first
    assert "Page 9 of 2 · none of 60" in _text(client.get("/outbox/?page=9", headers=ENGLISH))


def test_the_learners_table_and_a_revoked_seat_in_french(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    _, seat = world.seat_learner(world.seats, "ada@acme.example", "Ada")
    login_as(world.grace)
    text = _text(client.get("/org/ACME/learners", headers=FRENCH))
    assert "Apprenants · Acme" in text and "Places en cours" in text
    assert "1–1 sur 1 place" in text and "Place prise le" in text
    assert "Data Science 101 inscrit Pas commencé" in text and "Révoquer la place…" in text
    assert "Nom ou e-mail" in text and FRENCH_MONTHS.search(text)
    text = _text(client.get("/org/ACME/learners", headers=ENGLISH))
    assert "1–1 of 1 seat" in text and "Data Science 101 enrolled Not started" in text
    assert "Revoke seat…" in text and "Current seats" in text

    url = f"/org/ACME/contracts/{world.seats.id}/seats/{seat.id}/revoke"
    done = client.post(
        url, data={"reason": "Left", "confirm": "y"}, headers=FRENCH, follow_redirects=True
    )
    assert (
        "La place de ada@acme.example sur Seats est révoquée et 1 inscription a pris fin. "
        "La place est libre pour quelqu'un d'autre." in _text(done)
    )
    again = client.post(url, data={"reason": "Left", "confirm": "y"}, headers=FRENCH)
    assert "Cette place a déjà été révoquée." in _text(again, 409)
    again = client.post(url, data={"reason": "Left", "confirm": "y"}, headers=ENGLISH)
    assert "This seat was already revoked." in _text(again, 409)


def test_the_codes_page_counts_codes_in_french(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    world.seat_learner(world.seats, "ada@acme.example", "Ada")
    login_as(world.grace)
    codes = f"/org/ACME/contracts/{world.seats.id}/codes"
    page = client.get(codes, headers=FRENCH)
    text = _text(page)
    assert "Codes de Seats" in text and "Envoyer un code à quelqu'un" in text
    assert "9 codes à usage unique sont libres pour une attribution." in text
    stats = re.findall(
        r'stat-value[^>]*>([^<]+)</span><span class="stat-label">([^<]+)<', page.text
    )
    assert stats[0] == ("9", "inutilisés") and stats[2] == ("1", "utilisé")  # each in its number
    assert "9 codes inutilisés." in text and "Inutilisé Attribué Utilisé Désactivé Tous" in text
    search = _text(client.get(f"{codes}?q=zzz", headers=FRENCH))
    assert f"0 code correspond à «{NNBSP}zzz{NNBSP}» parmi tous les états." in search
    assert f"Aucun code, quel que soit son état, ne correspond à «{NNBSP}zzz{NNBSP}»." in search

    text = _text(client.get(codes, headers=ENGLISH))
    assert "Codes for Seats" in text and "9 one-time codes are free to assign." in text
    assert "9 unused" in text and "9 unused codes." in text
    assert "Unused Assigned Used Deactivated All" in text
    search = _text(client.get(f"{codes}?q=zzz", headers=ENGLISH))
    assert "0 codes matching “zzz” in all statuses." in search
    assert "No code of any status matches “zzz”." in search


def test_the_learners_orders_in_french_and_in_english(
    client: FlaskClient, login_as: Callable[..., Any], orders: OrgWorld
) -> None:
    login_as(orders.lee)
    text = _text(client.get("/learner/orders", headers=FRENCH))
    assert "Mes commandes" in text and "Toutes vos commandes" in text
    assert "En attente de paiement" in text and "Reçu" in text and "Finaliser le paiement" in text
    assert FRENCH_MONTHS.search(text)
    text = _text(client.get("/learner/orders", headers=ENGLISH))
    assert "Every order of yours" in text and "Awaiting payment" in text
    assert "Receipt" in text and "Complete payment" in text and "Reçu" not in text
