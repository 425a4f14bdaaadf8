"""Each notice is sent once when two workers run the notice tasks at the same moment.

Two threads, each with its own app context and database connection (two workers), start
``send_seat_notices`` and then ``send_contract_notices`` behind a barrier for the same thresholds,
each call in its own transaction as the task's job runs it. On PostgreSQL both insert the same
``notices`` rows at once: the second insert waits for the first transaction and then does
nothing (``ON CONFLICT DO NOTHING``); on SQLite the writers queue on the database lock (``BEGIN
IMMEDIATE``, as in demo mode). Either way every notice is in the outbox exactly once, and a real
RQ worker (a ``flask --app portal worker`` process with ``REDIS_URL``) delivers each email once.

Through the scheduler too: two schedulers fire the notice tasks for the same period at once, one
claims it, a real worker runs the task's job (writing the emails there, outside any request), and
the task's job run a second time (a retry) sends nothing more.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.core.text import plural
from portal.core.unit_of_work import transaction
from portal.extensions import db
from portal.jobs import JobKind, record_job
from portal.models import (
    BackgroundJob,
    JobState,
    Notice,
    NoticeKind,
    OutboxMessage,
    ScheduledRun,
    utcnow,
)
from portal.services import scheduling
from portal.services.notices import send_contract_notices, send_seat_notices
from tests.support.factories import ContractFactory, MembershipFactory, SeatFactory, UserFactory
from tests.support.org_world import OrgWorld

T = TypeVar("T")
WORKERS = 2
EXTRA_CONTRACTS = 20


@pytest.fixture
def racing_app(rq_app_factory: Callable[..., Flask]) -> Flask:
    return rq_app_factory(SQLITE_BEGIN_IMMEDIATE=True)


def full_contracts_ending(app: Flask, now: dt.datetime) -> int:
    """Acme (three admins) and Globex (one): every seat-limited contract full and ending within
    a week. Returns the number of admin-contract pairs, the notices each task owes."""
    with app.app_context():
        world = OrgWorld(db)
        for n in range(2):
            admin = UserFactory(email=f"admin{n}@acme.example")
            MembershipFactory(user=admin, organization=world.acme, manager=True)
        contracts = [world.seats, world.other]
        contracts += [
            ContractFactory(organization=world.acme, seat_limit=2) for _ in range(EXTRA_CONTRACTS)
        ]
        for contract in contracts:
            contract.end_at = now + dt.timedelta(days=5)
            for _ in range(int(contract.seat_limit or 0)):
                SeatFactory(contract=contract)
        db.session.commit()
        pairs = sum(3 if c.organization_id == world.acme.id else 1 for c in contracts)
        db.session.remove()
    return pairs


def at_once(app: Flask, work: Callable[[], T]) -> list[T]:
    """What ``work`` returns in each of ``WORKERS`` threads (each its own app context, session and
    connection), started at the same moment."""
    barrier = threading.Barrier(WORKERS)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                result = work()
                with lock:
                    results.append(result)
            except BaseException as exc:  # reported by the test
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(results) == WORKERS
    return results


def race(app: Flask, now: dt.datetime) -> list[tuple[int, int]]:
    """Each worker's (seat notices, contract notices) queued, each task in its own transaction
    as its job runs it."""

    def both() -> tuple[int, int]:
        with transaction():
            seats = send_seat_notices(now)
        with transaction():
            contracts = send_contract_notices(now)
        return seats, contracts

    return at_once(app, both)


def outbox_once(app: Flask, pairs: int) -> None:
    """Each notice owed is in the notices and in the outbox exactly once."""
    with app.app_context():
        kinds = Counter(db.session.scalars(select(Notice.kind)))
        assert kinds == {NoticeKind.SEATS_USED: pairs, NoticeKind.CONTRACT_ENDING: pairs}
        messages = Counter(
            db.session.execute(select(OutboxMessage.to_email, OutboxMessage.subject)).all()
        )
        assert len(messages) == 2 * pairs and set(messages.values()) == {1}
        db.session.remove()


def test_two_workers_at_once_send_each_notice_exactly_once(
    racing_app: Flask, job_runner_for: Callable[[Flask], Any]
) -> None:
    now = utcnow()
    pairs = full_contracts_ending(racing_app, now)
    results = race(racing_app, now)
    assert sum(seats for seats, _ in results) == pairs
    assert sum(contracts for _, contracts in results) == pairs

    outbox_once(racing_app, pairs)

    job_runner_for(racing_app).run()  # a real worker delivers them
    with racing_app.app_context():
        sent = db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_not(None))
        )
        assert sent == 2 * pairs
        jobs = Counter(
            db.session.scalars(
                select(BackgroundJob.state).where(BackgroundJob.kind == str(JobKind.EMAIL_SEND))
            )
        )
        assert jobs == {JobState.SUCCEEDED: 2 * pairs}
        # The same tasks once more (a retry, the next period): nothing new.
        with transaction():
            assert send_seat_notices(now) == 0
            assert send_contract_notices(now + dt.timedelta(hours=1)) == 0
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 2 * pairs
        db.session.remove()


def test_two_schedulers_at_once_run_each_notice_task_once_in_a_real_worker(
    racing_app: Flask, job_runner_for: Callable[[Flask], Any]
) -> None:
    now = utcnow()
    pairs = full_contracts_ending(racing_app, now)

    def fire_both() -> list[bool]:
        with transaction():
            return [
                scheduling.fire(name, now) is not None
                for name in ("seat-notices", "contract-notices")
            ]

    claims = at_once(racing_app, fire_both)
    assert sorted(claims) == [[False, False], [True, True]]  # one scheduler claimed both
    runner = job_runner_for(racing_app)
    runner.run()  # the tasks, then the emails they queued
    runner.run()
    outbox_once(racing_app, pairs)

    with racing_app.app_context():
        runs = {r.name: r for r in db.session.scalars(select(ScheduledRun))}
        assert runs["seat-notices"].summary == plural(pairs, "seat notice")
        assert runs["contract-notices"].summary == plural(pairs, "contract notice")
        with transaction():  # the seat task's job once more, as a retry would run it
            record_job(
                JobKind.SCHEDULED_TASK,
                {"task": "seat-notices", "run_id": runs["seat-notices"].id},
                object_type="scheduled_run",
                object_id=runs["seat-notices"].id,
            )
        db.session.remove()
    runner.run()
    outbox_once(racing_app, pairs)
    with racing_app.app_context():
        states = Counter(db.session.scalars(select(BackgroundJob.state)))
        assert states == {JobState.SUCCEEDED: 2 * pairs + 3}
        assert (
            db.session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))
            )
            == 0
        )
        db.session.remove()
