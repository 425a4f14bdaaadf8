"""Contract edits reach the runs and edX (b2b-rules 10): staff change a contract's dates or active
flag, or remove its courseware, over real HTTP on a live portal; the contract runs' dates and
enrollment windows change here, and a job per run (through a real RQ worker) sends them to the Open
edX emulator. Learners enroll over real HTTP too."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import (
    AuditEvent,
    BackgroundJob,
    Contract,
    CourseRun,
    EdxRunState,
    Enrollment,
    JobState,
    MembershipType,
    Order,
    OrderState,
    Seat,
    User,
    utcnow,
)
from portal.services import contract_runs
from tests.conftest import USES_POSTGRES
from tests.support.factories import EnrollmentFactory, OrganizationFactory
from tests.support.live_server import live_server
from tests.support.rows import one
from tests.support.world import World

FORM_DATE = "%Y-%m-%dT%H:%M"
UPDATE = str(JobKind.OPENEDX_UPDATE_CONTRACT_RUN)
STAGGER = 0.1  # seconds between the racing learners' requests


@pytest.fixture
def env(make_user: Callable[..., Any], edx: Any) -> Iterator[Any]:
    """``edx`` (the portal against the Open edX emulator, a job runner), the portal on a live
    server, and a free code contract ending in an hour with one contract run ready in edX.
    ``make_user`` comes first: its app context must be under ``edx``'s, not over it."""
    e = edx
    e.world = World(db)
    now = utcnow().replace(second=0, microsecond=0)
    e.contract = e.world.contract(
        "Edits",
        OrganizationFactory(name="Edits Org", key="EDITS"),
        MembershipType.CODE,
        seat_limit=20,
        start_at=now - dt.timedelta(days=30),
        end_at=now + dt.timedelta(hours=1),
        price_per_learner=None,
    )
    db.session.commit()
    e.run = add_course(e, "DS.101x")
    e.staff = make_user(is_staff=True)
    db.session.commit()
    e.serializer = e.app.session_interface.get_signing_serializer(e.app)
    with live_server(e.app) as portal:
        e.portal = portal
        yield e


def add_course(e: Any, number: str) -> CourseRun:
    course_id = db.session.scalar(
        select(CourseRun.course_id).where(
            CourseRun.course_key.like(f"%+{number}+SOURCE"), CourseRun.is_source_run.is_(True)
        )
    )
    run = contract_runs.add_course(e.contract.id, course_id)
    db.session.commit()
    e.jobs.run()
    db.session.refresh(run)
    assert run.edx_state is EdxRunState.READY, run.edx_error
    return run


def cookie(e: Any, user: User) -> dict[str, str]:
    return {"session": e.serializer.dumps({"_user_id": str(user.id), "_fresh": True})}


def staff_post(e: Any, path: str, data: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{e.portal}{path}",
        data=data,
        cookies=cookie(e, e.staff),
        allow_redirects=False,
        timeout=60,
    )


def edit_data(c: Contract, **dates: dt.datetime | None) -> dict[str, str]:
    start = dates.get("start_at", c.start_at)
    end = dates.get("end_at", c.end_at)
    return {
        "name": c.name,
        "slug": c.slug,
        "description": c.description or "",
        "welcome_message": c.welcome_message or "",
        "start_at": start.strftime(FORM_DATE) if start else "",
        "end_at": end.strftime(FORM_DATE) if end else "",
        "price_per_learner": "",
        "seat_revoke_allowed": "y" if c.seat_revoke_allowed else "",
    }


def edit_dates(e: Any, **dates: dt.datetime | None) -> requests.Response:
    """Staff's edit form: the preview first, then Confirm (the values posted back as shown)."""
    data = edit_data(e.contract, **dates)
    preview = staff_post(e, f"/staff/contracts/{e.contract.id}/edit", data)
    assert preview.status_code == 200, preview.text[:1000]
    assert "Confirm and save" in preview.text
    saved = staff_post(e, f"/staff/contracts/{e.contract.id}/edit", {**data, "confirm": "1"})
    assert saved.status_code == 302, saved.text[:1000]
    db.session.expire_all()
    return preview


