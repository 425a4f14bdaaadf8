"""Emails speak their reader's language (issue 17, item 9): a notice sent from a job is written in
the language its recipient reads the portal in (``users.locale``: chosen, else their browser's at
sign-in), English for someone the portal does not know yet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from portal.services.code_reminders import send_unredeemed_digests
from portal.services.notices import send_contract_notices, send_seat_notices
from tests.portal.test_notices import NOW, assign, ending, mail, run, seat
from tests.support.org_world import OrgWorld

NNBSP = "\u202f"


def test_a_notice_to_someone_who_reads_french_is_in_french(world: OrgWorld, db: Any) -> None:
    world.grace.locale = "fr"
    ending(world, db, NOW + dt.timedelta(days=5))
    assert run(db, send_contract_notices, NOW) == 1
    [message] = mail(db, "grace@acme.example")
    assert message.subject == "Seats prend fin dans 5 jours, le 06 décembre 2026"
    assert "le contrat de Acme sur le portail de formation, prend fin dans 5 jours" in (
        message.body_text
    )
    assert "Vous recevez cet e-mail parce que vous êtes administrateur" in message.body_text
    assert message.body_html is not None
    assert '<html lang="fr">' in message.body_html and "Bonjour," in message.body_html


def test_the_same_notice_is_in_english_for_someone_who_chose_nothing(
    world: OrgWorld, db: Any
) -> None:
    assert world.grace.locale is None
    ending(world, db, NOW + dt.timedelta(days=5))
    assert run(db, send_contract_notices, NOW) == 1
    [message] = mail(db, "grace@acme.example")
    assert message.subject == "Seats ends in 5 days, on 06 December 2026"
    assert message.body_html is not None and '<html lang="en">' in message.body_html


def test_counts_agree_in_french_too(world: OrgWorld, db: Any) -> None:
    world.grace.locale = "fr"
    contract = ending(world, db, NOW + dt.timedelta(days=200))
    contract.seat_limit = 4
    seat(contract, 3)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 1
    [message] = mail(db, "grace@acme.example")
    assert message.subject == f"Seats est utilisé à 75{NNBSP}%{NNBSP}: 3 places sur 4"
    assert "3 de ses 4 places sont prises, il en reste 1." in message.body_text


def test_the_weekly_digest_follows_its_reader(world: OrgWorld, db: Any) -> None:
    world.grace.locale = "fr"
    waits = assign(db, world, "waits@example.com")
    assert waits.assigned_at is not None
    monday = waits.assigned_at + dt.timedelta(days=4)
    assert run(db, send_unredeemed_digests, monday) == 1
    [digest] = mail(db, "grace@acme.example")
    assert digest.subject == f"Acme{NNBSP}: 1 invitation pas encore utilisée"
    assert "3, 10 et 19 jours après l'attribution du code" in digest.body_text


def test_choosing_a_language_while_signed_in_is_kept_for_the_emails(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    assert client.post("/language", data={"locale": "fr"}).status_code == 302
    db.session.expire_all()
    assert world.grace.locale == "fr"
    assert client.post("/language", data={"locale": "en"}).status_code == 302
    db.session.expire_all()
    assert world.grace.locale == "en"
