"""The org admin's pages and the staff's organization, courseware and code pages in French
(issue 17, item 9): a French browser reads them in French, with French typography, dates and
numbers, and an English one reads the same English as before; the seat chart's words follow."""

# ruff: noqa: RUF001 - French text has narrow no-break spaces; English text curly quotes

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import refresh

from portal.org_admin.charts import usage_chart
from portal.services import org_api_tokens
from portal.services.seat_usage import organization_usage
from tests.support.org_world import OrgWorld

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
NNBSP = "\u202f"  # French typography: the narrow no-break space before : ; ! ? and %
FRENCH_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.")
FRENCH_MONTHS += ("oct.", "nov.", "déc.")


def _text(response: Any) -> str:
    """The page as people read it: tags out (inline ones without a space), entities decoded,
    whitespace collapsed."""
    assert response.status_code == 200, response.status_code
    body = re.sub(r"</?(?:strong|em|code|a|span)\b[^>]*>", "", response.get_data(as_text=True))
    body = html.unescape(re.sub(r"<[^>]+>", " ", body))
    return re.sub(r"[ \t\r\n]+", " ", body)


def _title(response: Any) -> str:
    match = re.search(r"<title>(.*?)</title>", response.get_data(as_text=True), re.S)
    assert match is not None
    return html.unescape(match.group(1))


def _seat_nine(world: OrgWorld) -> None:
    for n in range(9):  # 9 of the 10 seats: the amber alert
        world.seat_learner(world.seats, f"l{n}@acme.example")


def test_the_overview_in_french_and_in_english(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    _seat_nine(world)
    login_as(world.grace)
    french = client.get("/org/ACME/", headers=FRENCH)
    text = _text(french)
    assert _title(french).startswith("Acme · Utilisation des places")
    assert "Vue d'ensemble" in text and "Jetons d'API" in text and "Rapports" in text
    assert f"Seats est utilisé à 90{NNBSP}%{NNBSP}: places restantes{NNBSP}: 1 sur 10." in text
    assert "places prises" in text and "nombre de places" in text
    assert "Codes d'inscription" in text and "sans date – sans date" in text
    assert f"9 places occupées sur 10{NNBSP}; prises sur les 60 derniers jours{NNBSP}: 9." in text
    assert "Places prises par jour" in text and "limite 10" in text
    assert any(f" {month} " in text for month in FRENCH_MONTHS)  # the chart's days
    for english in ("Overview", "seats claimed", "Seats in use", "used:", "left."):
        assert english not in text

    text = _text(client.get("/org/ACME/", headers=ENGLISH))
    assert "Overview" in text and "API tokens" in text
    assert "Seats is 90% used: 1 of 10 seats left." in text
    assert "9 seats in use of 10; 9 claimed in the last 60 days." in text
    assert "Seats claimed per day" in text and "limit 10" in text
    assert "Vue d'ensemble" not in text and "places" not in text


def test_the_chart_speaks_the_request_language(app: Flask, world: OrgWorld) -> None:
    _seat_nine(world)
    today = dt.datetime.now(dt.UTC).date()
    for headers, words in (
        (FRENCH, ("limite 10", "Places occupées", f"{today:%d} ")),
        (ENGLISH, ("limit 10", "Seats in use", f"{today:%d %b}")),
    ):
        with app.test_request_context("/org/ACME/", headers=headers):
            refresh()  # the app context outlives the request: choose its locale afresh
            usage = next(
                u for u in organization_usage(world.acme) if u.contract.id == world.seats.id
            )
            chart = usage_chart(usage)
        limit, caption, day = words
        assert chart.limit_label == limit and chart.line_caption == caption
        assert chart.x_ticks[-1].label.startswith(day)  # the last day is today
        assert chart.compact is not None and chart.compact.limit_label == limit
    assert chart.bars[-1].title == f"{today:%d %b}: 9 claimed, 0 revoked, 9 in use"


def test_the_api_tokens_page_in_french_and_in_english(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    token, _ = org_api_tokens.issue_token(world.acme, "CRM", created_by_id=world.grace.id)
    org_api_tokens.revoke_token(token)
    db.session.commit()
    login_as(world.grace)
    created = client.post("/org/ACME/api-tokens", data={"name": "HR"}, headers=FRENCH)
    text = _text(created)
    assert f"Jeton «{NNBSP}HR{NNBSP}» créé" in text
    assert f"Copiez ce jeton maintenant{NNBSP}: il ne s'affiche qu'une fois." in text
    assert "Nom Jeton Créé le Dernière utilisation État" in text
    assert "jamais" in text and "actif" in text and "révoqué le " in text
    assert _title(created).startswith("Jetons d'API · Acme")

    text = _text(client.get("/org/ACME/api-tokens", headers=ENGLISH))
    assert "Name Token Created Last used Status" in text
    assert "never" in text and "active" in text and "revoked " in text
    assert "Jeton" not in text


def test_the_reports_page_in_french(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.grace)
    client.post("/org/ACME/reports", data={"frequency": "weekly"})
    text = _text(client.get("/org/ACME/reports", headers=FRENCH))
    assert "Le lien fonctionne pendant 7 jours, pour vous seul" in text
    assert "Vous recevez un rapport hebdomadaire à l'adresse grace@acme.example." in text
    assert f"Aucun envoi pour l'instant{NNBSP}:" in text and "Se désabonner" in text
    text = _text(client.get("/org/ACME/reports", headers=ENGLISH))
    assert "The link works for 7 days, only for you" in text
    assert "You receive a weekly report at grace@acme.example." in text


def test_the_staff_organization_pages_in_french_and_in_english(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.staff)
    detail = f"/staff/organizations/{world.acme.id}"
    text = _text(client.get(detail, headers=FRENCH))
    assert "Organisations Contrats Contenus de cours Tâches Journal d'audit" in text  # the nav
    assert "Nouveau contrat pour Acme" in text and "Taux d'achèvement" in text
    assert "Membres" in text and "Ajouter le membre" in text and "Active oui" in text

    confirm = client.get(f"{detail}/deactivate", headers=FRENCH)
    text = _text(confirm)
    assert _title(confirm).startswith("Désactiver Acme · Équipe")
    assert f"Désactiver Acme{NNBSP}?" in text
    assert f"3 contrats actifs se ferment à leurs apprenants{NNBSP};" in text

    text = _text(client.get(f"{detail}/deactivate", headers=ENGLISH))
    assert "Deactivate Acme?" in text and "3 active contracts close to its learners;" in text
    text = _text(client.get(detail, headers=ENGLISH))
    assert "New contract for Acme" in text and "Completion rate" in text


def test_the_staff_courseware_and_code_pages_in_french(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.staff)
    text = _text(client.get("/staff/courseware", headers=FRENCH))
    assert "Nouveau cours" in text and "Importer une session depuis edX" in text
    assert "course-v1:ACME+DS101+1T1C2026" in text and "contrat public" in text
    assert "Aucun programme pour l'instant." in text
    text = _text(client.get("/staff/courseware", headers=ENGLISH))
    assert "New course" in text and "contract public" in text and "No programs yet." in text

    code = world.free_codes(world.seats)[0]
    page = f"/staff/contracts/{world.seats.id}/codes/{code.id}/deactivate"
    text = _text(client.get(page, headers=FRENCH))
    assert "il a été utilisé 0 fois" in text and "Action irréversible." in text
    text = _text(client.get(page, headers=ENGLISH))
    assert "it has been used 0 times" in text and "This can't be undone." in text
