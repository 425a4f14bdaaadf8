"""What the staff contract pages read: the list with seats and runs, and a contract's page (its
runs with their latest jobs, programs, what can be added, codes and learners). Plain queries, no
writes; the views render what these return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import joinedload

from portal.core.pagination import PER_PAGE, Page, paginate
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import (
    BackgroundJob,
    Contract,
    ContractProgram,
    Course,
    CourseRun,
    EnrollmentCode,
    Program,
    Seat,
    User,
)
from portal.services import code_listing as code_service
from portal.services.seats import claimed_count

FREE_RUNS_LISTED = 500
RECENT_CODE_JOBS = 5


def contract_with_organization(contract_id: int) -> Contract | None:
    return db.session.get(Contract, contract_id, options=[joinedload(Contract.organization)])


@dataclass(frozen=True)
class ContractCourseware:
    runs: list[CourseRun]
    # The latest job about each run (its edX creation, usually), by run id.
    jobs: dict[int, BackgroundJob | None]
    programs: list[ContractProgram]
    claimed: int
    # What can be added: courses with a source run, programs, runs on no contract.
    courses: list[Course]
    all_programs: list[Program]
    free_runs: list[CourseRun]


def contract_courseware(contract: Contract) -> ContractCourseware:
    runs = list(
        db.session.scalars(
            select(CourseRun)
            .options(joinedload(CourseRun.course))
            .where(CourseRun.contract_id == contract.id)
            .order_by(CourseRun.course_key)
        )
    )
    latest = {
        job.object_id: job
        for job in db.session.scalars(
            select(BackgroundJob)
            .where(
                BackgroundJob.object_type == "course_run",
                BackgroundJob.object_id.in_([str(r.id) for r in runs]),
                # the outcome syncs have their own section (``outcomes.run_syncs``)
                BackgroundJob.kind != str(JobKind.OPENEDX_SYNC_OUTCOMES),
            )
            .order_by(BackgroundJob.id)
        )
    }
    programs = db.session.scalars(
        select(ContractProgram)
        .options(joinedload(ContractProgram.program))
        .where(ContractProgram.contract_id == contract.id)
        .order_by(ContractProgram.position)
    ).all()
    return ContractCourseware(
        runs=runs,
        jobs={r.id: latest.get(str(r.id)) for r in runs},
        programs=list(programs),
        claimed=claimed_count(contract.id),
        **_addable_courseware(),
    )


def _addable_courseware() -> dict[str, Any]:
    courses = db.session.scalars(
        select(Course)
        .join(CourseRun, CourseRun.course_id == Course.id)
        .where(CourseRun.is_source_run.is_(True))
        .order_by(Course.title)
    ).all()
    free_runs = db.session.scalars(
        select(CourseRun)
        .where(CourseRun.contract_id.is_(None), CourseRun.is_source_run.is_(False))
        .order_by(CourseRun.course_key)
        .limit(FREE_RUNS_LISTED)
    ).all()
    return {
        "courses": list(courses),
        "all_programs": list(db.session.scalars(select(Program).order_by(Program.title))),
        "free_runs": list(free_runs),
    }


@dataclass(frozen=True)
class CodesAndLearners:
    code_counts: dict[str, int]
    q: str
    codes: Page[EnrollmentCode]
    learners: Page[Row[tuple[str, Any, Any]]]
    code_jobs: list[BackgroundJob]


def codes_and_learners(
    contract: Contract, q: str, codes_page: int, learners_page: int
) -> CodesAndLearners:
    """The codes section (counts, a page of codes matching ``q``, the latest generation jobs) and
    a page of the learners holding a seat, newest first. Two pagers: ``codes_page`` (which keeps
    ``q``) and ``learners_page``."""
    codes = code_service.search_codes(
        contract, q, page=codes_page, per_page=PER_PAGE, param="codes_page"
    )
    learners = select(User.email, Seat.source, Seat.claimed_at).join(User, User.id == Seat.user_id)
    learners = learners.where(Seat.contract_id == contract.id, Seat.revoked_at.is_(None))
    code_jobs = db.session.scalars(
        select(BackgroundJob)
        .where(
            BackgroundJob.kind == JobKind.CODES_GENERATE,
            BackgroundJob.object_type == "contract",
            BackgroundJob.object_id == str(contract.id),
        )
        .order_by(BackgroundJob.id.desc())
        .limit(RECENT_CODE_JOBS)
    ).all()
    return CodesAndLearners(
        code_counts=code_service.code_counts(contract),
        q=q,
        codes=codes,
        learners=paginate(
            cast("Select[Any]", learners.order_by(Seat.claimed_at.desc(), Seat.id.desc())),
            learners_page,
            param="learners_page",
        ),
        code_jobs=list(code_jobs),
    )
