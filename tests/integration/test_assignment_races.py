"""Org admins assigning codes at once never hand out one code twice or assign one address twice:
real HTTP requests race on a live portal (the contract row is locked; SQLite queues writers)."""

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
from portal.models import EnrollmentCode, OutboxMessage
from tests.conftest import USES_POSTGRES
from tests.support.live_server import live_server
from tests.support.org_world import OrgWorld


@pytest.fixture
def racing_app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(SQLITE_BEGIN_IMMEDIATE=True)


def race_assign(app: Flask, path: str, admin_ids: list[int], emails: list[str]) -> Counter[int]:
    serializer = app.session_interface.get_signing_serializer(app)
    statuses: list[int] = []
    lock = threading.Lock()
    with live_server(app) as url:
        barrier = threading.Barrier(len(emails))

        def go(i: int) -> None:
            cookie = serializer.dumps(
                {"_user_id": str(admin_ids[i % len(admin_ids)]), "_fresh": True}
            )
            barrier.wait()
            response = requests.post(
                f"{url}{path}",
                data={"email": emails[i]},
                cookies={"session": cookie},
                allow_redirects=False,
                timeout=60,
            )
            with lock:
                statuses.append(response.status_code)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(emails))]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(
            f"\n{len(emails)} parallel assignments on {'PostgreSQL' if USES_POSTGRES else 'SQLite'}:"
            f" {dict(Counter(statuses))} in {time.perf_counter() - started:.2f}s"
        )
    return Counter(statuses)


def test_twenty_admins_four_codes(racing_app: Flask) -> None:
    with racing_app.app_context():
        world = OrgWorld(db)
        path = f"/org/GLOBEX/contracts/{world.other.id}/codes/assign"  # 4 seat codes
        admin_ids, contract_id = [world.gus.id, world.staff.id], world.other.id
        db.session.remove()

    statuses = race_assign(racing_app, path, admin_ids, [f"p{n}@globex.example" for n in range(20)])
    assert statuses == Counter({302: 4, 409: 16})
    with racing_app.app_context():
        assigned = list(
            db.session.execute(
                select(EnrollmentCode.code, EnrollmentCode.assigned_email).where(
                    EnrollmentCode.contract_id == contract_id,
                    EnrollmentCode.assigned_email.is_not(None),
                )
            )
        )
        assert len(assigned) == 4
        assert len({code for code, _ in assigned}) == 4
        assert len({email for _, email in assigned}) == 4
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 4


def test_one_address_assigned_ten_times_at_once(racing_app: Flask) -> None:
    with racing_app.app_context():
        world = OrgWorld(db)
        path = f"/org/ACME/contracts/{world.seats.id}/codes/assign"
        admin_ids = [world.grace.id]
        db.session.remove()

    statuses = race_assign(racing_app, path, admin_ids, ["same@acme.example"] * 10)
    assert statuses == Counter({302: 1, 409: 9})
    with racing_app.app_context():
        assert (
            db.session.scalar(
                select(func.count(EnrollmentCode.id)).where(
                    EnrollmentCode.assigned_email == "same@acme.example"
                )
            )
            == 1
        )
