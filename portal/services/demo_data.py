"""Demo data: a realistic, idempotent set that matches the emulators' demo realm and courses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    EnrollmentCode,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    Pacing,
    Program,
    ProgramCourse,
    User,
    utcnow,
)
from portal.services.audit import record_event
from portal.services.codes import generate_codes

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


def seed_demo(*, contract_runs: bool = False) -> dict[str, int]:
    """Create what is missing; never duplicates. Returns how many objects were created by kind.

    With ``contract_runs`` the demo contracts also get their courseware: contract runs whose creation
    jobs clone the source runs in edX (the Open edX emulator in demo mode) once committed."""
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

    if contract_runs:
        created["contract runs"] = _seed_contract_runs()

    if any(created.values()):
        record_event("demo.seeded", "portal", None, after=created, actor_kind="cli")
    return created


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
