"""What the learner's dashboard shows, gathered in a fixed number of queries.

The page is the most visited one, so its statements are built once, with bound parameters, select
only the columns it shows and run on the session's connection: rebuilding an ORM statement (and its
cache key), loading whole entities and the ORM's execution layer cost more CPU per request than the
queries themselves. The page only reads, so skipping the session's autoflush changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import Row, bindparam, select

from portal.extensions import db
from portal.models import (
    ContractProgram,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    LearningOutcome,
    Membership,
    Order,
    OrderState,
    Organization,
    Program,
    ProgramCourse,
    User,
    utcnow,
)
from portal.services.access import available_contracts
from portal.services.outcomes import OUTCOME_COLUMNS, Outcome, outcome_join, outcome_of

STATE_LABELS = {
    EdxSyncState.SYNCED: ("enrolled", "Enrolled"),
    EdxSyncState.PENDING: ("pending", "Being set up in edX"),
    EdxSyncState.RETRYING: ("retrying", "Being set up in edX (retrying)"),
    EdxSyncState.FAILED: ("failed", "Could not be set up in edX; our staff can see it and retry"),
}

AnyRow = Row[*tuple[Any, ...]]

# Columns are grouped by table: the row's own, then those of the table it is joined to.
_MEMBERSHIPS = (
    select(Membership.organization_id, Membership.is_manager, Membership.keep_until_seen)
    .add_columns(Organization.name, Organization.key, Organization.logo_content_type)
    .join(Organization, Membership.organization_id == Organization.id)
    .where(Membership.user_id == bindparam("user_id"))
)
_RUNS = (
    select(
        CourseRun.id,
        CourseRun.contract_id,
        CourseRun.title,
        CourseRun.start_at,
        CourseRun.end_at,
        CourseRun.enrollment_start,
        CourseRun.enrollment_end,
    )
    .where(
        CourseRun.contract_id.in_(bindparam("contract_ids", expanding=True)),
        CourseRun.edx_state == EdxRunState.READY,
    )
    .order_by(CourseRun.title)
)
_PROGRAMS = (
    select(ContractProgram.contract_id, ContractProgram.program_id, Program.title)
    .join(Program, ContractProgram.program_id == Program.id)
    .where(ContractProgram.contract_id.in_(bindparam("contract_ids", expanding=True)))
    .order_by(ContractProgram.position)
)
# The contract's runs of each of its programs' courses: a program is done ("Enrolled in every
# course") once each of its courses the contract offers has a run the learner is enrolled in.
_PROGRAM_RUNS = (
    select(ContractProgram.contract_id, ContractProgram.program_id)
    .add_columns(CourseRun.course_id, CourseRun.id.label("run_id"))
    .join(ProgramCourse, ProgramCourse.program_id == ContractProgram.program_id)
    .join(
        CourseRun,
        (CourseRun.course_id == ProgramCourse.course_id)
        & (CourseRun.contract_id == ContractProgram.contract_id),
    )
    .where(ContractProgram.contract_id.in_(bindparam("contract_ids", expanding=True)))
)
_ENROLLMENTS = (
    select(Enrollment.id, Enrollment.course_run_id, Enrollment.active, Enrollment.edx_state)
    .add_columns(CourseRun.title, CourseRun.course_key)
    .add_columns(*OUTCOME_COLUMNS)
    .join(CourseRun, Enrollment.course_run_id == CourseRun.id)
    .outerjoin(LearningOutcome, outcome_join())
    .where(Enrollment.user_id == bindparam("user_id"))
    .order_by(Enrollment.created_at.desc())
)
_PENDING_ORDERS = select(Order.reference, Order.total, Order.currency).where(
    Order.user_id == bindparam("user_id"), Order.state == OrderState.PENDING
)


class EnrollmentRow(NamedTuple):
    """One line of "My enrollments", with its badge and its edX link worked out."""

    id: int
    title: str
    course_key: str
    active: bool
    state: tuple[str, str]
    course_url: str | None  # only for an active enrollment that edX has
    outcome: Outcome  # grade, progress and certificate at the run's last sync


def enrollment_label(active: bool, edx_state: EdxSyncState) -> tuple[str, str]:
    if not active:
        if edx_state is EdxSyncState.SYNCED:
            return "unenrolled", "Unenrolled"
        return "pending", "Unenrolling in edX"
    return STATE_LABELS[edx_state]


def _enrollment_row(row: AnyRow, lms: str) -> EnrollmentRow:
    go = row.active and row.edx_state is EdxSyncState.SYNCED
    return EnrollmentRow(
        id=row.id,
        title=row.title,
        course_key=row.course_key,
        active=row.active,
        state=enrollment_label(row.active, row.edx_state),
        course_url=f"{lms}/courses/{row.course_key}/course/" if go else None,
        outcome=outcome_of(row),
    )


def dashboard_data(user: User) -> dict[str, Any]:
    """The page's context. ``memberships``, ``runs_by_contract``, ``programs_by_contract`` and
    ``pending_orders`` hold rows of the columns shown; ``enrolled`` maps each course run the learner
    is actively enrolled in to its badge; ``programs_done`` holds the (contract id, program id) of
    the programs whose every course the learner is enrolled in."""
    connection = db.session.connection()
    params = {"user_id": user.id}
    memberships = connection.execute(_MEMBERSHIPS, params).all()
    contracts = available_contracts(user)
    runs_by_contract: dict[int, list[AnyRow]] = defaultdict(list)
    programs_by_contract: dict[int, list[AnyRow]] = defaultdict(list)
    # (contract id, program id) -> course id -> the contract's runs of that course
    program_runs: dict[tuple[int, int], dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    if contracts:
        ids = {"contract_ids": [c.id for c in contracts]}
        now = utcnow()
        for run in connection.execute(_RUNS, ids):
            if (run.enrollment_start is None or run.enrollment_start <= now) and (
                run.enrollment_end is None or now < run.enrollment_end
            ):  # CourseRun.enrollment_open
                runs_by_contract[run.contract_id].append(run)
        for link in connection.execute(_PROGRAMS, ids):
            programs_by_contract[link.contract_id].append(link)
        for row in connection.execute(_PROGRAM_RUNS, ids):
            program_runs[(row.contract_id, row.program_id)][row.course_id].add(row.run_id)
    lms = current_app.config["PORTAL"].openedx_lms_url.rstrip("/")
    enrollments = []
    enrolled: dict[int, tuple[str, str]] = {}
    for row in connection.execute(_ENROLLMENTS, params):
        enrollment = _enrollment_row(row, lms)
        enrollments.append(enrollment)
        if row.active:
            enrolled[row.course_run_id] = enrollment.state
    pending_orders = connection.execute(_PENDING_ORDERS, params).all()
    programs_done = {
        key
        for key, courses in program_runs.items()
        if courses and all(runs & enrolled.keys() for runs in courses.values())
    }
    return {
        "memberships": memberships,
        "contracts": contracts,
        "runs_by_contract": runs_by_contract,
        "programs_by_contract": programs_by_contract,
        "enrollments": enrollments,
        "enrolled": enrolled,
        "programs_done": programs_done,
        "pending_orders": pending_orders,
    }
