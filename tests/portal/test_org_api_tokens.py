"""Org admins' API tokens: created on the organization's page (the value shown once, only its hash
stored), listed, revoked (then the API answers 401), every change audited and CSRF-protected."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import AuditEvent, OrganizationApiToken
from portal.services import org_api_tokens
from tests.support.org_world import OrgWorld
from tests.support.sessions import csrf_token_of, sign_in

PAGE = "/org/ACME/api-tokens"


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _created_value(page: str) -> str:
    match = re.search(r'<code id="token-value">([^<]+)</code>', page)
    assert match, "the page shows no new token"
    return match.group(1)


def _tokens(db: Any) -> list[OrganizationApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(select(OrganizationApiToken).order_by(OrganizationApiToken.id)))


def _events(db: Any, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _api(client: FlaskClient, value: str) -> Any:
    return client.get("/api/org/v1/organization", headers={"Authorization": f"Bearer {value}"})


def test_the_page_lists_tokens_and_links_the_docs(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    org_api_tokens.issue_token(world.acme, "HR reporting", created_by_id=world.grace.id)
    org_api_tokens.issue_token(world.globex, "Globex's own", created_by_id=world.gus.id)
    db.session.commit()
    login_as(world.grace)
    page = _text(client.get(PAGE))
    assert "HR reporting" in page and "Globex's own" not in page
    assert "poa_" in page and "never" in page  # the prefix, and never used yet
    assert "/api/org/v1/openapi.json" in page and "docs/org-api.md" in page
    assert 'href="/org/ACME/api-tokens" aria-current="page"' in page  # the nav link
    assert "API tokens" in _text(client.get("/org/ACME/"))


def test_creating_shows_the_value_once_and_stores_only_its_hash(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    response = client.post(PAGE, data={"name": "  HR reporting  "})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    value = _created_value(_text(response))
    assert value.startswith("poa_") and len(value) > 40
    [token] = _tokens(db)
    assert token.name == "HR reporting"
    assert token.organization_id == world.acme.id and token.created_by_id == world.grace.id
    assert token.token_hash == hashlib.sha256(value.encode()).hexdigest()
    assert token.prefix == value[:12] and value not in (token.token_hash, token.prefix)
    # Shown once: the list afterwards has the prefix, never the value.
    again = _text(client.get(PAGE))
    assert value not in again and token.prefix in again
    [event] = _events(db, "org_api_token.issued")
    assert event.organization_id == world.acme.id and event.actor_id == world.grace.id
    assert event.object_id == str(token.id) and value not in str(event.after)
    assert _api(client, value).status_code == 200


def test_a_name_is_required(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    response = client.post(PAGE, data={"name": "   "})
    assert response.status_code == 400
    assert "Name the token" in _text(response)
    assert _tokens(db) == [] and _events(db, "org_api_token.issued") == []


def test_revoking_needs_the_confirmation_then_the_api_answers_401(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    token, value = org_api_tokens.issue_token(world.acme, "CRM", created_by_id=world.grace.id)
    db.session.commit()
    assert _api(client, value).status_code == 200
    login_as(world.grace)
    url = f"{PAGE}/revoke"
    unconfirmed = client.post(url, data={"token_id": token.id})
    assert unconfirmed.status_code == 400 and "Tick the box" in _text(unconfirmed)
    assert _tokens(db)[0].revoked_at is None
    done = client.post(url, data={"token_id": token.id, "confirm": "y"}, follow_redirects=True)
    assert done.status_code == 200 and "revoked: it no longer works" in _text(done)
    assert _tokens(db)[0].revoked_at is not None
    [event] = _events(db, "org_api_token.revoked")
    assert event.organization_id == world.acme.id and event.actor_id == world.grace.id
    assert event.before is not None and event.before["revoked_at"] is None
    assert event.after is not None and event.after["revoked_at"]
    refused = _api(client, value)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    again = client.post(url, data={"token_id": token.id, "confirm": "y"}, follow_redirects=True)
    assert "already revoked" in _text(again)
    assert len(_events(db, "org_api_token.revoked")) == 1


def test_another_organizations_token_is_not_found_here(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    token, value = org_api_tokens.issue_token(world.globex, "Globex", created_by_id=world.gus.id)
    db.session.commit()
    login_as(world.grace)
    revoke = f"{PAGE}/revoke"
    assert client.post(revoke, data={"token_id": token.id, "confirm": "y"}).status_code == 404
    for bad in ("", "x", "0", "99999999999", "\u00b2"):
        assert client.post(revoke, data={"token_id": bad, "confirm": "y"}).status_code == 400
    assert _tokens(db)[0].revoked_at is None and _api(client, value).status_code == 200


def test_only_the_organizations_admins_and_staff_reach_the_page(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.gus)
    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE, data={"name": "x"}).status_code == 404
    login_as(world.lee)
    assert client.get(PAGE).status_code == 403
    login_as(world.staff)
    assert client.get(PAGE).status_code == 200


def test_every_form_needs_its_csrf_token(app_factory: Callable[..., Flask], db: Any) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        world = OrgWorld(db)
        token, _ = org_api_tokens.issue_token(world.acme, "CRM", created_by_id=world.grace.id)
        db.session.commit()
        client = sign_in(app.test_client(), world.grace)
        page = _text(client.get(PAGE))
        forms = re.findall(r'<form\b[^>]*method="post".*?</form>', page, re.S | re.I)
        mine = [f for f in forms if "/api-tokens" in f.split(">", 1)[0]]  # its action
        assert len(mine) == 2 and all('name="csrf_token"' in f for f in mine)  # create, revoke
        assert client.post(PAGE, data={"name": "Forged"}).status_code == 400
        revoke = f"{PAGE}/revoke"
        confirmed = {"token_id": token.id, "confirm": "y"}
        assert client.post(revoke, data=confirmed).status_code == 400
        assert [t.name for t in _tokens(db)] == ["CRM"] and _tokens(db)[0].revoked_at is None
        csrf = csrf_token_of(page)
        assert client.post(PAGE, data={"name": "Real", "csrf_token": csrf}).status_code == 200
        done = client.post(revoke, data={**confirmed, "csrf_token": csrf})
        assert done.status_code == 302
        assert {t.name: t.revoked_at is not None for t in _tokens(db)} == {
            "CRM": True,
            "Real": False,
        }
