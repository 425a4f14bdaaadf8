"""The running totals the database keeps (``models.usage``) always equal a count of the rows.

Every way seats and enrollments change is exercised (the services, the ORM by hand, bulk inserts,
raw SQL updates and deletes, a seat moving to another day or contract) and after each step the
totals are compared with a fresh count; the migration's backfill is checked the same way. Runs on
SQLite and, in CI, on PostgreSQL: the triggers are written once for each.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from flask_migrate import downgrade, upgrade
from sqlalchemy import delete, select, text, update

from portal.models import (
    ContractRunEnrollments,
    ContractSeatDay,
    EdxSyncState,
    Enrollment,
    Seat,
    SeatSource,
    User,
    utcnow,
)
from portal.services import seat_usage
from portal.services.learners import LearnerFilter, learners_page
from portal.services.locks import lock_contract
from portal.services.seat_revocation import revoke_seat
from portal.services.seats import claim_seat, claimed_count
from tests.conftest import ROOT
from tests.support.org_world import OrgWorld, bulk_learners


def _counted(db: Any) -> tuple[Counter[tuple[int, dt.date, str]], Counter[tuple[int, int]]]:
    """What the totals say, without zero entries."""
    days: Counter[tuple[int, dt.date, str]] = Counter()
    for row in db.session.scalars(select(ContractSeatDay)):
        days[(row.contract_id, row.day, "claim")] += row.claims
        days[(row.contract_id, row.day, "revoke")] += row.revokes
    runs: Counter[tuple[int, int]] = Counter()
    for row in db.session.scalars(select(ContractRunEnrollments)):
        runs[(row.contract_id, row.course_run_id)] += row.active
    return +days, +runs


def _live(db: Any) -> tuple[Counter[tuple[int, dt.date, str]], Counter[tuple[int, int]]]:
    """The same, counted from the rows themselves (UTC days)."""
    days: Counter[tuple[int, dt.date, str]] = Counter()
    for seat in db.session.scalars(select(Seat)):
        days[(seat.contract_id, seat.claimed_at.astimezone(dt.UTC).date(), "claim")] += 1
        if seat.revoked_at is not None:
            days[(seat.contract_id, seat.revoked_at.astimezone(dt.UTC).date(), "revoke")] += 1
    runs: Counter[tuple[int, int]] = Counter()
    for e in db.session.scalars(select(Enrollment)):
        if e.active and e.contract_id is not None:
            runs[(e.contract_id, e.course_run_id)] += 1
    return +days, +runs


def _assert_in_step(db: Any) -> None:
    db.session.commit()
    db.session.expire_all()
    assert _counted(db) == _live(db)
    for contract_id in {key[0] for key in _live(db)[0]}:
        held = db.session.scalar(
            select(text("count(*)"))
            .select_from(Seat)
            .where(Seat.contract_id == contract_id, Seat.revoked_at.is_(None))
        )
        assert claimed_count(contract_id) == held


def test_totals_follow_every_kind_of_change(db: Any) -> None:
    world = OrgWorld(db)
    s = db.session
    day = dt.timedelta(days=1)

    # Seats and enrollments by hand (the ORM), on two days.
    ada, ada_seat = world.seat_learner(world.seats, "ada@example.com")
    bob, bob_seat = world.seat_learner(world.seats, "bob@example.com", claimed_at=utcnow() - day)
    world.seat_learner(world.other, "gina@globex.example")
    _assert_in_step(db)
    assert claimed_count(world.seats.id) == 2

    # The service: a claim under the lock, a revocation, and the revoked seat claimed again.
    carl = User(email="carl@example.com", name="Carl")
    s.add(carl)
    s.flush()
    claim_seat(lock_contract(world.seats.id), carl, SeatSource.STAFF)
    _assert_in_step(db)
    assert claimed_count(world.seats.id) == 3
    revoke_seat(world.seats.id, bob_seat.id, "left the company", actor=world.staff)
    _assert_in_step(db)
    assert claimed_count(world.seats.id) == 2
    claim_seat(lock_contract(world.seats.id), bob, SeatSource.STAFF)
    _assert_in_step(db)
    assert claimed_count(world.seats.id) == 3

    # Bulk inserts (no ORM events), then raw SQL moving seats in time and between contracts.
    bulk_learners(world.auto, None, 25, prefix="bulk-auto")
    _assert_in_step(db)
    assert claimed_count(world.auto.id) == 25
    s.execute(
        update(Seat)
        .where(Seat.contract_id == world.auto.id)
        .values(claimed_at=utcnow() - 3 * day, revoked_at=utcnow() - day)
    )
    _assert_in_step(db)
    assert claimed_count(world.auto.id) == 0
    s.execute(update(Seat).where(Seat.id == ada_seat.id).values(contract_id=world.managed.id))
    _assert_in_step(db)
    assert claimed_count(world.managed.id) == 1
    s.execute(delete(Seat).where(Seat.contract_id == world.auto.id))
    _assert_in_step(db)

    # Enrollments: deactivated, reactivated, moved off the contract, deleted.
    enrollment = s.scalar(select(Enrollment).where(Enrollment.user_id == ada.id))
    enrollment.active = False
    _assert_in_step(db)
    enrollment.active = True
    enrollment.edx_state = EdxSyncState.SYNCED
    _assert_in_step(db)
    s.execute(update(Enrollment).where(Enrollment.id == enrollment.id).values(contract_id=None))
    _assert_in_step(db)
    s.execute(delete(Enrollment))
    _assert_in_step(db)
    assert _counted(db)[1] == Counter()


def test_the_overview_reads_the_totals(db: Any) -> None:
    """The overview's figures equal the rows' (held seats, per-day claims and revocations,
    enrollments by run), with a revoked seat and an inactive enrollment in the window; so do the
    learners table's totals."""
    world = OrgWorld(db)
    today = utcnow().date()
    now = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    users = [
        world.seat_learner(world.seats, f"l{n}@example.com", claimed_at=now - dt.timedelta(days=n))
        for n in range(5)
    ]
    users[4][1].revoked_at = now - dt.timedelta(days=1)
    db.session.execute(
        update(Enrollment).where(Enrollment.user_id == users[3][0].id).values(active=False)
    )
    db.session.commit()
    usage = {u.contract.id: u for u in seat_usage.organization_usage(world.acme, days=10)}
    seats = usage[world.seats.id]
    assert seats.claimed == 4
    assert [(p.claims, p.revokes, p.in_use) for p in seats.days[-5:]] == [
        (1, 0, 1),
        (1, 0, 2),
        (1, 0, 3),
        (1, 1, 3),
        (1, 0, 4),
    ]
    assert [(r.run_id, r.enrolled) for r in seats.runs] == [(world.run.id, 4)]
    assert usage[world.auto.id].claimed == 0 and usage[world.auto.id].runs == []
    # The learners table's totals (no search) come from the same running totals.
    contracts = [world.seats, world.auto]
    totals = {
        status: learners_page(contracts, LearnerFilter(status=status)).total
        for status in ("active", "revoked", "all")
    }
    assert totals == {"active": 4, "revoked": 1, "all": 5}
    assert learners_page(contracts, LearnerFilter(status="all", q="l4@")).total == 1


def test_the_migration_counts_what_is_already_there(app: Any, db: Any) -> None:
    """Rows written before the totals existed are counted once by the upgrade."""
    world = OrgWorld(db)
    world.seat_learner(world.seats, "ada@example.com")
    _, seat = world.seat_learner(
        world.seats, "bob@example.com", claimed_at=utcnow() - dt.timedelta(days=3)
    )
    seat.revoked_at = utcnow()
    bulk_learners(world.other, world.other_run, 12, prefix="old")
    db.session.commit()
    before = _live(db)
    key = (world.other.id, world.other_run.id)
    db.session.remove()
    migrations = str(ROOT / "migrations")
    downgrade(directory=migrations, revision="e3b5c8a1d2f6")
    upgrade(directory=migrations)
    assert _counted(db) == before
    assert before[1][key] == 12
