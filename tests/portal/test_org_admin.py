"""The org admin dashboard: overview with alerts and chart, learners table and CSV, seat revoke."""

# ruff: noqa: RUF001 - page text uses en dashes in ranges

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.models import (
    AuditEvent,
    Enrollment,
    EnrollmentCode,
    Seat,
    utcnow,
)
from portal.org_admin.charts import usage_chart
from portal.services.seat_usage import organization_usage
from tests.support.org_world import OrgWorld


def _page(response: Any) -> str:
    return response.get_data(as_text=True)


# ----------------------------------------------------------------------------- overview


def test_overview_shows_seats_per_contract_and_enrollments_by_run(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    for n in range(3):
        world.seat_learner(world.seats, f"l{n}@acme.example")
    login_as(world.grace)
    page = _page(client.get("/org/ACME/"))
    section = page[page.index(f'id="contract-{world.seats.id}"') :]
    section = section[: section.index("</section>")]
    assert re.search(r"data-claimed>3<", section)
    assert re.search(r"data-limit>10<", section)
    assert re.search(r"data-remaining>7<", section)
    assert "course-v1:ACME+DS101+1T1C2026" in section
    assert re.search(r"<td>3</td>", section)  # three active enrollments in the run
    assert (
        "<svg" in section and "<script" not in page.split("</header>", 1)[1].split("<footer", 1)[0]
    )
    assert "Globex" not in page  # never another organization's contracts


def test_overview_alerts_past_75_and_100_percent(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    login_as(world.grace)
    page = _page(client.get("/org/ACME/"))
    assert "data-alert" not in page
    for n in range(8):
        world.seat_learner(world.seats, f"l{n}@acme.example", enroll=False)
    page = _page(client.get("/org/ACME/"))
    assert f'data-alert="high" data-contract="{world.seats.id}"' in page
    assert "Seats is 80% used" in page and "2 of 10 seats left" in page
    for n in range(8, 10):
        world.seat_learner(world.seats, f"l{n}@acme.example", enroll=False)
    page = _page(client.get("/org/ACME/"))
    assert f'data-alert="full" data-contract="{world.seats.id}"' in page
    assert "Seats is full" in page


def test_usage_counts_claims_per_day_and_seats_in_use_with_revocations(
    world: OrgWorld, db: Any
) -> None:
    today = utcnow().date()

    def at(days: int) -> dt.datetime:
        return dt.datetime.combine(today - dt.timedelta(days=days), dt.time(10), tzinfo=dt.UTC)

    world.seat_learner(world.seats, "old@acme.example", claimed_at=at(100))
    for n, days in enumerate([5, 5, 2]):
        world.seat_learner(world.seats, f"n{n}@acme.example", claimed_at=at(days))
    _, gone = world.seat_learner(world.seats, "gone@acme.example", claimed_at=at(3))
    gone.revoked_at = at(1)
    db.session.commit()

    usage = next(
        u for u in organization_usage(world.acme, days=10) if u.contract.id == world.seats.id
    )
    assert usage.claimed == 4  # old + three new; "gone" was revoked
    by_day = {(today - p.day).days: p for p in usage.days}
    assert len(usage.days) == 10 and usage.days[-1].day == today
    assert by_day[9].in_use == 1  # "old" claimed before the window
    assert by_day[5].claims == 2 and by_day[5].in_use == 3
    assert by_day[3].claims == 1 and by_day[3].in_use == 4
    assert by_day[2].in_use == 5
    assert by_day[1].revokes == 1 and by_day[1].in_use == 4
    assert by_day[0].in_use == usage.claimed

    chart = usage_chart(usage)
    assert len(chart.bars) == 10
    assert [b.height > 0 for b in chart.bars].count(True) == 3  # days 5, 3 and 2
    assert chart.limit_y is not None and chart.limit_label == "limit 10"
    assert "4 seats in use of 10" in chart.summary


def test_unlimited_contract_has_no_alert_and_no_limit_line(world: OrgWorld) -> None:
    world.auto.unlimited_seats, world.auto.seat_limit = True, None
    world.db.session.commit()
    usage = next(u for u in organization_usage(world.acme) if u.contract.id == world.auto.id)
    assert usage.alert is None and usage.remaining is None
    assert usage_chart(usage).limit_y is None


# ----------------------------------------------------------------------------- learners


def test_learners_table_shows_access_enrollments_and_searches(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld
) -> None:
    world.seat_learner(world.seats, "ada@acme.example", "Ada Lovelace")
    world.seat_learner(world.seats, "alan@acme.example", "Alan Turing", enroll=False)
    world.seat_learner(world.other, "gina@globex.example", "Gina Globex")
    login_as(world.grace)
    page = _page(client.get("/org/ACME/learners"))
    assert "ada@acme.example" in page and "alan@acme.example" in page
    assert "gina@globex.example" not in page
    assert "Data Science 101" in page and "enrolled" in page
    assert "1–2 of 2 seats" in page

    page = _page(client.get("/org/ACME/learners?q=LOVELACE"))
    assert "ada@acme.example" in page and "alan@acme.example" not in page
    page = _page(client.get("/org/ACME/learners?q=%25"))  # a LIKE wildcard is taken literally
    assert "No learners match this view." in page
    # Another organization's contract id is ignored, never a way in.
    page = _page(client.get(f"/org/ACME/learners?contract={world.other.id}"))
    assert "gina@globex.example" not in page


def test_learners_paginate(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    from tests.support.org_world import bulk_learners

    bulk_learners(world.auto, None, 120)
    login_as(world.grace)
    first = _page(client.get("/org/ACME/learners"))
    assert "1–50 of 120 seats" in first and "Next →" in first
    last = _page(client.get("/org/ACME/learners?page=3"))
    assert "101–120 of 120 seats" in last and "Next →" not in last
    assert client.get("/org/ACME/learners?page=-4").status_code == 200
    assert client.get("/org/ACME/learners?page=abc&status=<x>&contract=';--").status_code == 200


def test_learners_csv_streams_the_same_view_formula_safe(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    world.seat_learner(world.seats, "ada@acme.example", '=HYPERLINK("http://evil")')
    _, seat = world.seat_learner(world.seats, "bob@acme.example", "Bob", enroll=False)
    seat.revoked_at, seat.revoke_reason = utcnow(), "+left the team"
    db.session.commit()
    world.seat_learner(world.other, "gina@globex.example", "Gina")
    login_as(world.grace)

    response = client.get(f"/org/ACME/learners.csv?contract={world.seats.id}&status=all")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == [
        "name", "email", "contract", "access", "seat claimed", "seat status", "revoked",
        "revoke reason", "enrollments", "outcome", "progress %", "grade %", "certificates",
    ]  # fmt: skip
    by_email = {row[1]: row for row in rows[1:]}
    assert set(by_email) == {"ada@acme.example", "bob@acme.example"}
    ada = by_email["ada@acme.example"]
    assert ada[0] == '\'=HYPERLINK("http://evil")'
    assert ada[2:4] == ["Seats", "Code"] and ada[5] == "active"
    assert ada[8] == "course-v1:ACME+DS101+1T1C2026 (enrolled, not started)"
    assert ada[9:] == ["Not started", "", "", "0"]  # nothing synced from edX yet
    bob = by_email["bob@acme.example"]
    assert bob[5] == "revoked" and bob[7] == "'+left the team" and bob[8] == ""

    only_active = client.get("/org/ACME/learners.csv").get_data(as_text=True)
    assert "ada@acme.example" in only_active and "bob@acme.example" not in only_active
    assert "gina@globex.example" not in only_active
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "learners.exported")
        )
        == 2
    )


# ----------------------------------------------------------------------------- revoke a seat


def test_revoke_seat_ends_enrollments_frees_the_seat_and_is_audited(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    ada, seat = world.seat_learner(world.seats, "ada@acme.example", "Ada")
    used_code = db.session.scalar(
        select(EnrollmentCode).where(
            EnrollmentCode.times_redeemed == 1, EnrollmentCode.contract_id == world.seats.id
        )
    )
    free_before = len(world.free_codes(world.seats))
    login_as(world.grace)
    url = f"/org/ACME/contracts/{world.seats.id}/seats/{seat.id}/revoke"
    page = _page(client.get(url))
    assert "Data Science 101" in page and "Revoke seat" in page

    response = client.post(url, data={"reason": "", "confirm": "y"})
    assert response.status_code == 400 and "Give a reason" in _page(response)
    response = client.post(url, data={"reason": "Left the company"})
    assert response.status_code == 400 and "Tick the box" in _page(response)
    db.session.expire_all()
    assert db.session.get(Seat, seat.id).revoked_at is None

    response = client.post(url, data={"reason": "Left the company", "confirm": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    seat = db.session.get(Seat, seat.id)
    assert seat.revoked_at is not None and seat.revoked_by_id == world.grace.id
    assert seat.revoke_reason == "Left the company"
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == ada.id))
    assert enrollment.active is False
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "seat.revoked"))
    assert event.reason == "Left the company" and event.actor_id == world.grace.id
    assert event.organization_id == world.acme.id
    # The used code stands for nothing now: a fresh code stands for the freed seat.
    assert len(world.free_codes(world.seats)) == free_before + 1
    assert db.session.get(EnrollmentCode, used_code.id).times_redeemed == 1

    again = client.post(url, data={"reason": "twice", "confirm": "y"})
    assert again.status_code == 409
    revoked = _page(client.get("/org/ACME/learners?status=revoked"))
    assert "ada@acme.example" in revoked and "Left the company" in revoked

    # Staff see it in the audit log.
    login_as(world.staff)
    assert "seat.revoked" in _page(client.get("/staff/audit?action=seat.revoked"))


