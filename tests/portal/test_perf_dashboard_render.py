"""What the learner's dashboard shows for a learner with a bit of everything: organizations (one as
admin, one joined with a code), contracts of each kind, open, closed and unready runs, programs,
enrollments in every state and a pending order. Guards the dashboard's fixed-query rewrite."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask.testing import FlaskClient

from portal.models import (
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    MembershipSource,
    MembershipType,
    OrderState,
    Organization,
    Program,
    SeatSource,
    User,
    utcnow,
)
from tests.support.factories import (
    ContractFactory,
    MembershipFactory,
    OrderFactory,
    OrganizationFactory,
    SeatFactory,
)

NOW = utcnow()
DAY = dt.timedelta(days=1)


def _world(db: Any, user: User) -> dict[str, Any]:
    acme = OrganizationFactory(name="Acme", key="ACME")
    globex = OrganizationFactory(name="Globex", key="GLOBEX", logo_content_type="image/png")
    gone = OrganizationFactory(name="Gone", key="GONE", active=False)
    MembershipFactory(user=user, organization=acme, source=MembershipSource.SSO, manager=True)
    MembershipFactory(
        user=user, organization=globex, source=MembershipSource.CODE, keep_until_seen=True
    )
    MembershipFactory(user=user, organization=gone, source=MembershipSource.SSO)
    course = Course(key="B2B+DS.1x", number="DS.1x", title="Data")
    db.session.add(course)
    db.session.flush()

    def contract(org: Organization, slug: str, mtype: MembershipType, **kw: Any) -> Contract:
        kw.setdefault("unlimited", "seat_limit" not in kw)
        return ContractFactory(
            organization=org, name=slug.title(), slug=slug, membership_type=mtype, **kw
        )

    auto = contract(
        acme, "auto", MembershipType.AUTO, end_at=NOW + 30 * DAY, welcome_message="Hello <all>"
    )
    paid = contract(
        acme, "paid", MembershipType.CODE, seat_limit=5, price_per_learner=Decimal("149.00")
    )
    managed = contract(globex, "managed", MembershipType.MANAGED, seat_limit=5)
    code = contract(globex, "code", MembershipType.CODE, seat_limit=5)
    contract(acme, "expired", MembershipType.AUTO, end_at=NOW - DAY, start_at=NOW - 9 * DAY)
    contract(gone, "gone", MembershipType.AUTO)
    for c in (paid, managed, code):
        SeatFactory(contract=c, user=user, source=SeatSource.CODE)

    runs: dict[str, CourseRun] = {}
    for n, (name, c, kw) in enumerate(
        [
            ("Zeta", auto, {"start_at": NOW - DAY, "end_at": NOW + 9 * DAY}),
            ("Alpha", auto, {"start_at": NOW + DAY}),
            ("Closed", auto, {"enrollment_end": NOW - DAY}),
            ("Later", auto, {"enrollment_start": NOW + DAY}),
            ("Cloning", auto, {"edx_state": EdxRunState.CLONING}),
            ("Beta", auto, {}),
            ("Gamma", auto, {}),
            ("Delta", auto, {}),
            ("Paid run", paid, {}),
            ("Managed run", managed, {}),
            ("Code run", code, {"end_at": NOW + DAY}),
        ]
    ):
        kw.setdefault("edx_state", EdxRunState.READY)
        run = CourseRun(
            course_id=course.id,
            course_key=f"course-v1:X+DS.1x+{n}T{c.id}C2026",
            title=name,
            contract_id=c.id,
            restriction_type="custom-b2b-enterprise",
            **kw,
        )
        db.session.add(run)
        db.session.flush()
        runs[name] = run
    programs = [Program(key=f"program-v1:P{n}", title=f"Program {n}") for n in range(3)]
    db.session.add_all(programs)
    db.session.flush()
    db.session.add_all(
        [
            ContractProgram(contract_id=auto.id, program_id=programs[0].id, position=2),
            ContractProgram(contract_id=auto.id, program_id=programs[1].id, position=1),
            ContractProgram(contract_id=code.id, program_id=programs[2].id, position=0),
            ContractProgram(contract_id=managed.id, program_id=programs[0].id, position=0),
        ]
    )
    for reference, total, state in [
        ("ORD-PENDING-1", Decimal("149.00"), OrderState.PENDING),
        ("ORD-DONE-1", Decimal("0"), OrderState.FULFILLED),
    ]:
        OrderFactory(reference=reference, user=user, contract=paid, total=total, state=state)
    for n, (name, active, state, error) in enumerate(
        [
            ("Zeta", True, EdxSyncState.SYNCED, None),
            ("Alpha", True, EdxSyncState.PENDING, None),
            ("Beta", True, EdxSyncState.FAILED, "edX said <no>"),
            ("Gamma", False, EdxSyncState.SYNCED, "old error"),
            ("Delta", False, EdxSyncState.PENDING, None),
            ("Closed", True, EdxSyncState.RETRYING, "timeout"),
            ("Managed run", True, EdxSyncState.SYNCED, None),
        ]
    ):
        db.session.add(
            Enrollment(
                user_id=user.id,
                course_run_id=runs[name].id,
                active=active,
                edx_state=state,
                edx_error=error,
                created_at=NOW - n * DAY,
            )
        )
    db.session.commit()
    return {"runs": runs, "programs": programs, "auto": auto, "code": code}


def _page(client: FlaskClient) -> str:
    response = client.get("/learner/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_dashboard_shows_everything_a_learner_has(
    client: FlaskClient, db: Any, login_as: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    user = login_as(make_user(name="Learner"))
    w = _world(db, user)
    page = _page(client)
    text = html.unescape(page)

    assert "My organizations</a>" in page  # manages Acme
    assert "Acme · admin" in text and "Globex <span" in text
    assert "(joined with a code)" in text and "<span>Gone</span>" in text
    assert page.count('class="org-logo"') == 1
    assert "Order ORD-PENDING-1 · 149.00 USD" in text and "ORD-DONE-1" not in text
    # Contracts ordered by organization then name; the managed one needs a confirmed membership.
    names = re.findall(r"<h3>([^<]+)</h3>", page)
    assert names == ["Auto", "Paid", "Code"]
    assert "Hello <all>" in text and "Hello &lt;all&gt;" in page
    assert " · 149.00 USD per learner, once for all its courses" in text
    # Open, ready runs by title; closed, not yet open and unready runs are left out.
    auto_section = page.split('id="contract-{}"'.format(w["auto"].id))[1].split("</article>")[0]
    titles = re.findall(r"<strong>([^<]+)</strong> <span", auto_section)
    assert titles == ["Alpha", "Beta", "Delta", "Gamma", "Zeta"]
    assert "Later" not in auto_section and "Cloning" not in auto_section
    programs = re.findall(r"Program: <strong>([^<]+)</strong>", auto_section)
    assert programs == ["Program 1", "Program 0"]
    assert f"/learner/runs/{w['runs']['Delta'].id}/enroll" in auto_section  # unenrolled: again
    assert f"/learner/runs/{w['runs']['Zeta'].id}/enroll" not in auto_section
    # Enrollments newest first, each with its state.
    rows = re.findall(r"<tr>\s*<td><strong>([^<]+)</strong>", page)
    assert rows == ["Zeta", "Alpha", "Beta", "Gamma", "Delta", "Closed", "Managed run"]
    for label in (
        "Enrolled",
        "Being set up in edX",
        "Could not be set up in edX; our staff can see it and retry",
        "Unenrolled",
        "Unenrolling in edX",
        "Being set up in edX (retrying)",
    ):
        assert f">{label}</span>" in text
    # The badges say what happens next; edX's own error text (hosts, internals) is for staff only.
    assert "edX said" not in text and "old error" not in text and "timeout" not in text
    assert page.count("Go to course") == 2
    # Unenrolling takes two steps: the button is inside a closed <details> (no script).
    assert page.count("<summary>Unenroll…</summary>") == 5
    assert page.count("Yes, unenroll</button>") == 5


def test_dashboard_of_a_newcomer(
    client: FlaskClient, login_as: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    login_as(make_user())
    page = _page(client)
    assert "You don't belong to any organization yet" in page
    assert "Nothing yet." in page and "No enrollments yet." in page
    assert "Waiting for payment" not in page and "My organizations</a>" not in page
