"""Renewing a contract over real HTTP on a live portal, with the Open edX emulator and a real RQ
worker: staff preview the renewal of a contract with five seat holders into one with three seats,
confirm it, and exactly the three the preview named hold seats (they enroll, the other two are
refused) while the job makes the new contract run in edX.

Races (PostgreSQL locks rows; SQLite queues writers at BEGIN): redemptions of the old contract's
codes while the renewal runs never oversell the new contract, and the new contract's codes raced
the moment it exists (its carried seats plus the racers) never pass its limit. The new contract
and its codes are invisible to anyone until the renewal's one transaction commits, so its codes
can only be raced from that instant on. Seats are never revoked here, so a final count within the
limit means the count never passed it.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from portal.demo import seed_demo
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Contract,
    CourseRun,
    EdxRunState,
    Enrollment,
    EnrollmentCode,
    MembershipType,
    RedemptionType,
    Seat,
    SeatSource,
    User,
    utcnow,
)
from portal.services import contract_runs
from portal.services.codes import generate_batch
from portal.services.locks import lock_contract
from tests.conftest import USES_POSTGRES
from tests.integration.test_seat_races import race
from tests.support.emulators import Edx
from tests.support.factories import OrganizationFactory, UserFactory
from tests.support.live_server import live_server
from tests.support.world import World

FORM_DATE = "%Y-%m-%dT%H:%M"
STAGGER = 0.03  # seconds between the racing redemptions


@pytest.fixture
def env(
    rq_app_factory: Callable[..., Flask], job_runner_for: Callable[..., Any]
) -> Iterator[SimpleNamespace]:
    """The demo courseware on a portal against a live Open edX emulator (jobs through RQ and a
    real worker), SQLite writers queued at BEGIN, and a live portal. No transaction is held
    between steps: the live portal's requests must not wait for the test."""
    from emulators.openedx import create_app as create_openedx

    with live_server(create_openedx({})) as edx_url:
        app = rq_app_factory(
            OPENEDX_LMS_URL=edx_url,
            OPENEDX_STUDIO_URL=edx_url,
            REDEEM_RATE_LIMIT="1000 per minute",
            SQLITE_BEGIN_IMMEDIATE=True,
        )
        with app.app_context():
            seed_demo()
            staff = UserFactory(staff=True)
            db.session.commit()
            e = SimpleNamespace(app=app, edx=Edx(edx_url), jobs=job_runner_for(app))
            e.staff_id = staff.id
            e.serializer = app.session_interface.get_signing_serializer(app)
            db.session.remove()
            with live_server(app) as portal:
                e.portal = portal
                yield e


def old_contract(e: Any, seats: int, holders: int, *, with_run: bool = False) -> int:
    """A code contract of a new organization ending in 30 days, with ``holders`` learners who
    claimed a seat an hour apart (``holder0`` first); with ``with_run`` a contract run of
    DS.101x made in edX. Returns its id."""
    now = utcnow().replace(second=0, microsecond=0)
    world = World(db)
    contract = world.contract(
        "Renewal Academy",
        OrganizationFactory(name="Renewal Org", key="RENEWAL"),
        MembershipType.CODE,
        seat_limit=seats,
        start_at=now - dt.timedelta(days=300),
        end_at=now + dt.timedelta(days=30),
    )
    for i in range(holders):
        world.seat_learner(
            contract, f"holder{i}@renewal.example", claimed_at=now - dt.timedelta(hours=20 - i)
        )
    if with_run:
        ds = db.session.scalar(
            select(CourseRun.course_id).where(CourseRun.course_key.like("%+DS.101x+SOURCE"))
        )
        contract_runs.add_course(contract.id, ds)
    db.session.commit()
    contract_id = contract.id
    db.session.remove()
    if with_run:
        e.jobs.run()
    return contract_id


def cookie(e: Any, user_id: int) -> dict[str, str]:
    return {"session": e.serializer.dumps({"_user_id": str(user_id), "_fresh": True})}


def post(e: Any, path: str, data: dict[str, str], user_id: int | None = None) -> Any:
    return requests.post(
        f"{e.portal}{path}",
        data=data,
        cookies=cookie(e, e.staff_id if user_id is None else user_id),
        allow_redirects=False,
        timeout=120,
    )