def learner(e: Any, email: str) -> User:
    user, _ = e.world.seat_learner(e.contract, email, enroll=False)
    return user


def enroll(e: Any, user: User, run: CourseRun) -> requests.Response:
    return requests.post(
        f"{e.portal}/learner/runs/{run.id}/enroll",
        cookies=cookie(e, user),
        allow_redirects=False,
        timeout=60,
    )


def refusals(user: User) -> list[str]:
    db.session.expire_all()
    return [
        str((event.after or {}).get("reason"))
        for event in db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "enrollment.refused", AuditEvent.object_id == str(user.id)
            )
        )
    ]


def enrolled(user: User, run: CourseRun) -> bool:
    db.session.expire_all()
    return (
        db.session.scalar(
            select(Enrollment.id).where(
                Enrollment.user_id == user.id, Enrollment.course_run_id == run.id
            )
        )
        is not None
    )


def update_jobs(run: CourseRun) -> list[BackgroundJob]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(BackgroundJob)
            .where(BackgroundJob.kind == UPDATE, BackgroundJob.object_id == str(run.id))
            .order_by(BackgroundJob.id)
        )
    )


def edx_schedule(e: Any, run: CourseRun) -> dict[str, Any]:
    remote = e.edx.run(run.course_key)
    assert remote is not None
    return dict(remote["schedule"])


def z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- dates


def test_extending_lets_learners_enroll_after_the_old_end(env: Any) -> None:
    """The reported bug: extended contract, run still closed at the old date."""
    e = env
    ada = learner(e, "ada@edits.example")
    old_end = utcnow().replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    edit_dates(e, end_at=old_end)
    e.jobs.run()
    refused = enroll(e, ada, e.run)
    assert refused.status_code == 302 and not enrolled(ada, e.run)
    assert refusals(ada) == ["contract_ended"]
    assert edx_schedule(e, e.run)["enrollment_end"] == z(old_end)

    new_end = old_end + dt.timedelta(days=365)
    preview = edit_dates(e, end_at=new_end)
    assert 'data-runs="1"' in preview.text
    db.session.refresh(e.run)
    assert e.run.end_at == new_end and e.run.enrollment_end == new_end
    assert e.run.enrollment_open(utcnow())
    e.jobs.run()
    assert [j.state for j in update_jobs(e.run)] == [JobState.SUCCEEDED] * 2
    schedule = edx_schedule(e, e.run)
    assert schedule["end"] == z(new_end) and schedule["enrollment_end"] == z(new_end)

    answer = enroll(e, ada, e.run)  # after the old end: no "Enrollment closed"
    assert answer.status_code == 302
    assert enrolled(ada, e.run)
    assert refusals(ada) == ["contract_ended"]  # nothing refused this time


def test_shortening_closes_enrollment_in_edx(env: Any) -> None:
    e = env
    kept = learner(e, "kept@edits.example")
    assert enroll(e, kept, e.run).status_code == 302 and enrolled(kept, e.run)
    late = learner(e, "late@edits.example")
    new_end = utcnow().replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    preview = edit_dates(e, end_at=new_end)
    assert 'data-runs="1"' in preview.text and 'data-enrollments="1"' in preview.text
    assert "data-closes-enrollment" in preview.text
    db.session.refresh(e.run)
    assert e.run.enrollment_end == new_end and not e.run.enrollment_open(utcnow())
    e.jobs.run()
    schedule = edx_schedule(e, e.run)
    assert schedule["enrollment_end"] == z(new_end) and schedule["end"] == z(new_end)
    assert schedule["start"] == z(e.contract.start_at)
    assert enroll(e, late, e.run).status_code == 302
    assert not enrolled(late, e.run) and refusals(late) == ["contract_ended"]
    assert enrolled(kept, e.run)  # existing enrollments are kept
    assert one(Enrollment, user_id=kept.id).active


