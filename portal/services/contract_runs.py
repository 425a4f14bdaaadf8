"""Courseware on contracts (b2b-rules section 4; openedx.md sections 5 and 6).

Adding a course mints a contract course run ``course-v1:{org key}+{number}+{n}T{contract id}C{year}``
under the contract's row lock (``n`` = numeric max + 1 for that course in that contract, so parallel
requests never mint the same key and numbers are never reused), creates the local run (dates from the
contract, self-paced, modes audit and verified, restricted to ``custom-b2b-enterprise``), and records
the job that clones the course's source run in edX. Removing courseware never deletes a run with
enrollments: it closes enrollment on those and detaches only empty runs.

A contract run's dates follow its contract: ``services.contract_run_schedule``. A run closed here by
courseware removal is closed in edX too, by the same job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select

from portal.core.domain_errors import Conflict, DomainError, NotFound
from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import (
    RESTRICTION_B2B,
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    EdxRunState,
    Enrollment,
    Organization,
    Pacing,
    Program,
    ProgramCourse,
    utcnow,
)
from portal.services.audit import record_event
from portal.services.contract_run_schedule import queue_edx_update
from portal.services.locks import lock_contract
from portal.services.orders import close_pending_orders

KEY_SAFE = re.compile(r"^[A-Za-z0-9_.\-~]+$")


def source_run(course: Course) -> CourseRun | None:
    return db.session.scalar(
        select(CourseRun).where(CourseRun.course_id == course.id, CourseRun.is_source_run.is_(True))
    )


def _mint_key(contract: Contract, org: Organization, course: Course) -> tuple[str, int]:
    if not KEY_SAFE.match(org.key) or not KEY_SAFE.match(course.number):
        raise DomainError(
            f"The organization key {org.key!r} or course number {course.number!r} has characters "
            "edX course keys cannot hold (+, /, : or spaces)."
        )
    last = db.session.scalar(
        select(func.max(CourseRun.run_number)).where(
            CourseRun.contract_id == contract.id, CourseRun.course_id == course.id
        )
    )
    n = (last or 0) + 1
    year = (contract.start_at or utcnow()).year
    return f"course-v1:{org.key}+{course.number}+{n}T{contract.id}C{year}", n


def add_course(contract_id: int, course_id: int) -> CourseRun:
    """Create a contract run of the course and record the job that makes it in edX."""
    contract = lock_contract(contract_id)
    course = db.session.get(Course, course_id)
    if course is None:
        raise NotFound("That course does not exist.")
    source = source_run(course)
    if source is None:
        raise DomainError(
            f"{course.title} has no source run, so there is nothing to clone. Flag one of its runs "
            "as the source run first.",
            code="no_source_run",
        )
    org = db.session.get(Organization, contract.organization_id)
    assert org is not None
    key, n = _mint_key(contract, org, course)
    start = contract.start_at or utcnow()
    run = CourseRun(
        course_id=course.id,
        course_key=key,
        title=course.title,
        start_at=start,
        end_at=contract.end_at,
        enrollment_start=start,
        enrollment_end=contract.end_at,
        pacing=Pacing.SELF,
        contract_id=contract.id,
        run_number=n,
        restriction_type=RESTRICTION_B2B,
        enrollment_modes=["audit", "verified"],
        edx_state=EdxRunState.PENDING,
    )
    db.session.add(run)
    db.session.flush()
    record_job(
        JobKind.OPENEDX_CREATE_CONTRACT_RUN,
        {"course_run_id": run.id, "source_key": source.course_key},
        object_type="course_run",
        object_id=run.id,
        organization_id=org.id,
    )
    record_event(
        "contract.course_added",
        "contract",
        contract.id,
        organization_id=org.id,
        after={"course": course.key, "run": key, "source": source.course_key},
    )
    return run


@dataclass
class ProgramAdded:
    runs: list[CourseRun] = field(default_factory=list)
    without_source: list[Course] = field(default_factory=list)
    already_there: list[Course] = field(default_factory=list)


def add_program(contract_id: int, program_id: int) -> ProgramAdded:
    """Link the program (ordered) and create a contract run for each of its courses that has a
    source run; courses without one are reported, not silently skipped."""
    contract = lock_contract(contract_id)
    program = db.session.get(Program, program_id)
    if program is None:
        raise NotFound("That program does not exist.")
    linked = db.session.scalar(
        select(ContractProgram).where(
            ContractProgram.contract_id == contract.id, ContractProgram.program_id == program.id
        )
    )
    if linked is not None:
        raise Conflict(f"{program.title} is already on this contract.")
    position = db.session.scalar(
        select(func.coalesce(func.max(ContractProgram.position) + 1, 0)).where(
            ContractProgram.contract_id == contract.id
        )
    )
    db.session.add(
        ContractProgram(contract_id=contract.id, program_id=program.id, position=position)
    )
    courses = db.session.scalars(
        select(Course)
        .join(ProgramCourse, ProgramCourse.course_id == Course.id)
        .where(ProgramCourse.program_id == program.id)
        .order_by(ProgramCourse.position)
    ).all()
    has_run = set(
        db.session.scalars(select(CourseRun.course_id).where(CourseRun.contract_id == contract.id))
    )
    result = ProgramAdded()
    for course in courses:
        if course.id in has_run:
            result.already_there.append(course)
        elif source_run(course) is None:
            result.without_source.append(course)
        else:
            result.runs.append(add_course(contract.id, course.id))
    record_event(
        "contract.program_added",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        after={
            "program": program.key,
            "runs": [r.course_key for r in result.runs],
            "without_source_run": [c.key for c in result.without_source],
        },
    )
    return result


def add_existing_run(contract_id: int, run_id: int) -> CourseRun:
    contract = lock_contract(contract_id)
    run = db.session.get(CourseRun, run_id)
    if run is None:
        raise NotFound("That course run does not exist.")
    if run.is_source_run:
        raise DomainError("A source run is a template for contract runs and cannot be attached.")
    if run.contract_id is not None:
        raise Conflict(
            "That run already belongs to a contract."
            if run.contract_id != contract.id
            else "That run is already on this contract."
        )
    run.contract_id = contract.id
    record_event(
        "contract.run_attached",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        after={"run": run.course_key},
    )
    return run


@dataclass
class RunImpact:
    run: CourseRun
    enrollments: int

    @property
    def action(self) -> str:
        return "close enrollment (kept: it has enrollments)" if self.enrollments else "detach"


def _enrollment_counts(run_ids: list[int]) -> dict[int, int]:
    if not run_ids:
        return {}
    rows = db.session.execute(
        select(Enrollment.course_run_id, func.count(Enrollment.id))
        .where(Enrollment.course_run_id.in_(run_ids))
        .group_by(Enrollment.course_run_id)
    ).all()
    return {int(run_id): int(n) for run_id, n in rows}


def run_removal_impact(contract: Contract, run_id: int) -> RunImpact:
    run = db.session.get(CourseRun, run_id)
    if run is None or run.contract_id != contract.id:
        raise NotFound("That run is not on this contract.")
    return RunImpact(run, _enrollment_counts([run.id]).get(run.id, 0))


def program_removal_impact(contract: Contract, program_id: int) -> tuple[Program, list[RunImpact]]:
    link = db.session.scalar(
        select(ContractProgram).where(
            ContractProgram.contract_id == contract.id, ContractProgram.program_id == program_id
        )
    )
    if link is None:
        raise NotFound("That program is not on this contract.")
    program = link.program
    other_programs = select(ContractProgram.program_id).where(
        ContractProgram.contract_id == contract.id, ContractProgram.program_id != program_id
    )
    still_needed = select(ProgramCourse.course_id).where(
        ProgramCourse.program_id.in_(other_programs)
    )
    runs = db.session.scalars(
        select(CourseRun)
        .join(ProgramCourse, ProgramCourse.course_id == CourseRun.course_id)
        .where(
            ProgramCourse.program_id == program_id,
            CourseRun.contract_id == contract.id,
            CourseRun.course_id.not_in(still_needed),
        )
        .order_by(CourseRun.course_key)
    ).all()
    counts = _enrollment_counts([r.id for r in runs])
    return program, [RunImpact(r, counts.get(r.id, 0)) for r in runs]


def _apply(contract: Contract, impacts: list[RunImpact]) -> None:
    now = utcnow()
    for impact in impacts:
        run = impact.run
        minted = run.run_number is not None  # made for this contract, not a catalog run
        closes = impact.enrollments or minted
        if closes and (run.enrollment_end is None or run.enrollment_end > now):
            # Closed here and in edX (b2b-rules 10); enrollments and grades are kept.
            run.enrollment_end = max(now, run.enrollment_start) if run.enrollment_start else now
            db.session.flush()
            queue_edx_update(run, organization_id=contract.organization_id, why="removed")
        if not impact.enrollments:
            run.contract_id = None
        record_event(
            "contract.run_removed",
            "contract",
            contract.id,
            organization_id=contract.organization_id,
            after={
                "run": run.course_key,
                "action": impact.action,
                "enrollments": impact.enrollments,
            },
        )
    runs = [impact.run.id for impact in impacts]  # b2b-rules 10: their open orders close
    close_pending_orders(contract_id=contract.id, run_ids=runs, reason="the course was removed")


def remove_run(contract_id: int, run_id: int) -> RunImpact:
    contract = lock_contract(contract_id)
    impact = run_removal_impact(contract, run_id)
    _apply(contract, [impact])
    return impact


def remove_program(contract_id: int, program_id: int) -> list[RunImpact]:
    contract = lock_contract(contract_id)
    program, impacts = program_removal_impact(contract, program_id)
    _apply(contract, impacts)
    link = db.session.scalar(
        select(ContractProgram).where(
            ContractProgram.contract_id == contract.id, ContractProgram.program_id == program.id
        )
    )
    db.session.delete(link)
    record_event(
        "contract.program_removed",
        "contract",
        contract.id,
        organization_id=contract.organization_id,
        after={"program": program.key},
    )
    return impacts
