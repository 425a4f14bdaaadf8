"""Enrolling under a shared contract lock stays safe: real HTTP requests race on a live portal.

Learners who hold a seat enroll side by side (``lock_contract(shared=True)``); what must still hold:
one learner's parallel clicks make one order and one enrollment, and a seat revoked while its
holder enrolls never leaves an active enrollment behind. SQLite queues writers at BEGIN instead.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.jobs import queue
from portal.models import (
    BackgroundJob,
    ContractRunEnrollments,
    Enrollment,
    Order,
    OrderState,
    Seat,
    User,
)
from portal.services.seat_revocation import revoke_seat
from tests.support.live_server import live_server
from tests.support.org_world import OrgWorld


@pytest.fixture
def racing_app(app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> Flask:
    # The edX jobs the enrollments record stay queued: what races here is the enrolling itself
    # (an inline runner would retry them against no edX and compete for SQLite's write lock).
    monkeypatch.setattr(queue, "_run_inline", lambda job_id: None)
    return app_factory(SQLITE_BEGIN_IMMEDIATE=True)


def _enroll_all(app: Flask, url: str, run_id: int, user_ids: list[int]) -> Counter[int]:
    """One POST per entry of ``user_ids`` (repeats allowed), all released at once."""
    serializer = app.session_interface.get_signing_serializer(app)
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(user_ids))

    def go(uid: int) -> None:
        cookie = serializer.dumps({"_user_id": str(uid), "_fresh": True})
        barrier.wait(timeout=30)
        response = requests.post(
            f"{url}/learner/runs/{run_id}/enroll",
            cookies={"session": cookie},
            allow_redirects=False,
            timeout=60,
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=go, args=(uid,)) for uid in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(statuses)


def test_one_learner_clicking_enroll_ten_times_at_once(racing_app: Flask) -> None:
    with racing_app.app_context():
        world = OrgWorld(db)
        ada, _ = world.seat_learner(world.seats, "ada@example.com", enroll=False)
        ada_id, run_id = ada.id, world.run.id
        db.session.remove()

    with live_server(racing_app) as url:
        statuses = _enroll_all(racing_app, url, run_id, [ada_id] * 10)

    assert statuses == Counter({302: 10})  # every click answered; none failed
    with racing_app.app_context():
        enrollments = list(
            db.session.scalars(select(Enrollment).where(Enrollment.user_id == ada_id))
        )
        orders = list(db.session.scalars(select(Order).where(Order.user_id == ada_id)))
        jobs = db.session.scalar(
            select(func.count(BackgroundJob.id)).where(BackgroundJob.kind == "openedx.enroll")
        )
    assert [(e.course_run_id, e.active) for e in enrollments] == [(run_id, True)]
    assert [o.state for o in orders] == [OrderState.FULFILLED]
    assert jobs == 1


def test_seats_revoked_while_their_holders_enroll(racing_app: Flask) -> None:
    """Ten learners enroll while five of their seats are revoked at the same moment: whichever
    comes first, nobody keeps an active enrollment without a seat, and the totals agree."""
    with racing_app.app_context():
        world = OrgWorld(db)
        learners = [
            world.seat_learner(world.seats, f"l{n}@example.com", enroll=False) for n in range(10)
        ]
        user_ids = [user.id for user, _ in learners]
        doomed = [(seat.id, user.id) for user, seat in learners[:5]]
        contract_id, run_id, staff_id = world.seats.id, world.run.id, world.staff.id
        db.session.remove()

    revoked: list[int] = []

    def revoke(seat_id: int, barrier: threading.Barrier) -> None:
        barrier.wait(timeout=30)  # holding no transaction (SQLite's would hold the write lock)
        with racing_app.app_context():
            staff = db.session.get(User, staff_id)
            assert staff is not None
            revoke_seat(contract_id, seat_id, "left", actor=staff)
            db.session.commit()
            revoked.append(seat_id)

    with live_server(racing_app) as url:
        barrier = threading.Barrier(len(doomed))
        revokers = [threading.Thread(target=revoke, args=(sid, barrier)) for sid, _ in doomed]
        for t in revokers:
            t.start()
        statuses = _enroll_all(racing_app, url, run_id, user_ids)
        for t in revokers:
            t.join()

    assert len(revoked) == 5
    assert sum(statuses.values()) == 10 and set(statuses) <= {302, 403}  # no 500
    with racing_app.app_context():
        active = set(
            db.session.scalars(
                select(Enrollment.user_id).where(
                    Enrollment.course_run_id == run_id, Enrollment.active.is_(True)
                )
            )
        )
        held = set(
            db.session.scalars(
                select(Seat.user_id).where(
                    Seat.contract_id == contract_id, Seat.revoked_at.is_(None)
                )
            )
        )
        counted = db.session.scalar(
            select(ContractRunEnrollments.active).where(
                ContractRunEnrollments.course_run_id == run_id
            )
        )
    assert held == set(user_ids[5:])
    assert active <= held  # a revoked seat never keeps an enrollment
    assert active == set(user_ids[5:])  # the learners whose seats stayed all enrolled
    assert statuses[302] >= 5
    assert counted == len(active)
