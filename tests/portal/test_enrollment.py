"""Enrolling through the HTTP interface: access per membership type, seats, orders, idempotency,
programs and unenrolling. Jobs are queued in RQ here (not run), so the edX side is not involved."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.models import (
    BackgroundJob,
    Contract,
    Course,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    MembershipSource,
    MembershipType,
    Order,
    OrderState,
    Organization,
    Seat,
    SeatSource,
    User,
    utcnow,
)
from tests.support.factories import (
    ContractFactory,
    ContractProgramFactory,
    CourseFactory,
    CourseRunFactory,
    EnrollmentFactory,
    MembershipFactory,
    ProgramCourseFactory,
    ProgramFactory,
    SeatFactory,
    UserFactory,
)
from tests.support.sessions import sign_in
from tests.support.world import acme

NOW = utcnow()
DAY = dt.timedelta(days=1)


@pytest.fixture
def client(rq_app: Flask) -> FlaskClient:
    return rq_app.test_client()


@pytest.fixture
def as_user(client: FlaskClient, db: Any) -> Callable[..., User]:
    def login(user: User | None = None) -> User:
        if user is None:
            user = UserFactory(
                email=f"u{db.session.scalar(select(func.count(User.id)))}@example.com"
            )
            db.session.commit()
        sign_in(client, user)
        return user

    return login


class W:
    pass


@pytest.fixture
def w(db: Any) -> Iterator[W]:
    w = W()
    w.org = acme(keycloak_alias=None)
    w.course = CourseFactory(key="B2B+DS.1x", number="DS.1x", title="Data")
    w.course2 = CourseFactory(key="B2B+PY.1x", number="PY.1x", title="Python")

    def contract(slug: str, mtype: MembershipType, **kw: Any) -> Contract:
        kw.setdefault("unlimited", "seat_limit" not in kw)
        return ContractFactory(
            organization=w.org, name=slug.title(), slug=slug, membership_type=mtype, **kw
        )

    def run(contract: Contract, course: Course, n: int, **kw: Any) -> CourseRun:
        return CourseRunFactory(
            course=course,
            course_key=f"course-v1:ACME+{course.number}+{n}T{contract.id}C2026",
            contract=contract,
            contract_run=True,
            **kw,
        )

    w.auto = contract("auto", MembershipType.AUTO)
    w.auto_run = run(w.auto, w.course, 1)
    w.auto_run2 = run(w.auto, w.course2, 1)
    w.closed_run = run(w.auto, w.course, 2, enrollment_end=NOW - DAY)
    w.unready_run = run(w.auto, w.course, 3, edx_state=EdxRunState.CLONING)
    w.small = contract("small", MembershipType.AUTO, seat_limit=1)
    w.small_run = run(w.small, w.course, 1)
    w.code = contract("code", MembershipType.CODE, seat_limit=5)
    w.code_run = run(w.code, w.course, 1)
    w.program = ProgramFactory(key="program-v1:P", title="Prog")
    ProgramCourseFactory(program=w.program, course=w.course, position=0)
    ProgramCourseFactory(program=w.program, course=w.course2, position=1)
    ContractProgramFactory(contract=w.auto, program=w.program)
    db.session.commit()
    yield w


def member(db: Any, user: User, org: Organization) -> None:
    MembershipFactory(user=user, organization=org, source=MembershipSource.SSO)
    db.session.commit()


def text(client: FlaskClient, response: Any) -> str:
    follow = client.get(response.headers["Location"]) if response.status_code == 302 else response
    return html.unescape(follow.get_data(as_text=True))


def test_auto_member_enrolls_claims_a_seat_and_gets_a_fulfilled_order(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    user = as_user()
    member(db, user, w.org)
    dashboard = text(client, client.get("/learner/"))
    assert "Auto" in dashboard and "Enroll" in dashboard
    response = client.post(f"/learner/runs/{w.auto_run.id}/enroll")
    assert "Enrolled in Data" in text(client, response)
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == user.id))
    assert (
        enrollment.active
        and enrollment.mode == "verified"
        and enrollment.edx_state is EdxSyncState.PENDING
    )
    seat = db.session.scalar(select(Seat).where(Seat.user_id == user.id))
    assert seat.source is SeatSource.AUTO and seat.contract_id == w.auto.id
    order = db.session.scalar(select(Order).where(Order.user_id == user.id))
    assert order.state is OrderState.FULFILLED and order.total == 0
    job = db.session.scalar(select(BackgroundJob).where(BackgroundJob.kind == "openedx.enroll"))
    assert job.payload == {"enrollment_id": enrollment.id}
    assert "Being set up in edX" in text(client, client.get("/learner/"))


def test_enrolling_twice_returns_the_existing_enrollment(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    user = as_user()
    member(db, user, w.org)
    client.post(f"/learner/runs/{w.auto_run.id}/enroll")
    again = client.post(f"/learner/runs/{w.auto_run.id}/enroll")
    assert "already enrolled" in text(client, again)
    assert db.session.scalar(select(func.count(Enrollment.id))) == 1
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert db.session.scalar(select(func.count(Seat.id))) == 1


@pytest.mark.parametrize(
    ("setup", "run_attr", "message"),
    [
        ("none", "auto_run", "is for members of Acme"),
        ("none", "code_run", "Enter the code Acme gave you first"),
        ("member", "closed_run", "Enrollment in Data is closed"),
        ("member", "unready_run", "still being set up"),
    ],
)
def test_refusals(
    client: FlaskClient,
    as_user: Callable[..., User],
    w: W,
    db: Any,
    setup: str,
    run_attr: str,
    message: str,
) -> None:
    user = as_user()
    if setup == "member":
        member(db, user, w.org)
    response = client.post(f"/learner/runs/{getattr(w, run_attr).id}/enroll")
    assert message in text(client, response)
    assert db.session.scalar(select(func.count(Enrollment.id))) == 0
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_auto_contract_full(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    first = as_user()
    member(db, first, w.org)
    client.post(f"/learner/runs/{w.small_run.id}/enroll")
    second = as_user()
    member(db, second, w.org)
    response = client.post(f"/learner/runs/{w.small_run.id}/enroll")
    assert "has no seats left" in text(client, response)
    assert db.session.scalar(select(func.count(Seat.id)).where(Seat.contract_id == w.small.id)) == 1


def test_inactive_contract_is_refused(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    user = as_user()
    member(db, user, w.org)
    w.auto.active = False
    db.session.commit()
    assert "is not active at the moment" in text(
        client, client.post(f"/learner/runs/{w.auto_run.id}/enroll")
    )


def test_code_contract_after_redemption(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    user = as_user()
    SeatFactory(contract=w.code, user=user)
    db.session.commit()
    assert "Enrolled in Data" in text(client, client.post(f"/learner/runs/{w.code_run.id}/enroll"))


def test_program_enrolls_in_its_open_runs(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    user = as_user()
    member(db, user, w.org)
    response = client.post(f"/learner/contracts/{w.auto.id}/programs/{w.program.id}/enroll")
    page = text(client, response)
    assert "Enrolled in" in page
    runs = set(
        db.session.scalars(select(Enrollment.course_run_id).where(Enrollment.user_id == user.id))
    )
    assert runs == {w.auto_run.id, w.auto_run2.id}  # the closed and unready runs are left out
    assert "Not open for enrollment now" in page
    order = db.session.scalar(select(Order).where(Order.user_id == user.id))
    assert len(order.lines) == 2


def test_the_program_button_gives_way_once_every_course_is_enrolled(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    """Issue 17, item 5: "Enroll in the whole program" while a course of the program is not
    enrolled; "Enrolled in every course" once each has a run the learner is enrolled in."""
    user = as_user()
    member(db, user, w.org)
    button = f"/learner/contracts/{w.auto.id}/programs/{w.program.id}/enroll"

    def program_row() -> str:
        page = text(client, client.get("/learner/"))
        return page.split('class="program-row"', 1)[1].split("</p>", 1)[0]

    assert button in text(client, client.get("/learner/"))
    client.post(f"/learner/runs/{w.auto_run.id}/enroll")  # Data only: Python is left
    page = text(client, client.get("/learner/"))
    assert button in page and "Enrolled in every course" not in page
    client.post(f"/learner/runs/{w.auto_run2.id}/enroll")  # and Python
    page = text(client, client.get("/learner/"))
    assert button not in page and "Enrolled in every course" in page
    row = program_row()
    assert "data-program-done" in row and "Prog" in row and "Enrolled in every course" in row
    # Unenrolling from one of its courses brings the button back.
    python = db.session.scalar(
        select(Enrollment).where(
            Enrollment.user_id == user.id, Enrollment.course_run_id == w.auto_run2.id
        )
    )
    client.post(f"/learner/enrollments/{python.id}/unenroll")
    assert button in text(client, client.get("/learner/"))


def test_unenroll_asks_for_confirmation_first(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    """Issue 17, item 5: the Unenroll button sits in a closed <details> with what it does; the
    page has no script and no inline handler (the CSP forbids them)."""
    user = as_user()
    member(db, user, w.org)
    client.post(f"/learner/runs/{w.auto_run.id}/enroll")
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == user.id))
    page = text(client, client.get("/learner/"))
    step = page.split("<details", 1)[1].split("</details>", 1)[0]
    assert " open" not in step.split(">", 1)[0]  # closed until the learner opens it
    assert "<summary>Unenroll…</summary>" in step
    assert "Unenroll from <strong>Data</strong>?" in step and "You lose access" in step
    assert f'action="/learner/enrollments/{enrollment.id}/unenroll"' in step
    assert 'name="csrf_token"' in step and "Yes, unenroll</button>" in step
    assert "<script" not in page.split("<main", 1)[1] and "onclick" not in page
    db.session.refresh(enrollment)
    assert enrollment.active  # showing the step changed nothing


def test_unenroll(client: FlaskClient, as_user: Callable[..., User], w: W, db: Any) -> None:
    user = as_user()
    member(db, user, w.org)
    client.post(f"/learner/runs/{w.auto_run.id}/enroll")
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == user.id))
    response = client.post(f"/learner/enrollments/{enrollment.id}/unenroll")
    assert "You are unenrolled from Data" in text(client, response)
    db.session.refresh(enrollment)
    assert not enrollment.active
    kinds = [j.kind for j in db.session.scalars(select(BackgroundJob).order_by(BackgroundJob.id))]
    assert kinds[-1] == "openedx.unenroll"
    # Re-enrolling reactivates the same row (one per learner and run).
    client.post(f"/learner/runs/{w.auto_run.id}/enroll")
    db.session.refresh(enrollment)
    assert enrollment.active
    assert db.session.scalar(select(func.count(Enrollment.id))) == 1


def test_nobody_can_touch_another_learners_enrollment(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    owner = as_user()
    member(db, owner, w.org)
    client.post(f"/learner/runs/{w.auto_run.id}/enroll")
    enrollment = db.session.scalar(select(Enrollment))
    as_user()
    assert client.post(f"/learner/enrollments/{enrollment.id}/unenroll").status_code == 404
    assert client.post("/learner/runs/999999/enroll").status_code == 404
    db.session.refresh(enrollment)
    assert enrollment.active


@pytest.mark.parametrize(
    "path",
    [
        "/learner/runs/1/enroll",
        "/learner/enrollments/1/unenroll",
        "/learner/contracts/1/programs/1/enroll",
        "/learner/redeem",
    ],
)
def test_changes_need_post_and_sign_in(client: FlaskClient, path: str) -> None:
    assert client.post(path).status_code == 302  # to sign-in
    assert client.get(path).status_code in (302, 405)


def test_dashboard_query_count_is_bounded(
    client: FlaskClient,
    as_user: Callable[..., User],
    w: W,
    db: Any,
    count_queries: Callable[[], Any],
) -> None:
    user = as_user()
    member(db, user, w.org)
    client.post(f"/learner/contracts/{w.auto.id}/programs/{w.program.id}/enroll")
    with count_queries() as small:
        client.get("/learner/")
    for i in range(30):  # many more contracts, runs and enrollments
        c = ContractFactory(
            organization=w.org, name=f"C{i}", membership_type=MembershipType.AUTO, unlimited=True
        )
        r = CourseRunFactory(
            course=w.course, course_key=f"course-v1:ACME+X+{i}", title=f"R{i}", contract=c
        )
        EnrollmentFactory(user=user, course_run=r)
    db.session.commit()
    g.pop("_login_user", None)
    with count_queries() as large:
        page = client.get("/learner/")
    assert page.status_code == 200
    assert large.count == small.count, (small.count, large.count)


def test_paid_contract_sends_the_learner_to_checkout_and_grants_nothing_yet(
    client: FlaskClient, as_user: Callable[..., User], w: W, db: Any
) -> None:
    from decimal import Decimal

    paid = ContractFactory(
        organization=w.org, name="Paid", seat_limit=5, price_per_learner=Decimal("149.00")
    )
    run = CourseRunFactory(
        course=w.course, course_key=f"course-v1:ACME+DS.1x+1T{paid.id}C2026", contract=paid
    )
    user = as_user()
    SeatFactory(contract=paid, user=user)
    db.session.commit()
    response = client.post(f"/learner/runs/{run.id}/enroll")
    assert response.status_code == 302
    order = db.session.scalar(select(Order).where(Order.user_id == user.id))
    assert response.headers["Location"] == f"/checkout/{order.reference}"
    assert order.state is OrderState.PENDING and order.total == Decimal("149.00")
    assert db.session.scalar(select(func.count(Enrollment.id))) == 0  # access only after payment
    again = client.post(f"/learner/runs/{run.id}/enroll")  # a second click reuses the pending order
    assert again.headers["Location"] == f"/checkout/{order.reference}"
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert "Complete payment" in text(client, client.get("/learner/"))
    checkout = text(client, client.get(f"/checkout/{order.reference}"))
    assert "149.00" in checkout