def test_an_edit_without_new_dates_saves_at_once(env: Any) -> None:
    e = env
    data = {**edit_data(e.contract), "name": "Edits Renamed"}
    saved = staff_post(e, f"/staff/contracts/{e.contract.id}/edit", data)
    assert saved.status_code == 302
    assert update_jobs(e.run) == []


def test_cancel_saves_nothing(env: Any) -> None:
    e = env
    end = e.contract.end_at
    data = edit_data(e.contract, end_at=end + dt.timedelta(days=10))
    preview = staff_post(e, f"/staff/contracts/{e.contract.id}/edit", data)
    assert preview.status_code == 200
    assert f'href="/staff/contracts/{e.contract.id}"' in preview.text  # Cancel: back, unsaved
    db.session.expire_all()
    assert db.session.get(Contract, e.contract.id).end_at == end
    assert update_jobs(e.run) == []


def test_preview_counts_runs_enrollments_and_pending_orders(env: Any) -> None:
    e = env
    second = add_course(e, "PY.110x")
    users = [learner(e, f"p{i}@edits.example") for i in range(3)]
    for user in users:
        EnrollmentFactory(user=user, course_run=e.run, contract_id=e.contract.id)
    EnrollmentFactory(user=users[0], course_run=second, contract_id=e.contract.id)
    EnrollmentFactory(user=users[1], course_run=second, contract_id=e.contract.id, active=False)
    for n, user in enumerate(users[:2]):
        db.session.add(
            Order(
                reference=f"EDITS-{n}",
                user_id=user.id,
                contract_id=e.contract.id,
                total=Decimal("10.00"),
                state=OrderState.PENDING,
            )
        )
    db.session.add(
        Order(
            reference="EDITS-paid",
            user_id=users[2].id,
            contract_id=e.contract.id,
            total=Decimal("10.00"),
            state=OrderState.FULFILLED,
        )
    )
    db.session.commit()
    data = edit_data(e.contract, end_at=e.contract.end_at + dt.timedelta(days=30))
    preview = staff_post(e, f"/staff/contracts/{e.contract.id}/edit", data)
    assert preview.status_code == 200
    text = preview.text
    assert 'data-runs="2"' in text
    assert 'data-enrollments="4"' in text  # active ones only
    assert 'data-pending-orders="2"' in text
    assert "data-closes-enrollment" not in text  # extending closes nothing
    assert e.run.course_key in text and second.course_key in text

    deactivate = requests.get(
        f"{e.portal}/staff/contracts/{e.contract.id}/deactivate",
        cookies=cookie(e, e.staff),
        timeout=30,
    )
    assert 'data-runs="2"' in deactivate.text and 'data-pending-orders="2"' in deactivate.text
    assert "data-closes-enrollment" in deactivate.text


# --------------------------------------------------------------------------- active flag