def renew_form(e: Any, contract_id: int, **changes: str) -> dict[str, str]:
    """The renew form as the page fills it (its proposal), with ``changes``."""
    page = requests.get(
        f"{e.portal}/staff/contracts/{contract_id}/renew", cookies=cookie(e, e.staff_id), timeout=60
    )
    assert page.status_code == 200, page.text[:1000]
    fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page.text))
    for name in ("description", "welcome_message"):
        match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>\n?(.*?)</textarea>', page.text, re.S)
        fields[name] = match.group(1) if match else ""
    selected = re.search(
        r'name="membership_type".*?<option selected value="([a-z]+)"', page.text, re.S
    )
    fields["membership_type"] = selected.group(1) if selected else "code"
    fields.pop("csrf_token", None)
    checked = set(re.findall(r'<input checked[^>]*name="([a-z_]+)"', page.text))
    for box in ("unlimited_seats", "seat_revoke_allowed", "carry_over", "deactivate_old_codes"):
        fields[box] = "y" if box in checked else ""
    return {**fields, **changes}


def preview(e: Any, contract_id: int, data: dict[str, str]) -> str:
    page = post(e, f"/staff/contracts/{contract_id}/renew", data)
    assert page.status_code == 200, page.text[:2000]
    assert "Create the renewal" in page.text
    return page.text


def confirm(e: Any, contract_id: int, data: dict[str, str], page: str) -> Any:
    fingerprint = re.search(r'name="fingerprint" value="([^"]+)"', page)
    assert fingerprint
    body = {**data, "confirm": "1", "fingerprint": fingerprint.group(1)}
    return post(e, f"/staff/contracts/{contract_id}/renew", body)


def renewal_of(contract_id: int) -> Contract:
    db.session.expire_all()
    new = db.session.scalar(select(Contract).where(Contract.renewed_from_id == contract_id))
    assert new is not None
    return new


def holders_of(contract_id: int) -> list[str]:
    """The contract's seat holders, earliest claim first."""
    return list(
        db.session.scalars(
            select(User.email)
            .join(Seat, Seat.user_id == User.id)
            .where(Seat.contract_id == contract_id, Seat.revoked_at.is_(None))
            .order_by(Seat.claimed_at, Seat.id)
        )
    )


def user_id(email: str) -> int:
    found = db.session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return int(found)


def test_renewal_carries_over_exactly_the_holders_the_preview_named(env: Any) -> None:
    e = env
    with e.app.app_context():
        old_id = old_contract(e, seats=5, holders=5, with_run=True)
        start = utcnow().replace(second=0, microsecond=0)  # the new term overlaps: enroll now
        data = renew_form(e, old_id, seat_limit="3", start_at=start.strftime(FORM_DATE))
        old_end = db.session.get(Contract, old_id).end_at
        assert data["carry_over"] == "y" and data["name"] == f"Renewal Academy {old_end.year}"
        db.session.remove()
        page = preview(e, old_id, data)
        carried = re.findall(r'data-carried="([^"]+)"', page)
        left_out = re.findall(r'data-left-out="([^"]+)"', page)
        everyone = [f"holder{i}@renewal.example" for i in range(5)]
        assert carried == everyone[:3] and left_out == everyone[3:]  # earliest claim first

        done = confirm(e, old_id, data, page)
        assert done.status_code == 302, done.text[:2000]
        new = renewal_of(old_id)
        assert done.headers["Location"].endswith(f"/staff/contracts/{new.id}")
        assert (new.seat_limit, new.organization_id) == (
            3,
            db.session.get(Contract, old_id).organization_id,
        )
        assert holders_of(new.id) == carried
        sources = set(db.session.scalars(select(Seat.source).where(Seat.contract_id == new.id)))
        assert sources == {SeatSource.STAFF}
        assert holders_of(old_id) == everyone  # the old term keeps its seats
        run = db.session.scalar(select(CourseRun).where(CourseRun.contract_id == new.id))
        assert (
            run is not None
            and run.course_key == f"course-v1:RENEWAL+DS.101x+1T{new.id}C{start.year}"
        )
        new_id, run_id, key = new.id, run.id, run.course_key
        db.session.remove()

        e.jobs.run()  # the real worker clones the source run in the emulator

        run = db.session.get(CourseRun, run_id)
        assert run.edx_state is EdxRunState.READY, run.edx_error
        remote = e.edx.run(key)
        assert remote is not None and remote["pacing_type"] == "self_paced"
        assert e.edx.modes(key) == {"audit", "verified"}
        ids = {email: user_id(email) for email in everyone}
        db.session.remove()

        # Who holds a seat enrolls in the new run; who did not fit is refused.
        for email in everyone:
            answer = requests.post(
                f"{e.portal}/learner/runs/{run_id}/enroll",
                cookies=cookie(e, ids[email]),
                allow_redirects=False,
                timeout=60,
            )
            assert answer.status_code == 302, answer.text[:500]
        enrolled = set(
            db.session.scalars(
                select(User.email)
                .join(Enrollment, Enrollment.user_id == User.id)
                .where(Enrollment.course_run_id == run_id)
            )
        )
        assert enrolled == set(carried)
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "contract.renewed", AuditEvent.object_id == str(old_id)
            )
        )
        assert event.after["renewed_as"] == new_id
        assert event.after["left_out"] == [ids[m] for m in left_out]
        db.session.remove()

        pages = [
            requests.get(
                f"{e.portal}/staff/contracts/{cid}", cookies=cookie(e, e.staff_id), timeout=60
            ).text
            for cid in (old_id, new_id)
        ]
        assert f'data-renewed-by="{new_id}"' in pages[0]
        assert f'data-renewed-from="{old_id}"' in pages[1]


