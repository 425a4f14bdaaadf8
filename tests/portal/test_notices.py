"""Notices by email, each once per threshold: contracts ending (30 and 7 days) and ended, seats at
75% and 100% of the limit, reminders to invitees on days 3, 10 and 19 that stop on redemption or
revocation, the weekly digest of codes not redeemed; who gets them (admins who have not opted out,
invitees of organizations that keep reminders on); and the org admins' notices page. The
functions are called directly, with the ``now`` each test is about."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import (
    AuditEvent,
    Contract,
    EnrollmentCode,
    Membership,
    Notice,
    NoticeKind,
    OutboxMessage,
    Seat,
    utcnow,
)
from portal.services import code_assignment, notices, scheduling
from portal.services.code_reminders import send_code_reminders, send_unredeemed_digests
from portal.services.notices import send_contract_notices, send_seat_notices
from tests.support.factories import (
    ContractFactory,
    EnrollmentCodeFactory,
    MembershipFactory,
    OrganizationFactory,
    SeatFactory,
    UserFactory,
)
from tests.support.org_world import OrgWorld
from tests.support.sessions import csrf_token_of, sign_in
from tests.support.world import redeem

BASE = "http://127.0.0.1:5000"  # PUBLIC_BASE_URL's default: every link in the emails is absolute
PAGE = "/org/ACME/notices"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def run(db: Any, task: Callable[[dt.datetime], int], now: dt.datetime) -> int:
    """Run a scheduled function as its job does: one transaction, committed after the call."""
    sent = task(now)
    db.session.commit()
    return sent


def mail(db: Any, to: str | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if to is not None:
        query = query.where(OutboxMessage.to_email == to)
    return list(db.session.scalars(query))


def keys(db: Any, kind: NoticeKind) -> list[tuple[str, str]]:
    """(recipient, key) of every notice of ``kind``, in the order sent."""
    return [
        (n.recipient, n.key)
        for n in db.session.scalars(select(Notice).where(Notice.kind == kind).order_by(Notice.id))
    ]


def ending(world: OrgWorld, db: Any, end: dt.datetime) -> Contract:
    world.seats.end_at = end
    db.session.commit()
    return world.seats


def seat(contract: Contract, n: int) -> None:
    """``n`` more learners hold a seat on ``contract``."""
    for _ in range(n):
        SeatFactory(contract=contract)


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


# ----------------------------------------------------------------------------- contracts


def test_a_contract_gets_the_30_day_then_the_7_day_notice_then_the_ended_one_once_each(
    world: OrgWorld, db: Any
) -> None:
    end = NOW + dt.timedelta(days=45)
    ending(world, db, end)
    assert run(db, send_contract_notices, NOW) == 0  # 45 days left

    at_30 = end - dt.timedelta(days=30)
    assert run(db, send_contract_notices, at_30) == 1
    assert run(db, send_contract_notices, at_30 + dt.timedelta(hours=1)) == 0  # the next hour
    assert run(db, send_contract_notices, end - dt.timedelta(days=8)) == 0
    [notice] = mail(db)
    assert notice.to_email == "grace@acme.example"
    assert notice.subject == "Seats ends in 30 days, on 15 January 2027"
    assert "ends in 30 days: on 15 January 2027 at 09:00 UTC" in notice.body_text
    assert f"{BASE}/org/ACME/#contract-{world.seats.id}" in notice.body_text
    assert f"{BASE}/org/ACME/notices" in notice.body_text
    assert (
        notice.body_html
        and f'href="{BASE}/org/ACME/#contract-{world.seats.id}"' in notice.body_html
    )
    assert notice.organization_id == world.acme.id

    assert run(db, send_contract_notices, end - dt.timedelta(days=6, hours=23)) == 1
    assert run(db, send_contract_notices, end - dt.timedelta(days=1)) == 0
    assert mail(db)[-1].subject == "Seats ends in 7 days, on 15 January 2027"

    assert run(db, send_contract_notices, end + dt.timedelta(minutes=5)) == 1
    assert run(db, send_contract_notices, end + dt.timedelta(days=2)) == 0
    ended = mail(db)[-1]
    assert ended.subject == "Seats ended on 15 January 2027"
    assert "Nobody can redeem its codes" in ended.body_text and ended.body_html
    assert keys(db, NoticeKind.CONTRACT_ENDING) == [
        ("grace@acme.example", "30d:2027-01-15"),
        ("grace@acme.example", "7d:2027-01-15"),
    ]
    assert keys(db, NoticeKind.CONTRACT_ENDED) == [("grace@acme.example", "2027-01-15")]
    assert len(mail(db)) == 3


def test_a_contract_first_seen_within_7_days_gets_the_7_day_notice_only(
    world: OrgWorld, db: Any
) -> None:
    ending(world, db, NOW + dt.timedelta(days=5))
    assert run(db, send_contract_notices, NOW) == 1
    assert run(db, send_contract_notices, NOW + dt.timedelta(hours=1)) == 0
    assert keys(db, NoticeKind.CONTRACT_ENDING) == [("grace@acme.example", "7d:2026-12-06")]
    assert mail(db)[0].subject == "Seats ends in 5 days, on 06 December 2026"


def test_moving_the_end_date_notices_again_for_the_new_date(world: OrgWorld, db: Any) -> None:
    contract = ending(world, db, NOW + dt.timedelta(days=20))
    assert run(db, send_contract_notices, NOW) == 1
    contract.end_at = NOW + dt.timedelta(days=60)  # extended
    db.session.commit()
    assert run(db, send_contract_notices, NOW) == 0  # 60 days away: not yet
    assert run(db, send_contract_notices, NOW + dt.timedelta(days=31)) == 1
    assert [k for _, k in keys(db, NoticeKind.CONTRACT_ENDING)] == [
        "30d:2026-12-21",
        "30d:2027-01-30",
    ]


def test_a_renewed_contract_says_so(world: OrgWorld, db: Any) -> None:
    contract = ending(world, db, NOW + dt.timedelta(days=6))
    ContractFactory(
        organization=world.acme,
        name="Seats 2027",
        renewed_from=contract,
        start_at=NOW + dt.timedelta(days=6),
    )
    db.session.commit()
    assert run(db, send_contract_notices, NOW) == 1
    assert "It has been renewed: Seats 2027 starts on 07 December 2026" in mail(db)[0].body_text


def test_contract_notices_go_to_every_admin_who_has_not_opted_out(world: OrgWorld, db: Any) -> None:
    ending(world, db, NOW + dt.timedelta(days=3))
    world.other.end_at = NOW + dt.timedelta(days=3)  # Globex: Gus
    hana = UserFactory(email="hana@acme.example")
    MembershipFactory(user=hana, organization=world.acme, manager=True)
    MembershipFactory(user=UserFactory(email="ida@acme.example"), organization=world.acme)
    gone = UserFactory(email="gone@acme.example", is_active_account=False)
    MembershipFactory(user=gone, organization=world.acme, manager=True)
    grace = db.session.scalar(select(Membership).where(Membership.user_id == world.grace.id))
    grace.notices_opt_out = True
    db.session.commit()

    assert run(db, send_contract_notices, NOW) == 2
    assert sorted(m.to_email for m in mail(db)) == ["gus@globex.example", "hana@acme.example"]
    grace.notices_opt_out = False  # opting in again: the notice still due reaches her
    db.session.commit()
    assert run(db, send_contract_notices, NOW + dt.timedelta(hours=1)) == 1
    assert mail(db)[-1].to_email == "grace@acme.example"


def test_inactive_contracts_and_organizations_and_old_ends_get_no_notices(
    world: OrgWorld, db: Any
) -> None:
    ending(world, db, NOW + dt.timedelta(days=3)).active = False
    world.other.end_at = NOW + dt.timedelta(days=3)
    world.globex.active = False
    world.managed.end_at = NOW - dt.timedelta(days=8)  # ended before the notices' window
    db.session.commit()
    assert run(db, send_contract_notices, NOW) == 0
    assert run(db, send_seat_notices, NOW) == 0
    assert mail(db) == []


# ----------------------------------------------------------------------------- seats


def test_seat_notices_at_75_and_100_percent_once_each(world: OrgWorld, db: Any) -> None:
    seat(world.seats, 7)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 0  # 70%
    seat(world.seats, 1)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 1  # 80%
    assert run(db, send_seat_notices, NOW + dt.timedelta(minutes=15)) == 0
    seat(world.seats, 1)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 0  # 90%: still the 75% notice
    seat(world.seats, 1)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 1  # 100%
    assert run(db, send_seat_notices, NOW) == 0
    high, full = mail(db)
    assert high.subject == "Seats is 80% used: 8 of 10 seats"
    assert "8 of its 10 seats are taken, 2 left" in high.body_text
    assert full.subject == "Seats is full: all 10 seats are taken"
    assert f"{BASE}/org/ACME/learners?contract={world.seats.id}" in full.body_text
    assert full.body_html and "is full" in full.body_html
    assert keys(db, NoticeKind.SEATS_USED) == [
        ("grace@acme.example", "75:10"),
        ("grace@acme.example", "100:10"),
    ]


def test_raising_the_seat_limit_re_arms_the_thresholds(world: OrgWorld, db: Any) -> None:
    seat(world.seats, 10)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 1  # straight to full: only the 100% notice
    first = db.session.scalars(select(Seat).where(Seat.contract_id == world.seats.id)).first()
    assert first is not None
    first.revoked_at = NOW  # 90% after "full": no 75% notice
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 0
    world.seats.seat_limit = 20
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 0  # 9 of 20
    seat(world.seats, 6)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 1  # 15 of 20
    assert [k for _, k in keys(db, NoticeKind.SEATS_USED)] == ["100:10", "75:20"]


def test_unlimited_and_ended_contracts_get_no_seat_notices(world: OrgWorld, db: Any) -> None:
    unlimited = ContractFactory(organization=world.acme, unlimited=True)
    seat(unlimited, 3)
    seat(world.other, 4)  # Globex's 4 seats, full, but ended
    world.other.end_at = NOW - dt.timedelta(days=1)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 0


def test_the_seat_run_reads_a_few_rows_per_page_of_contracts(
    world: OrgWorld, db: Any, count_queries: Callable[[], Any]
) -> None:
    for _ in range(40):
        ContractFactory(organization=world.acme, seat_limit=4)
    db.session.commit()
    with count_queries() as few:
        assert send_seat_notices(NOW) == 0
    assert few.count <= 2  # the contracts, their seats held (running totals), nothing else
    fours = select(Contract).where(
        Contract.seat_limit == 4, Contract.organization_id == world.acme.id
    )
    for contract in db.session.scalars(fours):
        seat(contract, 4)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 40
    with count_queries() as again:
        assert send_seat_notices(NOW) == 0
    # Everything already sent: contracts, seats, admins, notices sent; no insert per contract.
    assert again.count <= 4


def test_a_run_rolled_back_sends_nothing_and_its_retry_sends_each_notice_once(
    world: OrgWorld, db: Any
) -> None:
    seat(world.seats, 10)
    db.session.commit()
    assert send_seat_notices(NOW) == 1
    db.session.rollback()  # the task's job failed after the call: its transaction is gone
    assert mail(db) == [] and keys(db, NoticeKind.SEATS_USED) == []
    assert run(db, send_seat_notices, NOW) == 1  # the retry
    assert run(db, send_seat_notices, NOW) == 0
    assert len(mail(db)) == 1


def test_the_thresholds_come_from_the_settings(app_factory: Callable[..., Flask], db: Any) -> None:
    app = app_factory(CONTRACT_NOTICE_DAYS="14", SEAT_NOTICE_PERCENTS="50", CODE_REMINDER_DAYS="")
    with app.app_context():
        world = OrgWorld(db)
        ending(world, db, NOW + dt.timedelta(days=20))
        seat(world.seats, 5)
        db.session.commit()
        assert run(db, send_contract_notices, NOW) == 0
        assert run(db, send_contract_notices, NOW + dt.timedelta(days=7)) == 1
        assert run(db, send_seat_notices, NOW) == 1
        assert [k for _, k in keys(db, NoticeKind.CONTRACT_ENDING)] == ["14d:2026-12-21"]
        assert [k for _, k in keys(db, NoticeKind.SEATS_USED)] == ["50:10"]
        code = assign(db, world, "x@example.com")  # reminders switched off: none, ever
        assert code.assigned_at is not None
        assert run(db, send_code_reminders, code.assigned_at + dt.timedelta(days=19)) == 0
    bad = app_factory(SEAT_NOTICE_PERCENTS="75,lots")
    with (
        bad.app_context(),
        pytest.raises(ValueError, match="SEAT_NOTICE_PERCENTS must be whole numbers"),
    ):
        send_seat_notices(NOW)


def test_every_page_of_contracts_and_codes_is_read(
    world: OrgWorld, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notices, "PAGE_SIZE", 3)
    extra = [ContractFactory(organization=world.acme, seat_limit=1) for _ in range(7)]
    for contract in extra:
        contract.end_at = NOW + dt.timedelta(days=10)
        seat(contract, 1)
    db.session.commit()
    assert run(db, send_seat_notices, NOW) == 7
    assert run(db, send_contract_notices, NOW) == 7
    codes = [assign(db, world, f"page{n}@example.com") for n in range(7)]
    assert codes[-1].assigned_at is not None
    assert run(db, send_code_reminders, codes[-1].assigned_at + dt.timedelta(days=3)) == 7
    for n in range(4):  # more organizations waiting than a page holds
        org = OrganizationFactory(key=f"WAIT{n}")
        admin = UserFactory(email=f"admin@wait{n}.example")
        MembershipFactory(user=admin, organization=org, manager=True)
        EnrollmentCodeFactory(
            contract=ContractFactory(organization=org),
            assigned_email=f"someone@wait{n}.example",
            assigned_at=NOW - dt.timedelta(days=1),
        )
    db.session.commit()
    assert run(db, send_unredeemed_digests, NOW) == 5  # Acme and the four


# ----------------------------------------------------------------------------- code reminders


def assign(db: Any, world: OrgWorld, email: str) -> EnrollmentCode:
    [result] = code_assignment.assign_codes(
        world.seats.id, [email], actor=world.grace, base_url=BASE
    )
    db.session.commit()
    code = db.session.scalar(select(EnrollmentCode).where(EnrollmentCode.code == result.code))
    assert code is not None and code.assigned_at is not None
    return code


def test_reminders_on_days_3_10_and_19_once_each(world: OrgWorld, db: Any) -> None:
    code = assign(db, world, "newbie@example.com")
    day0 = code.assigned_at
    assert day0 is not None
    at = {n: day0 + dt.timedelta(days=n) for n in (2, 3, 4, 10, 18, 19, 25, 40)}
    assert [run(db, send_code_reminders, at[n]) for n in (2, 3, 3, 4)] == [0, 1, 0, 0]
    assert [run(db, send_code_reminders, at[n]) for n in (10, 18, 19, 25, 40)] == [1, 0, 1, 0, 0]
    reminders = mail(db, "newbie@example.com")
    assert [m.subject for m in reminders] == [
        "Acme invites you to Seats",
        *["Reminder: your seat on Seats is waiting"] * 3,
    ]
    assert "This is a reminder" in reminders[1].body_text
    assert f"{BASE}/redeem/{code.code}" in reminders[1].body_text and reminders[1].body_html
    iso = day0.isoformat()
    assert [k for _, k in keys(db, NoticeKind.CODE_REMINDER)] == [
        f"d3:{iso}",
        f"d10:{iso}",
        f"d19:{iso}",
    ]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "code.reminded"))
    assert [e.after["day"] for e in events] == [3, 10, 19]


def test_the_reminder_run_reads_a_page_of_codes_at_a_time(
    world: OrgWorld, db: Any, count_queries: Callable[[], Any]
) -> None:
    codes = [assign(db, world, f"person{n}@example.com") for n in range(8)]
    assert codes[-1].assigned_at is not None
    day3 = codes[-1].assigned_at + dt.timedelta(days=3)
    assert run(db, send_code_reminders, day3) == 8
    with count_queries() as again:
        assert send_code_reminders(day3 + dt.timedelta(hours=1)) == 0
    assert again.count <= 2  # the page of codes due, the reminders they had: nothing per code


def test_a_late_run_sends_only_the_latest_reminder_due(world: OrgWorld, db: Any) -> None:
    code = assign(db, world, "late@example.com")
    assert code.assigned_at is not None
    assert run(db, send_code_reminders, code.assigned_at + dt.timedelta(days=12)) == 1
    assert [k.split(":")[0] for _, k in keys(db, NoticeKind.CODE_REMINDER)] == ["d10"]


def test_reminders_stop_when_the_code_is_redeemed_or_the_assignment_revoked(
    world: OrgWorld, db: Any
) -> None:
    used = assign(db, world, "lee@example.com")
    taken_back = assign(db, world, "left@example.com")
    assign(db, world, "waits@example.com")
    assert used.assigned_at is not None
    day3 = used.assigned_at + dt.timedelta(days=3, minutes=1)
    assert run(db, send_code_reminders, day3) == 3
    redeem(used, world.lee)
    code_assignment.revoke_assignment(world.seats.id, taken_back.id)
    db.session.commit()
    assert run(db, send_code_reminders, day3 + dt.timedelta(days=7)) == 1
    assert mail(db, "waits@example.com")[-1].subject.startswith("Reminder")
    assert len(mail(db, "lee@example.com")) == 2 and len(mail(db, "left@example.com")) == 2


def test_a_reassigned_code_starts_its_reminders_over(world: OrgWorld, db: Any) -> None:
    code = assign(db, world, "first@example.com")
    assert code.assigned_at is not None
    first = code.assigned_at
    assert run(db, send_code_reminders, first + dt.timedelta(days=4)) == 1
    code.assigned_email, code.assigned_at = "second@example.com", first + dt.timedelta(days=5)
    db.session.commit()
    assert run(db, send_code_reminders, first + dt.timedelta(days=6)) == 0
    assert run(db, send_code_reminders, first + dt.timedelta(days=8)) == 1
    assert mail(db, "second@example.com")[0].subject.startswith("Reminder")


def test_no_reminders_when_the_organization_turned_them_off_or_the_contract_ended(
    world: OrgWorld, db: Any
) -> None:
    code = assign(db, world, "quiet@example.com")
    assert code.assigned_at is not None
    world.acme.invite_reminders = False
    db.session.commit()
    day3 = code.assigned_at + dt.timedelta(days=3)
    assert run(db, send_code_reminders, day3) == 0
    world.acme.invite_reminders = True
    world.seats.end_at = day3 - dt.timedelta(hours=1)
    db.session.commit()
    assert run(db, send_code_reminders, day3) == 0
    world.seats.end_at = None
    db.session.commit()
    assert run(db, send_code_reminders, day3) == 1


# ----------------------------------------------------------------------------- the digest


def test_the_weekly_digest_lists_the_codes_waiting(world: OrgWorld, db: Any) -> None:
    waits = assign(db, world, "waits@example.com")
    used = assign(db, world, "lee@example.com")
    assert waits.assigned_at is not None
    redeem(used, world.lee)
    db.session.commit()
    monday = waits.assigned_at + dt.timedelta(days=4)
    assert run(db, send_code_reminders, monday) == 1
    assert run(db, send_unredeemed_digests, monday) == 1
    assert run(db, send_unredeemed_digests, monday + dt.timedelta(hours=3)) == 0  # same week
    [digest] = mail(db, "grace@acme.example")
    assert digest.subject == "Acme: 1 invitation not redeemed yet"
    line = (
        f"- waits@example.com: Seats, assigned {waits.assigned_at:%d %b %Y}, 1 automatic reminder"
    )
    assert line in digest.body_text
    assert "waits@example.com" in digest.body_text and "lee@example.com" not in digest.body_text
    assert "1 automatic reminder" in digest.body_text
    codes_link = f"{BASE}/org/ACME/contracts/{world.seats.id}/codes?status=assigned"
    assert codes_link in digest.body_text
    assert digest.body_html and "waits@example.com" in digest.body_html
    assert "3, 10, and 19 days after" in digest.body_text
    week = monday.isocalendar()
    assert keys(db, NoticeKind.UNREDEEMED_DIGEST) == [
        ("grace@acme.example", f"{week.year}-W{week.week:02d}")
    ]
    assert run(db, send_unredeemed_digests, monday + dt.timedelta(days=7)) == 1  # next week


def test_no_digest_without_codes_waiting_or_for_admins_who_opted_out(
    world: OrgWorld, db: Any
) -> None:
    assert run(db, send_unredeemed_digests, NOW) == 0  # nothing assigned anywhere
    assign(db, world, "quiet@example.com")
    world.acme.invite_reminders = False  # the digest still comes: it says reminders are off
    db.session.commit()
    digest_at = utcnow() + dt.timedelta(days=1)
    assert run(db, send_unredeemed_digests, digest_at) == 1
    assert "Automatic reminders to invitees are off for Acme" in mail(db)[-1].body_text
    grace = db.session.scalar(select(Membership).where(Membership.user_id == world.grace.id))
    grace.notices_opt_out = True
    db.session.commit()
    assert run(db, send_unredeemed_digests, digest_at + dt.timedelta(days=7)) == 0


def test_the_scheduler_tasks_call_these_functions() -> None:
    names = {"contract-notices", "seat-notices", "code-reminders", "unredeemed-digest"}
    assert names <= set(scheduling.TASKS)


def test_each_scheduled_task_says_what_it_did(world: OrgWorld, db: Any) -> None:
    ending(world, db, NOW + dt.timedelta(days=2))
    assert scheduling.TASKS["contract-notices"].run(NOW) == "1 contract notice"
    assert scheduling.TASKS["seat-notices"].run(NOW) == "0 seat notices"


# ----------------------------------------------------------------------------- the page


def test_the_page_shows_the_choices_and_the_notices_sent(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    ending(world, db, NOW + dt.timedelta(days=3))
    world.other.end_at = NOW + dt.timedelta(days=3)
    db.session.commit()
    run(db, send_contract_notices, NOW)
    login_as(world.grace)
    page = _text(client.get(PAGE))
    assert re.search(r'<input[^>]*checked[^>]*name="email_me"|name="email_me"[^>]*checked', page)
    assert re.search(
        r'name="invite_reminders"[^>]*checked|checked[^>]*name="invite_reminders"', page
    )
    assert "Seats ends in 3 days" in page and "grace@acme.example" in page
    assert "Globex Seats" not in page  # Globex's notice is not Acme's
    assert "30 and 7 days before" in page and "when 75% and 100% of a contract" in page
    assert "a reminder 3, 10, and 19 days after" in page
    assert 'href="/outbox/' in page  # the demo outbox shows the email itself


def test_opting_out_and_turning_reminders_off_are_saved_and_audited(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    login_as(world.grace)
    response = client.post(PAGE, data={"invite_reminders": "y"})  # email_me unticked
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    db.session.expire_all()
    grace = db.session.scalar(select(Membership).where(Membership.user_id == world.grace.id))
    assert grace is not None and grace.notices_opt_out and world.acme.invite_reminders
    assert "You will no longer get notices about Acme by email." in _text(client.get(PAGE))
    client.post(PAGE, data={})  # both unticked
    db.session.expire_all()
    assert world.acme.invite_reminders is False and grace.notices_opt_out
    client.post(PAGE, data={})
    assert "Nothing changed." in _text(client.get(PAGE))
    events = {
        e.action: (e.before, e.after, e.actor_id)
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.organization_id == world.acme.id)
        )
    }
    assert events["notices.preference_changed"] == (
        {"notices_opt_out": False},
        {"notices_opt_out": True},
        world.grace.id,
    )
    assert events["organization.invite_reminders_changed"] == (
        {"invite_reminders": True},
        {"invite_reminders": False},
        world.grace.id,
    )
    client.post(PAGE, data={"email_me": "y", "invite_reminders": "y"})
    db.session.expire_all()
    assert not grace.notices_opt_out and world.acme.invite_reminders


def test_only_the_organizations_admins_and_staff_reach_the_page(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    assert client.get(PAGE).status_code == 302  # signed out: to the sign-in page
    login_as(world.gus)
    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE, data={}).status_code == 404
    db.session.expire_all()
    assert world.acme.invite_reminders is True
    login_as(world.lee)
    assert client.get(PAGE).status_code == 403
    login_as(world.staff)
    page = _text(client.get(PAGE))
    assert 'name="email_me"' not in page and 'name="invite_reminders"' in page
    assert client.post(PAGE, data={}).status_code == 302  # staff switch reminders, nothing else
    db.session.expire_all()
    assert world.acme.invite_reminders is False


def test_the_form_needs_its_csrf_token(app_factory: Callable[..., Flask], db: Any) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        world = OrgWorld(db)
        client = sign_in(app.test_client(), world.grace)
        page = _text(client.get(PAGE))
        forms = re.findall(r'<form\b[^>]*method="post".*?</form>', page, re.S | re.I)
        assert [f for f in forms if "/notices" in f and 'name="csrf_token"' in f]
        assert client.post(PAGE, data={}).status_code == 400
        db.session.expire_all()
        assert world.acme.invite_reminders is True
        done = client.post(PAGE, data={"csrf_token": csrf_token_of(page)})
        assert done.status_code == 302
        db.session.expire_all()
        assert world.acme.invite_reminders is False


def test_the_list_of_notices_is_paged(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    for n in range(30):
        db.session.add(
            Notice(
                kind=NoticeKind.SEATS_USED,
                subject_type="contract",
                subject_id=world.seats.id,
                recipient=f"admin{n}@acme.example",
                key="75:10",
                organization_id=world.acme.id,
            )
        )
    db.session.commit()
    login_as(world.grace)
    first = _text(client.get(PAGE))
    assert first.count("data-notice=") == 25 and "admin29@acme.example" in first
    assert 'href="/org/ACME/notices?page=2#sent"' in first
    second = _text(client.get(f"{PAGE}?page=2"))
    assert second.count("data-notice=") == 5 and "admin0@acme.example" in second
