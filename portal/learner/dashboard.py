"""What the learner's dashboard shows, gathered in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import (
    ContractProgram,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    Membership,
    Order,
    OrderState,
    User,
    utcnow,
)
from portal.services.access import available_contracts

STATE_LABELS = {
    EdxSyncState.SYNCED: ("enrolled", "Enrolled"),
    EdxSyncState.PENDING: ("pending", "Being set up in edX"),
    EdxSyncState.RETRYING: ("retrying", "Being set up in edX (retrying)"),
    EdxSyncState.FAILED: ("failed", "Could not be set up in edX; our staff can see it and retry"),
}


def enrollment_label(enrollment: Enrollment) -> tuple[str, str]:
    if not enrollment.active:
        if enrollment.edx_state is EdxSyncState.SYNCED:
            return "unenrolled", "Unenrolled"
        return "pending", "Unenrolling in edX"
    return STATE_LABELS[enrollment.edx_state]


def course_url(course_key: str) -> str:
    lms = current_app.config["PORTAL"].openedx_lms_url.rstrip("/")
    return f"{lms}/courses/{course_key}/course/"


def dashboard_data(user: User) -> dict[str, Any]:
    memberships = db.session.scalars(
        select(Membership)
        .options(joinedload(Membership.organization))
        .where(Membership.user_id == user.id)
    ).all()
    contracts = available_contracts(user)
    contract_ids = [c.id for c in contracts]
    now = utcnow()
    runs_by_contract: dict[int, list[CourseRun]] = defaultdict(list)
    if contract_ids:
        for run in db.session.scalars(
            select(CourseRun)
            .where(
                CourseRun.contract_id.in_(contract_ids), CourseRun.edx_state == EdxRunState.READY
            )
            .order_by(CourseRun.title)
        ):
            if run.enrollment_open(now):
                runs_by_contract[run.contract_id or 0].append(run)
    programs_by_contract: dict[int, list[ContractProgram]] = defaultdict(list)
    if contract_ids:
        for link in db.session.scalars(
            select(ContractProgram)
            .options(joinedload(ContractProgram.program))
            .where(ContractProgram.contract_id.in_(contract_ids))
            .order_by(ContractProgram.position)
        ):
            programs_by_contract[link.contract_id].append(link)
    enrollments = db.session.scalars(
        select(Enrollment)
        .options(joinedload(Enrollment.course_run).joinedload(CourseRun.course))
        .where(Enrollment.user_id == user.id)
        .order_by(Enrollment.created_at.desc())
    ).all()
    enrolled = {e.course_run_id: e for e in enrollments if e.active}
    pending_orders = db.session.scalars(
        select(Order).where(Order.user_id == user.id, Order.state == OrderState.PENDING)
    ).all()
    return {
        "memberships": memberships,
        "contracts": contracts,
        "runs_by_contract": runs_by_contract,
        "programs_by_contract": programs_by_contract,
        "enrollments": enrollments,
        "enrolled": enrolled,
        "pending_orders": pending_orders,
        "label": enrollment_label,
        "course_url": course_url,
    }