def test_redemptions_racing_the_renewal_never_oversell_the_new_contract(env: Any) -> None:
    """Newcomers redeem the old contract's spare codes while staff confirm its renewal into four
    seats, deactivating its unused codes: the contract lock puts each redemption before or after
    the renewal. Before, the newcomer holds an old seat and, claiming last, does not fit (the
    renewal finds its preview outdated, and staff confirm the new one); after, the code is
    deactivated. A code a redemption holds at that moment is left to it. Either way the new
    contract holds exactly the four earliest holders, and no old code is left unused and open."""
    e = env
    with e.app.app_context():
        old_id = old_contract(e, seats=10, holders=5)
        codes = list(
            db.session.scalars(
                select(EnrollmentCode.code).where(
                    EnrollmentCode.contract_id == old_id, EnrollmentCode.times_redeemed == 0
                )
            )
        )
        newcomers = [UserFactory(email=f"newcomer{i}@renewal.example").id for i in range(5)]
        db.session.commit()
        db.session.remove()
        data = renew_form(e, old_id, seat_limit="4", deactivate_old_codes="y")
        page = preview(e, old_id, data)
        statuses: Counter[str] = Counter()
        lock = threading.Lock()
        barrier = threading.Barrier(1 + len(newcomers))

        def renew() -> None:
            barrier.wait(timeout=30)
            answer = confirm(e, old_id, data, page)
            with lock:
                statuses[f"renewal {answer.status_code}"] += 1

        def redeem(i: int) -> None:
            barrier.wait(timeout=30)
            time.sleep(
                STAGGER * i
            )  # some before the renewal takes the lock, some while it holds it
            answer = post(e, "/learner/redeem", {"code": codes[i]}, user_id=newcomers[i])
            with lock:
                statuses[f"redeem {answer.status_code}"] += 1

        threads = [threading.Thread(target=renew)]
        threads += [threading.Thread(target=redeem, args=(i,)) for i in range(len(newcomers))]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(
            f"\nrenewal racing 5 redemptions on {'PostgreSQL' if USES_POSTGRES else 'SQLite'}: "
            f"{dict(statuses)} in {time.perf_counter() - started:.2f}s"
        )
        # A redemption got its seat, or found its code deactivated by the renewal.
        assert statuses["redeem 302"] + statuses["redeem 410"] == 5
        assert statuses["renewal 302"] + statuses["renewal 409"] == 1
        if statuses["renewal 409"]:  # outdated preview: staff look again and confirm
            again = confirm(e, old_id, data, preview(e, old_id, data))
            assert again.status_code == 302, again.text[:2000]
        new = renewal_of(old_id)
        everyone = holders_of(old_id)
        assert len(everyone) == 5 + statuses["redeem 302"] <= 10
        assert everyone[:5] == [f"holder{i}@renewal.example" for i in range(5)]
        assert holders_of(new.id) == everyone[:4]  # never more than its four seats
        event = db.session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "contract.renewed", AuditEvent.object_id == str(new.id)
            )
        )
        left_out = {user_id(m) for m in everyone[4:]}
        assert user_id(everyone[4]) in event.after["left_out"]
        assert set(event.after["left_out"]) <= left_out
        open_unused = db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(
                EnrollmentCode.contract_id == old_id,
                EnrollmentCode.times_redeemed == 0,
                EnrollmentCode.deactivated_at.is_(None),
            )
        )
        assert open_unused == 0
        db.session.remove()