def test_revoke_refused_where_the_contract_does_not_allow_it_but_staff_may(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    world.seats.seat_revoke_allowed = False
    db.session.commit()
    _, seat = world.seat_learner(world.seats, "ada@acme.example")
    url = f"/org/ACME/contracts/{world.seats.id}/seats/{seat.id}/revoke"
    login_as(world.grace)
    response = client.post(url, data={"reason": "x", "confirm": "y"})
    assert response.status_code == 403 and "does not let organization admins" in _page(response)
    db.session.expire_all()
    assert db.session.get(Seat, seat.id).revoked_at is None
    login_as(world.staff)
    assert client.post(url, data={"reason": "contract dispute", "confirm": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Seat, seat.id).revoked_by_id == world.staff.id


def test_auto_contract_seats_are_not_revoked_here(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    user = world.lee
    seat = Seat(contract_id=world.auto.id, user_id=user.id, source="auto")
    db.session.add(seat)
    db.session.commit()
    login_as(world.grace)
    response = client.post(
        f"/org/ACME/contracts/{world.auto.id}/seats/{seat.id}/revoke",
        data={"reason": "x", "confirm": "y"},
    )
    page = html.unescape(_page(response))
    assert response.status_code == 403 and "ends when they leave the organization" in page
    assert "the portal's staff can also remove them from the organization" in page


def _rows_by_seat(page: str) -> dict[int, str]:
    rows = re.findall(r'<tr data-seat="(\d+)">(.*?)</tr>', page, flags=re.S)
    return {int(seat_id): html.unescape(row) for seat_id, row in rows}


def test_the_learners_table_offers_revoke_only_where_it_works(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    """Issue 17, item 5: no "Revoke seat…" link that answers 403. An SSO seat and a seat on a
    contract that leaves revoking to staff say why instead; staff get the link on the latter."""
    _, coded = world.seat_learner(world.seats, "ada@acme.example", "Ada")
    world.managed.seat_revoke_allowed = False
    _, staff_only = world.seat_learner(world.managed, "bob@acme.example", "Bob")
    sso = Seat(contract_id=world.auto.id, user_id=world.lee.id, source="auto")
    db.session.add(sso)
    db.session.commit()

    login_as(world.grace)
    page = _page(client.get("/org/ACME/learners"))
    rows = _rows_by_seat(page)
    assert "Revoke seat…" in rows[coded.id]
    assert "Revoke seat" not in rows[sso.id]
    assert "SSO seat: it ends when they leave the organization" in rows[sso.id]
    assert "Revoke seat" not in rows[staff_only.id]
    assert "Only the portal's staff revoke seats on this contract" in rows[staff_only.id]
    links = re.findall(r'href="([^"]+/revoke)"', page)
    assert links and all(client.get(link).status_code == 200 for link in links)

    login_as(world.staff)
    rows = _rows_by_seat(_page(client.get("/org/ACME/learners")))
    assert "Revoke seat…" in rows[staff_only.id] and "Revoke seat…" in rows[coded.id]
    assert "Revoke seat" not in rows[sso.id] and "SSO seat" in rows[sso.id]


def test_revoked_learner_cannot_reuse_their_code(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    code = world.free_codes(world.seats)[0].code
    login_as(world.lee)
    assert client.post("/learner/redeem", data={"code": code}).status_code == 302
    seat = db.session.scalar(select(Seat).where(Seat.user_id == world.lee.id))
    login_as(world.grace)
    client.post(
        f"/org/ACME/contracts/{world.seats.id}/seats/{seat.id}/revoke",
        data={"reason": "moved team", "confirm": "y"},
    )
    login_as(world.lee)
    response = client.post("/learner/redeem", data={"code": code})
    assert response.status_code == 409 and "has since been revoked" in _page(response)
