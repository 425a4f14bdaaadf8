"""Seats and code uses hold under parallel requests (b2b-rules 6): real HTTP requests race on a live
portal. On PostgreSQL the contract and code rows are locked (SELECT ... FOR UPDATE); on SQLite the
same test runs with writers queued at BEGIN."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    CodeRedemption,
    Contract,
    EnrollmentCode,
    MembershipType,
    RedemptionType,
    Seat,
    User,
)
from portal.services.codes import generate_codes
from tests.conftest import USES_POSTGRES
from tests.support.factories import ContractFactory, OrganizationFactory
from tests.support.live_server import live_server


@pytest.fixture
def racing_app(app_factory: Callable[..., Flask]) -> Flask:
    # Limits high enough that the limiter is not what stops anyone here; SQLite queues writers.
    return app_factory(REDEEM_RATE_LIMIT="1000 per minute", SQLITE_BEGIN_IMMEDIATE=True)


def race(app: Flask, user_ids: list[int], codes: list[str]) -> tuple[Counter[int], float]:
    serializer = app.session_interface.get_signing_serializer(app)
    cookies = [serializer.dumps({"_user_id": str(uid), "_fresh": True}) for uid in user_ids]
    statuses: list[int] = []
    lock = threading.Lock()
    with live_server(app) as url:
        barrier = threading.Barrier(len(user_ids))

        def go(i: int) -> None:
            barrier.wait()
            response = requests.post(
                f"{url}/learner/redeem",
                data={"code": codes[i]},
                cookies={"session": cookies[i]},
                allow_redirects=False,
                timeout=60,
            )
            with lock:
                statuses.append(response.status_code)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(user_ids))]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    return Counter(statuses), elapsed


def setup_contract(seats: int) -> Contract:
    return ContractFactory(
        organization=OrganizationFactory(name="Race Org", key="RACE"),
        name="Race",
        slug="race",
        membership_type=MembershipType.CODE,
        seat_limit=seats,
    )


def make_users(n: int) -> list[User]:
    users = [User(email=f"racer{i}@example.com") for i in range(n)]
    db.session.add_all(users)
    db.session.flush()
    return users


def test_forty_learners_five_seats(racing_app: Flask) -> None:
    with racing_app.app_context():
        contract = setup_contract(5)
        # 40 distinct one-time codes for a 5-seat contract (more codes than seats on purpose).
        generate_codes(contract, 40)
        user_ids = [u.id for u in make_users(40)]
        db.session.commit()
        codes = list(
            db.session.scalars(
                select(EnrollmentCode.code).where(EnrollmentCode.contract_id == contract.id)
            )
        )
        contract_id = contract.id
        db.session.remove()  # hold no transaction while the requests race

    statuses, elapsed = race(racing_app, user_ids, codes)
    print(
        f"\n40 parallel redemptions for 5 seats on {'PostgreSQL' if USES_POSTGRES else 'SQLite'}: "
        f"{dict(statuses)} in {elapsed:.2f}s"
    )

    assert statuses[302] == 5  # exactly five succeed
    assert statuses[409] == 35  # the others are told the contract is full
    with racing_app.app_context():
        seats = db.session.scalar(
            select(func.count(Seat.id)).where(Seat.contract_id == contract_id)
        )
        redemptions = db.session.scalar(
            select(func.count(CodeRedemption.id)).where(CodeRedemption.contract_id == contract_id)
        )
        used = db.session.scalar(
            select(func.sum(EnrollmentCode.times_redeemed)).where(
                EnrollmentCode.contract_id == contract_id
            )
        )
        seat_users = set(
            db.session.scalars(select(Seat.user_id).where(Seat.contract_id == contract_id))
        )
        redeemers = set(
            db.session.scalars(
                select(CodeRedemption.user_id).where(CodeRedemption.contract_id == contract_id)
            )
        )
    assert seats == redemptions == used == 5  # the seat and redemption tables agree
    assert seat_users == redeemers


def test_twenty_uses_of_one_one_time_code(racing_app: Flask) -> None:
    with racing_app.app_context():
        contract = setup_contract(50)
        db.session.add(
            EnrollmentCode(
                code="SHAREDCDE2345678",
                contract_id=contract.id,
                redemption_type=RedemptionType.ONE_TIME,
                max_uses=1,
            )
        )
        user_ids = [u.id for u in make_users(20)]
        db.session.commit()
        contract_id = contract.id
        db.session.remove()

    statuses, elapsed = race(racing_app, user_ids, ["SHAREDCDE2345678"] * 20)
    print(f"\n20 parallel uses of one one-time code: {dict(statuses)} in {elapsed:.2f}s")

    assert statuses[302] == 1
    assert statuses[409] == 19
    with racing_app.app_context():
        assert (
            db.session.scalar(select(func.count(Seat.id)).where(Seat.contract_id == contract_id))
            == 1
        )
        assert db.session.scalar(select(EnrollmentCode.times_redeemed)) == 1
        assert db.session.scalar(select(func.count(CodeRedemption.id))) == 1