def test_the_new_contracts_codes_raced_the_moment_it_exists_never_oversell(env: Any) -> None:
    """Renewal into eight seats carries five holders; the instant it commits, three free seat
    codes and twelve more codes of the new contract are redeemed by fifteen learners at once:
    exactly three get a seat, and the contract holds eight, its limit."""
    e = env
    with e.app.app_context():
        old_id = old_contract(e, seats=5, holders=5)
        racers = [UserFactory(email=f"racer{i}@renewal.example").id for i in range(15)]
        db.session.commit()
        db.session.remove()
        start = utcnow().replace(second=0, microsecond=0)  # the new term is live at once
        data = renew_form(e, old_id, seat_limit="8", start_at=start.strftime(FORM_DATE))
        page = preview(e, old_id, data)
        found: dict[str, Any] = {}
        watcher_done = threading.Event()

        def watch() -> None:
            """Wait for the renewal to commit, then give the new contract twelve extra codes."""
            with e.app.app_context():
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    new_id = db.session.scalar(
                        select(Contract.id).where(Contract.renewed_from_id == old_id)
                    )
                    db.session.remove()
                    if new_id is not None:
                        generate_batch(lock_contract(new_id), 12, RedemptionType.ONE_TIME)
                        db.session.commit()
                        found["codes"] = list(
                            db.session.scalars(
                                select(EnrollmentCode.code).where(
                                    EnrollmentCode.contract_id == new_id,
                                    EnrollmentCode.times_redeemed == 0,
                                )
                            )
                        )
                        found["id"] = new_id
                        db.session.remove()
                        break
                    time.sleep(0.05)
            watcher_done.set()

        watcher = threading.Thread(target=watch)
        watcher.start()
        done = confirm(e, old_id, data, page)
        assert done.status_code == 302, done.text[:2000]
        assert watcher_done.wait(70) and "codes" in found
        watcher.join()
        assert len(found["codes"]) == 15  # 3 free seat codes + 12 extra
        statuses, elapsed = race(e.app, racers, found["codes"])
        print(
            f"\n15 redemptions of a renewed contract's codes for 3 seats: {dict(statuses)} in {elapsed:.2f}s"
        )
        assert statuses[302] == 3 and statuses[409] == 12
        seats = db.session.scalar(
            select(func.count(Seat.id)).where(
                Seat.contract_id == found["id"], Seat.revoked_at.is_(None)
            )
        )
        assert seats == 8
        db.session.remove()


def test_two_staff_confirming_the_same_renewal_make_one(env: Any) -> None:
    """Two confirmations of one preview at the same moment: the old contract's lock (and the
    unique index behind it) lets one through; the other is told it was renewed already (on the
    form, 409, when it got past the page's first check; else flashed on the old contract)."""
    e = env
    with e.app.app_context():
        old_id = old_contract(e, seats=5, holders=3)
        data = renew_form(e, old_id)
        page = preview(e, old_id, data)
        answers: list[tuple[int, str]] = []
        barrier = threading.Barrier(2)

        def go() -> None:
            barrier.wait(timeout=30)
            answer = confirm(e, old_id, data, page)
            answers.append((answer.status_code, answer.headers.get("Location", answer.text)))

        threads = [threading.Thread(target=go) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        new = renewal_of(old_id)
        made, refused = sorted(answers, key=lambda a: not a[1].endswith(f"/contracts/{new.id}"))
        assert made[0] == 302 and made[1].endswith(f"/staff/contracts/{new.id}")
        on_form = refused[0] == 409 and "already renewed" in refused[1]
        flashed = refused[0] == 302 and refused[1].endswith(f"/staff/contracts/{old_id}")
        assert on_form or flashed, refused
        renewals = db.session.scalar(
            select(func.count(Contract.id)).where(Contract.renewed_from_id == old_id)
        )
        assert renewals == 1
        assert len(holders_of(new.id)) == 3
        db.session.remove()
