"""Org admins' codes: the table by status, assigning one address or a CSV (a result per row), the
invitation email, reminders and revoking an unused assignment."""

from __future__ import annotations

import datetime as dt
import html
import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.core.text import group_code
from portal.models import (
    AuditEvent,
    EnrollmentCode,
    OutboxMessage,
    Seat,
    SeatSource,
    utcnow,
)
from tests.support.org_world import OrgWorld


def _page(response: Any) -> str:
    return response.get_data(as_text=True)


def _codes_url(world: OrgWorld, suffix: str = "") -> str:
    return f"/org/ACME/contracts/{world.seats.id}/codes{suffix}"


def _count(db: Any, model: Any, *where: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _assigned(db: Any, email: str) -> list[EnrollmentCode]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(EnrollmentCode).where(EnrollmentCode.assigned_email == email))
    )


def _assign_to_lee(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> EnrollmentCode:
    """Grace (Acme's admin, left signed in) assigns Lee one of the Seats contract's codes."""
    login_as(world.grace)
    client.post(_codes_url(world, "/assign"), data={"email": world.lee.email})
    [code] = _assigned(db, world.lee.email)
    return code


def _upload(client: FlaskClient, world: OrgWorld, content: bytes, name: str = "people.csv") -> Any:
    return client.post(
        _codes_url(world, "/assign-bulk"),
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        follow_redirects=True,  # to the job's page: the test app runs the job before it answers
    )


# ----------------------------------------------------------------------------- the table


def test_codes_page_lists_codes_by_status_with_who_used_them(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    world.seat_learner(world.seats, "ada@acme.example", "Ada Lovelace")
    login_as(world.grace)
    page = _page(client.get(_codes_url(world)))
    assert 'data-count="unused">9<' in page and 'data-count="used">1<' in page
    assert "9 unused codes" in page
    used = _page(client.get(_codes_url(world, "?status=used")))
    assert "Ada Lovelace" in used and "ada@acme.example" in used
    assert "1 used code" in used
    assert client.get(_codes_url(world, "?status=<script>&page=x")).status_code == 200
    search = _page(client.get(_codes_url(world, "?status=all&q=ada@")))
    assert "1 all code" not in search  # 'all' is not repeated in the sentence
    assert "matching “ada@”" in search


def test_codes_csv_has_every_code_with_its_redeem_link(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.grace)
    response = client.get(_codes_url(world, ".csv"))
    assert response.status_code == 200 and response.is_streamed
    lines = response.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 11  # header + 10 seat codes
    code = world.free_codes(world.seats)[0].code
    assert f"/redeem/{code}" in response.get_data(as_text=True)


def test_auto_contract_needs_no_codes(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    page = _page(client.get(f"/org/ACME/contracts/{world.auto.id}/codes"))
    assert "needs no codes" in page
    response = client.post(
        f"/org/ACME/contracts/{world.auto.id}/codes/assign", data={"email": "x@example.com"}
    )
    assert response.status_code == 409
    assert _count(db, OutboxMessage) == 0


# ----------------------------------------------------------------------------- assign one


def test_assign_a_code_sends_the_invitation_with_the_redeem_link(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    world.seats.welcome_message = "Welcome to the Acme academy."
    db.session.commit()
    login_as(world.grace)
    response = client.post(
        _codes_url(world, "/assign"), data={"email": "  New.Person@Example.COM "}
    )
    assert response.status_code == 302
    [code] = _assigned(db, "new.person@example.com")
    assert code.assigned_by_id == world.grace.id and code.assigned_at is not None
    message = db.session.scalar(select(OutboxMessage))
    assert message.to_email == "new.person@example.com"
    assert message.subject == "Acme invites you to Seats"
    assert message.organization_id == world.acme.id
    assert f"http://127.0.0.1:5000/redeem/{code.code}" in message.body_text
    assert f"Your code: {group_code(code.code)}" in message.body_text  # grouped for reading
    assert "Welcome to the Acme academy." in message.body_text
    assert (
        message.body_html
        and f'href="http://127.0.0.1:5000/redeem/{code.code}"' in message.body_html
    )
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "code.assigned"))
    assert event.actor_id == world.grace.id
    assert event.after["assignments"] == [{"email": "new.person@example.com", "code": code.code}]
    page = _page(client.get(_codes_url(world, "?status=assigned")))
    assert "new.person@example.com" in page and "Remind" in page


def test_managed_contract_invitation_says_to_sign_in_with_the_organization(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    client.post(
        f"/org/ACME/contracts/{world.managed.id}/codes/assign", data={"email": "m@acme.example"}
    )
    message = db.session.scalar(select(OutboxMessage))
    assert "Sign in with your Acme account" in message.body_text


def test_assign_refusals_have_their_own_message_and_write_nothing(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    world.seat_learner(world.seats, "seated@acme.example")
    login_as(world.grace)
    url = _codes_url(world, "/assign")
    response = client.post(url, data={"email": "not-an-address"})
    assert response.status_code == 400 and "Invalid email" in _page(response)
    response = client.post(url, data={"email": "a@b.example\r\nBcc: x@evil.example"})
    assert response.status_code == 400
    response = client.post(url, data={"email": ""})
    assert response.status_code == 400 and "Enter the address" in _page(response)
    response = client.post(url, data={"email": "seated@acme.example"})
    assert response.status_code == 409 and "Already has a seat" in _page(response)
    assert client.post(url, data={"email": "twice@acme.example"}).status_code == 302
    response = client.post(url, data={"email": "TWICE@acme.example"})
    assert response.status_code == 409 and "Already assigned" in _page(response)
    assert len(_assigned(db, "twice@acme.example")) == 1
    assert _count(db, OutboxMessage) == 1


def test_no_codes_left(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.gus)
    url = f"/org/GLOBEX/contracts/{world.other.id}/codes/assign"
    for n in range(4):
        assert client.post(url, data={"email": f"p{n}@globex.example"}).status_code == 302
    response = client.post(url, data={"email": "fifth@globex.example"})
    assert response.status_code == 409 and "No codes left" in _page(response)
    assert _assigned(db, "fifth@globex.example") == []


def test_redeeming_an_assigned_code_counts_as_assigned_access(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    code = _assign_to_lee(client, login_as, world, db)
    login_as(world.lee)
    assert client.post("/learner/redeem", data={"code": code.code}).status_code == 302
    seat = db.session.scalar(select(Seat).where(Seat.user_id == world.lee.id))
    assert seat.source is SeatSource.ASSIGNED
    login_as(world.grace)
    assert "Assigned code" in _page(client.get("/org/ACME/learners"))
    used = _page(client.get(_codes_url(world, "?status=used")))
    assert world.lee.email in used


# ----------------------------------------------------------------------------- assign many


def test_bulk_assign_reports_a_result_per_row(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    world.seat_learner(world.seats, "seated@acme.example")  # 9 codes left
    login_as(world.grace)
    client.post(_codes_url(world, "/assign"), data={"email": "before@acme.example"})  # 8 left
    rows = [
        "Email,Name",
        "one@acme.example,One",
        "not an email,Two",
        "seated@acme.example,Seated",
        "before@acme.example,Before",
        "ONE@acme.example,Duplicate",
        "",
        *[f"p{n}@acme.example,P" for n in range(8)],
    ]
    response = _upload(client, world, "\n".join(rows).encode())
    assert response.status_code == 200
    page = _page(response)
    outcomes = [
        line.split('data-outcome="', 1)[1].split('"', 1)[0]
        for line in page.splitlines()
        if 'data-outcome="' in line
    ]
    assert outcomes == [
        "assigned",
        "invalid_email",
        "already_has_seat",
        "already_assigned",
        "already_assigned",
        *["assigned"] * 7,
        "no_codes_left",
    ]
    assert "Assigned, invitation sent: 8" in page and "No codes left: 1" in page
    assert _count(db, OutboxMessage) == 1 + 8
    assert len(_assigned(db, "one@acme.example")) == 1
    assert _assigned(db, "p7@acme.example") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no addresses in it"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV text file"),
        (b"email\n", "no addresses"),
        ("\n".join(f"p{n}@x.example" for n in range(1001)).encode(), "at most 1,000"),
        (b"a@x.example\n" * 2_000, "larger than 16 KB"),
    ],
)
def test_bulk_assign_rejects_a_bad_file_and_writes_nothing(
    client: FlaskClient,
    login_as: Callable[..., Any],
    world: OrgWorld,
    db: Any,
    content: bytes,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("portal.org_admin.forms.MAX_UPLOAD", 16 * 1024)
    login_as(world.grace)
    response = _upload(client, world, content)
    assert response.status_code == 400
    assert message in _page(response)
    assert _count(db, EnrollmentCode, EnrollmentCode.assigned_email.is_not(None)) == 0
    assert _count(db, OutboxMessage) == 0


@pytest.mark.parametrize(
    "content",
    [
        b"Name,Department\nAda Lovelace,Research\nAlan Turing,Maths\n",
        b"name\n",
        b"Full name;Team\nGrace;Navy\n",
    ],
)
def test_bulk_assign_refuses_a_file_without_an_email_column(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any, content: bytes
) -> None:
    """Issue 17, item 7: a header that names no email column, over rows without an address, is
    refused as a whole; its header is never read as an address."""
    login_as(world.grace)
    response = _upload(client, world, content)
    page = html.unescape(_page(response))
    assert response.status_code == 400 and "No email column found" in page
    assert 'data-outcome="' not in page  # no result rows: nothing was read as addresses
    assert _count(db, EnrollmentCode, EnrollmentCode.assigned_email.is_not(None)) == 0
    assert _count(db, OutboxMessage) == 0


def test_bulk_assign_finds_the_addresses_under_any_header_or_without_one(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    files = [
        b"Name,Address\nAda,ada@acme.example\n",  # a header naming no email column
        b"Bob,bob@acme.example\nCy,cy@acme.example\n",  # no header: the column of addresses
        b"Work email,Name\nDee@acme.example,Dee\n",
    ]
    for content in files:
        response = _upload(client, world, content)
        assert response.status_code == 200, _page(response)
    for email in ("ada@acme.example", "bob@acme.example", "cy@acme.example", "dee@acme.example"):
        assert len(_assigned(db, email)) == 1, email
    page = _page(client.get(_codes_url(world, "?status=assigned")))
    [code] = _assigned(db, "ada@acme.example")
    assert f'<code class="code-group">{group_code(code.code)}</code>' in page


def test_bulk_assign_reads_an_email_column_anywhere_and_latin1_files(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    content = "Name;x,E-mail\nJosé,ana@acme.example\n".encode("cp1252")
    response = _upload(client, world, content)
    assert response.status_code == 200
    assert len(_assigned(db, "ana@acme.example")) == 1


# ----------------------------------------------------------------------------- remind, revoke


def test_remind_resends_at_most_once_an_hour(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    client.post(_codes_url(world, "/assign"), data={"email": "slow@acme.example"})
    [code] = _assigned(db, "slow@acme.example")
    url = _codes_url(world, f"/{code.id}/remind")
    response = client.post(url)
    assert response.status_code == 409 and "less than an hour ago" in _page(response)
    code.assigned_at = utcnow() - dt.timedelta(hours=2)
    db.session.commit()
    assert client.post(url).status_code == 302
    reminder = db.session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
    assert reminder.subject == "Reminder: your seat on Seats is waiting"
    assert f"/redeem/{code.code}" in reminder.body_text
    db.session.expire_all()
    assert db.session.get(EnrollmentCode, code.id).reminded_at is not None
    assert client.post(url).status_code == 409  # reminded just now
    assert _count(db, AuditEvent, AuditEvent.action == "code.reminded") == 1
    free = world.free_codes(world.seats)[0]
    assert client.post(_codes_url(world, f"/{free.id}/remind")).status_code == 409


def test_revoking_an_assignment_kills_the_old_link_and_replaces_the_code(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    code = _assign_to_lee(client, login_as, world, db)
    before = len(world.free_codes(world.seats))
    url = _codes_url(world, f"/{code.id}/revoke-assignment")
    assert world.lee.email in _page(client.get(url))
    assert client.post(url).status_code == 302
    db.session.expire_all()
    old = db.session.get(EnrollmentCode, code.id)
    assert old.deactivated_at is not None
    free = world.free_codes(world.seats)
    assert len(free) == before + 1
    replacement = free[-1]
    assert replacement.for_seat == old.for_seat and replacement.batch == old.batch
    assert replacement.assigned_email is None
    assert client.post(url).status_code == 409  # already revoked
    # The old link no longer works for the person it was sent to.
    login_as(world.lee)
    response = client.post("/learner/redeem", data={"code": code.code})
    assert response.status_code == 410 and "deactivated" in _page(response)
    assert _count(db, Seat) == 0


def test_a_used_code_cannot_be_reminded_or_revoked(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    code = _assign_to_lee(client, login_as, world, db)
    login_as(world.lee)
    client.post("/learner/redeem", data={"code": code.code})
    login_as(world.grace)
    response = client.post(_codes_url(world, f"/{code.id}/revoke-assignment"))
    assert response.status_code == 409 and "has already used" in _page(response)
    db.session.expire_all()
    assert db.session.get(EnrollmentCode, code.id).deactivated_at is None
