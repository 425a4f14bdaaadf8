"""Demo data: a realistic, idempotent set that matches the emulators' demo realm and courses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select

from portal.extensions import db
from portal.models import (
    CodeRedemption,
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    EdxSyncState,
    Enrollment,
    EnrollmentCode,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    Pacing,
    Program,
    ProgramCourse,
    Seat,
    SeatSource,
    User,
    utcnow,
)
from portal.services.audit import record_event
from portal.services.codes import adjust_seat_codes, generate_codes

# Keycloak ids of the demo realm's organizations (emulators/keycloak/realms/demo-realm.json).
ORGANIZATIONS = [
    {
        "key": "ACME",
        "name": "Acme Corporation",
        "description": "Manufacturing and logistics; staff sign in with Acme's own identity provider.",
        "keycloak_id": "0a000000-0000-4000-8000-00000000ac01",
        "keycloak_alias": "acme",
    },
    {
        "key": "GLOBEX",
        "name": "Globex University",
        "description": "A university buying seats for its students, handed out as codes.",
        "keycloak_id": "0a000000-0000-4000-8000-00000000ac02",
        "keycloak_alias": "globex",
    },
]

COURSES = [
    ("B2B_SOURCE+DS.101x", "DS.101x", "Foundations of Data Science"),
    ("B2B_SOURCE+PY.110x", "PY.110x", "Python for Analysts"),
    ("B2B_SOURCE+LEAD.201x", "LEAD.201x", "Leading Teams"),
    ("B2B_SOURCE+ETH.150x", "ETH.150x", "Data Ethics"),
]
PUBLIC_COURSE = ("OpenU+CS.50x", "CS.50x", "Introduction to Computing", "2026_Fall")

PROGRAM = {
    "key": "program-v1:B2B+DATA-LEAD",
    "title": "Data Leadership Program",
    "courses": ["B2B_SOURCE+DS.101x", "B2B_SOURCE+PY.110x", "B2B_SOURCE+ETH.150x"],
}

USERS = [
    ("learner@acme.example", "Ada Lovelace", False),
    ("admin@acme.example", "Grace Hopper", False),
    ("learner@globex.example", "Alan Turing", False),
    ("member@globex.example", "Katherine Johnson", False),
    ("staff@portal.example", "Margaret Hamilton", True),
    ("newcomer@example.com", "Edsger Dijkstra", False),
]


def _get_or_create(model: type[Any], lookup: dict[str, Any], **values: Any) -> tuple[Any, bool]:
    found = db.session.scalar(select(model).filter_by(**lookup))
    if found is not None:
        return found, False
    obj = model(**lookup, **values)
    db.session.add(obj)
    db.session.flush()
    return obj, True


# Courseware of each demo contract: (contract slug, course keys, program keys).
CONTRACT_COURSEWARE: dict[str, tuple[list[str], list[str]]] = {
    "acme-data-academy": ([], ["program-v1:B2B+DATA-LEAD"]),
    "acme-leadership": (["B2B_SOURCE+LEAD.201x"], []),
    "globex-open-seats": (["B2B_SOURCE+DS.101x", "B2B_SOURCE+PY.110x"], []),
    "globex-certificate": (["B2B_SOURCE+ETH.150x"], []),
}


def seed_demo(*, contract_runs: bool = False, seat_history: bool = False) -> dict[str, int]:
    """Create what is missing; never duplicates. Returns how many objects were created by kind.

    With ``contract_runs`` the demo contracts also get their courseware: contract runs whose creation
    jobs clone the source runs in edX (the Open edX emulator in demo mode) once committed. With
    ``seat_history`` Acme's leadership contract gets six weeks of seat claims for the org admin's
    dashboard."""
    created: dict[str, int] = {}

    def count(kind: str, was_created: bool) -> None:
        created[kind] = created.get(kind, 0) + int(was_created)

    now = utcnow()
    year_start = now - dt.timedelta(days=30)
    year_end = now + dt.timedelta(days=335)

    orgs = {}
    for spec in ORGANIZATIONS:
        org, new = _get_or_create(
            Organization,
            {"key": spec["key"]},
            name=spec["name"],
            description=spec["description"],
            keycloak_id=spec["keycloak_id"],
            keycloak_alias=spec["keycloak_alias"],
        )
        orgs[spec["key"]] = org
        count("organizations", new)

    courses = {}
    for key, number, title in COURSES:
        course, new = _get_or_create(Course, {"key": key}, number=number, title=title)
        courses[key] = course
        count("courses", new)
        _, new = _get_or_create(
            CourseRun,
            {"course_key": f"course-v1:{key}+SOURCE"},
            course_id=course.id,
            title=title,
            is_source_run=True,
            hidden=True,
            pacing=Pacing.SELF,
            enrollment_modes=["audit", "verified"],
        )
        count("course runs", new)

    key, number, title, run = PUBLIC_COURSE
    public_course, new = _get_or_create(
        Course,
        {"key": key},
        number=number,
        title=title,
        description="An open course anyone can take; shown in the public catalog.",
    )
    count("courses", new)
    _, new = _get_or_create(
        CourseRun,
        {"course_key": f"course-v1:{key}+{run}"},
        course_id=public_course.id,
        title=title,
        start_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
        end_at=dt.datetime(2027, 1, 31, tzinfo=dt.UTC),
        pacing=Pacing.INSTRUCTOR,
    )
    count("course runs", new)

    program, new = _get_or_create(
        Program,
        {"key": PROGRAM["key"]},
        title=PROGRAM["title"],
        description="Three courses that take a team from data basics to responsible practice.",
    )
    count("programs", new)
    if new:
        for position, course_key in enumerate(PROGRAM["courses"]):
            db.session.add(
                ProgramCourse(
                    program_id=program.id, course_id=courses[course_key].id, position=position
                )
            )

    contract_specs = [
        ("ACME", "acme-data-academy", "Acme Data Academy", MembershipType.AUTO, None, None),
        ("ACME", "acme-leadership", "Acme Leadership Circle", MembershipType.MANAGED, 25, None),
        ("GLOBEX", "globex-open-seats", "Globex Open Seats", MembershipType.CODE, 50, None),
        (
            "GLOBEX",
            "globex-certificate",
            "Globex Professional Certificate",
            MembershipType.CODE,
            10,
            Decimal("149.00"),
        ),
    ]
    for org_key, slug, name, mtype, seats, price in contract_specs:
        contract, new = _get_or_create(
            Contract,
            {"organization_id": orgs[org_key].id, "slug": slug},
            name=name,
            description=f"{name}: courses {orgs[org_key].name} bought for its people.",
            welcome_message=f"Welcome to {name}! Pick a course below and start when you like.",
            membership_type=mtype,
            start_at=year_start,
            end_at=year_end,
            unlimited_seats=seats is None,
            seat_limit=seats,
            price_per_learner=price,
        )
        count("contracts", new)
        has_codes = db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(EnrollmentCode.contract_id == contract.id)
        )
        if seats and not has_codes:
            generate_codes(contract, seats, for_seat=True)
            created["codes"] = created.get("codes", 0) + seats

    for email, name, is_staff in USERS:
        _, new = _get_or_create(User, {"email": email}, name=name, is_staff=is_staff)
        count("users", new)
    admin = db.session.scalar(select(User).where(User.email == "admin@acme.example"))
    assert admin is not None
    _, new = _get_or_create(
        Membership,
        {"user_id": admin.id, "organization_id": orgs["ACME"].id},
        source=MembershipSource.STAFF,
        is_manager=True,
        # Added by hand: kept until Keycloak's claim confirms it at her first sign-in.
        keep_until_seen=True,
    )
    count("memberships", new)

    leadership = db.session.scalar(select(Contract).where(Contract.slug == "acme-leadership"))
    if seat_history and leadership is not None:
        created["seat history"] = _seed_seat_history(leadership, now)

    if contract_runs:
        created["contract runs"] = _seed_contract_runs()

    if any(created.values()):
        record_event("demo.seeded", "portal", None, after=created, actor_kind="cli")
    return created


SEAT_HISTORY = 20  # of the leadership contract's 25 seats, one revoked: 19 held, past 75%


def _seed_seat_history(contract: Contract, now: dt.datetime) -> int:
    """Colleagues of Ada's who took seats on ``contract`` over the last four weeks (so the org
    admin's chart and alerts have something to show), one seat revoked with its reason, and two
    codes assigned to people who have not used them yet. Only on a contract without seats."""
    if db.session.scalar(select(func.count(Seat.id)).where(Seat.contract_id == contract.id)):
        return 0
    codes = list(
        db.session.scalars(
            select(EnrollmentCode)
            .where(EnrollmentCode.contract_id == contract.id, EnrollmentCode.times_redeemed == 0)
            .order_by(EnrollmentCode.id)
            .limit(SEAT_HISTORY + 3)
        )
    )
    if len(codes) < SEAT_HISTORY + 3:
        return 0
    for n, code in enumerate(codes[:SEAT_HISTORY]):
        user, _ = _get_or_create(
            User,
            {"email": f"colleague{n + 1:02d}@acme.example"},
            name=f"{DEMO_FIRST_NAMES[n % len(DEMO_FIRST_NAMES)]} Colleague",
        )
        _get_or_create(
            Membership,
            {"user_id": user.id, "organization_id": contract.organization_id},
            source=MembershipSource.SSO,
        )
        # Within the contract's dates (it started 30 days ago): one every day and a half or so.
        claimed = now - dt.timedelta(days=28 - (n * 3) // 2, hours=n % 7)
        redemption = CodeRedemption(
            code_id=code.id, user_id=user.id, contract_id=contract.id, redeemed_at=claimed
        )
        db.session.add(redemption)
        db.session.flush()
        code.times_redeemed = 1
        seat = Seat(
            contract_id=contract.id,
            user_id=user.id,
            source=SeatSource.CODE,
            redemption_id=redemption.id,
            claimed_at=claimed,
        )
        if n == 3:
            seat.revoked_at = claimed + dt.timedelta(days=6)
            seat.revoke_reason = "Moved to another team"
        db.session.add(seat)
    for n, code in enumerate(codes[SEAT_HISTORY : SEAT_HISTORY + 2]):
        code.assigned_email = f"invited{n + 1}@acme.example"
        code.assigned_at = now - dt.timedelta(days=2 - n)
    db.session.flush()
    adjust_seat_codes(
        contract
    )  # the revoked seat's code stands for nothing: a fresh one replaces it
    return SEAT_HISTORY


DEMO_FIRST_NAMES = ["Anita", "Boris", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivo"]


def _seed_contract_runs() -> int:
    from portal.services import contract_runs

    made = 0
    for slug, (course_keys, program_keys) in CONTRACT_COURSEWARE.items():
        contract = db.session.scalar(select(Contract).where(Contract.slug == slug))
        if contract is None:
            continue
        has_runs = db.session.scalar(
            select(func.count(CourseRun.id)).where(CourseRun.contract_id == contract.id)
        )
        if has_runs:
            continue
        for course_key in course_keys:
            course = db.session.scalar(select(Course).where(Course.key == course_key))
            if course is not None:
                contract_runs.add_course(contract.id, course.id)
                made += 1
        for program_key in program_keys:
            program = db.session.scalar(select(Program).where(Program.key == program_key))
            if program is not None:
                linked = db.session.scalar(
                    select(ContractProgram).where(
                        ContractProgram.contract_id == contract.id,
                        ContractProgram.program_id == program.id,
                    )
                )
                if linked is not None:
                    db.session.delete(linked)
                    db.session.flush()
                made += len(contract_runs.add_program(contract.id, program.id).runs)
    return made


def sample_codes(per_contract: int = 2) -> list[tuple[str, str, str]]:
    """Demo mode only: a few unused codes per contract, so a visitor can try each journey.
    Returns (contract name, membership type, code)."""
    from portal.models import EnrollmentCode

    rows: list[tuple[str, str, str]] = []
    for contract in db.session.scalars(select(Contract).order_by(Contract.name)):
        codes = db.session.scalars(
            select(EnrollmentCode.code)
            .where(
                EnrollmentCode.contract_id == contract.id,
                EnrollmentCode.times_redeemed == 0,
                EnrollmentCode.deactivated_at.is_(None),
            )
            .order_by(EnrollmentCode.id)
            .limit(per_contract)
        )
        rows.extend((contract.name, contract.membership_type.value, code) for code in codes)
    return rows


def add_bulk_learners(
    contract: Contract, run: CourseRun | None, count: int, *, prefix: str = "bulk"
) -> None:
    """``count`` learners, each with a seat on ``contract`` (claimed over the last 50 days) and an
    active enrollment in ``run``, inserted in bulk (5,000 rows a statement) and committed: data
    for query-count tests and the org admin benchmark. It bypasses the seat limit on purpose."""
    s = db.session
    now = utcnow()
    for offset in range(0, count, 5000):
        n = min(5000, count - offset)
        ids = list(
            s.scalars(
                insert(User).returning(User.id, sort_by_parameter_order=True),
                [
                    {
                        "email": f"{prefix}-{offset + k}@example.com",
                        "name": f"Learner {offset + k}",
                        "created_at": now,
                    }
                    for k in range(n)
                ],
            )
        )
        s.execute(
            insert(Seat),
            [
                {
                    "contract_id": contract.id,
                    "user_id": i,
                    "source": SeatSource.CODE,
                    "claimed_at": now - dt.timedelta(days=i % 50, minutes=i % 1440),
                }
                for i in ids
            ],
        )
        if run is not None:
            s.execute(
                insert(Enrollment),
                [
                    {
                        "user_id": i,
                        "course_run_id": run.id,
                        "contract_id": contract.id,
                        "mode": "verified",
                        "active": True,
                        "edx_state": EdxSyncState.SYNCED,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
    s.commit()