def test_deactivation_closes_and_reactivation_reopens(env: Any) -> None:
    e = env
    kept = learner(e, "kept2@edits.example")
    assert enroll(e, kept, e.run).status_code == 302 and enrolled(kept, e.run)
    before = utcnow()
    done = staff_post(e, f"/staff/contracts/{e.contract.id}/deactivate", {"confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    run = db.session.get(CourseRun, e.run.id)
    assert run.enrollment_end is not None and before <= run.enrollment_end <= utcnow()
    assert run.end_at == e.contract.end_at  # the course itself keeps its dates
    e.jobs.run()
    schedule = edx_schedule(e, run)
    assert schedule["enrollment_end"] == z(run.enrollment_end)
    assert schedule["end"] == z(e.contract.end_at)
    assert one(Enrollment, user_id=kept.id).active  # kept

    again = staff_post(e, f"/staff/contracts/{e.contract.id}/reactivate", {"confirm": "y"})
    assert again.status_code == 302
    db.session.expire_all()
    run = db.session.get(CourseRun, e.run.id)
    assert run.enrollment_end == e.contract.end_at
    e.jobs.run()
    assert edx_schedule(e, run)["enrollment_end"] == z(e.contract.end_at)


# --------------------------------------------------------------------------- removal


def test_removing_a_run_closes_it_in_edx(env: Any) -> None:
    e = env
    kept = learner(e, "kept3@edits.example")
    assert enroll(e, kept, e.run).status_code == 302
    empty = add_course(e, "PY.110x")
    before = utcnow()
    for run in (e.run, empty):
        answer = staff_post(e, f"/staff/contracts/{e.contract.id}/runs/{run.id}/remove", {})
        assert answer.status_code == 302
    e.jobs.run()
    for run in (e.run, empty):
        db.session.expire_all()
        local = db.session.get(CourseRun, run.id)
        assert local.enrollment_end is not None and local.enrollment_end >= before
        assert [j.state for j in update_jobs(local)] == [JobState.SUCCEEDED]
        assert edx_schedule(e, local)["enrollment_end"] == z(local.enrollment_end)
    assert db.session.get(CourseRun, e.run.id).contract_id == e.contract.id  # has enrollments
    assert db.session.get(CourseRun, empty.id).contract_id is None
    assert one(Enrollment, user_id=kept.id).active

    # A removed run stays closed when the contract is extended later (its learners' course end
    # still follows the contract).
    closed_at = db.session.get(CourseRun, e.run.id).enrollment_end
    new_end = e.contract.end_at + dt.timedelta(days=90)
    edit_dates(e, end_at=new_end)
    kept_run = db.session.get(CourseRun, e.run.id)
    assert kept_run.end_at == new_end and kept_run.enrollment_end == closed_at
    assert not kept_run.enrollment_open(utcnow())
    e.jobs.run()
    assert edx_schedule(e, kept_run)["enrollment_end"] == z(closed_at)


# --------------------------------------------------------------------------- the job


def test_the_update_job_is_retryable_and_idempotent(env: Any) -> None:
    e = env
    team = e.edx.run(e.run.course_key)["team"]
    requests.post(
        f"{e.edx.url}/__emulator__/faults",
        json={"endpoint": "course_runs.update", "status": 500, "count": 50},
        timeout=10,
    ).raise_for_status()
    new_end = e.contract.end_at + dt.timedelta(days=60)
    edit_dates(e, end_at=new_end)
    (job,) = update_jobs(e.run)
    job.max_attempts = 2
    db.session.commit()
    e.jobs.run()
    (failed,) = update_jobs(e.run)
    assert failed.state is JobState.FAILED and failed.attempts == 2
    assert "500" in (failed.last_error or "")
    db.session.refresh(e.run)
    assert e.run.edx_state is EdxRunState.READY  # the run stays enrollable here
    page = requests.get(
        f"{e.portal}/staff/jobs", params={"kind": UPDATE}, cookies=cookie(e, e.staff), timeout=30
    )
    assert page.status_code == 200 and UPDATE in page.text and f"/jobs/{job.id}/retry" in page.text
    detail = requests.get(
        f"{e.portal}/staff/contracts/{e.contract.id}", cookies=cookie(e, e.staff), timeout=30
    )
    assert f'data-job-id="{job.id}"' in detail.text

    requests.delete(f"{e.edx.url}/__emulator__/faults", timeout=10)
    assert staff_post(e, f"/staff/jobs/{job.id}/retry", {}).status_code == 302
    e.jobs.run()
    (done,) = update_jobs(e.run)
    assert done.state is JobState.SUCCEEDED, done.last_error
    first = e.edx.run(e.run.course_key)
    assert first["schedule"]["enrollment_end"] == z(new_end)
    assert first["team"] == team  # the course team survives the PUT

    from portal.jobs.queue import retry_now

    done.state = JobState.FAILED  # run it once more, as a lost answer or a double click would
    retry_now(done)
    db.session.commit()
    e.jobs.run()
    assert update_jobs(e.run)[0].state is JobState.SUCCEEDED
    assert e.edx.run(e.run.course_key) == first  # the second run changed nothing


def test_the_job_waits_for_a_run_still_being_created(env: Any) -> None:
    e = env
    run = contract_runs.add_course(e.contract.id, e.run.course_id)  # not in edX yet
    db.session.commit()
    edit_dates(e, end_at=e.contract.end_at + dt.timedelta(days=5))
    e.jobs.run()  # the creation and the update; the update waits for the creation
    db.session.refresh(run)
    assert run.edx_state is EdxRunState.READY
    assert all(j.state is JobState.SUCCEEDED for j in update_jobs(run)), [
        j.last_error for j in update_jobs(run)
    ]
    assert edx_schedule(e, run)["enrollment_end"] == z(run.enrollment_end)


# --------------------------------------------------------------------------- the race


def test_learners_enrolling_while_the_contract_ends(env: Any) -> None:
    """Ten learners enroll over real HTTP while staff move the contract's end into the past. On
    PostgreSQL the contract row lock orders them: an enrollment is either made before the change
    (and kept), or refused as "contract ended"; none is made after it, none half-written."""
    if not USES_POSTGRES:
        pytest.skip("the race needs PostgreSQL's row locks (set DATABASE_URL)")
    e = env
    users = [learner(e, f"racer{i}@edits.example") for i in range(10)]
    new_end = utcnow().replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    data = {**edit_data(e.contract, end_at=new_end), "confirm": "1"}
    cookies = [cookie(e, u) for u in users]
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(users) + 1)
    run_id, contract_id = e.run.id, e.contract.id
    staff_cookies, portal = cookie(e, e.staff), e.portal  # threads read no rows

    def go(i: int) -> None:
        barrier.wait()
        time.sleep(i * STAGGER)  # spread over the change, so it lands among them
        r = requests.post(
            f"{portal}/learner/runs/{run_id}/enroll",
            cookies=cookies[i],
            allow_redirects=False,
            timeout=60,
        )
        with lock:
            statuses.append(r.status_code)

    def change() -> None:
        barrier.wait()
        time.sleep(len(users) * STAGGER / 4)  # early among the learners (its request is slower)
        r = requests.post(
            f"{portal}/staff/contracts/{contract_id}/edit",
            data=data,
            cookies=staff_cookies,
            allow_redirects=False,
            timeout=60,
        )
        with lock:
            statuses.append(r.status_code)

    # Warm up (templates, connections), so the timing is the requests' own.
    requests.get(f"{portal}/staff/contracts/{contract_id}/edit", cookies=staff_cookies, timeout=30)
    requests.get(f"{portal}/learner/", cookies=cookies[0], timeout=30)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(users))]
    threads.append(threading.Thread(target=change))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [302] * 11  # every request answered, none with a 500

    db.session.expire_all()
    changed_at = db.session.scalar(
        select(AuditEvent.occurred_at).where(
            AuditEvent.action == "contract.updated", AuditEvent.object_id == str(contract_id)
        )
    )
    assert changed_at is not None
    assert db.session.get(Contract, contract_id).end_at == new_end
    made = 0
    for user in users:
        enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == user.id))
        reasons = refusals(user)
        if enrollment is not None:
            made += 1
            assert reasons == []
            assert enrollment.active and enrollment.created_at < changed_at
            order = db.session.get(Order, enrollment.order_id)
            assert order is not None and order.state is OrderState.FULFILLED
        else:
            assert reasons == ["contract_ended"], reasons
            assert db.session.scalar(select(Order.id).where(Order.user_id == user.id)) is None
        seat = db.session.scalar(select(Seat).where(Seat.user_id == user.id))
        assert seat is not None  # the seat from the code is untouched either way
    total = db.session.scalar(
        select(func.count(Enrollment.id)).where(Enrollment.course_run_id == run_id)
    )
    assert total == made
    print(f"race: {made} enrolled before the change, {len(users) - made} refused after it")
    run = db.session.get(CourseRun, run_id)
    assert run.enrollment_end == new_end
    e.jobs.run()
    assert edx_schedule(e, run)["enrollment_end"] == z(new_end)
