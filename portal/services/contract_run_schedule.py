"""A contract run's dates follow its contract (b2b-rules 10).

``run_schedule`` is the one rule (start: the contract's start, else the run's own, else now; end: the
contract's end; enrollment from the start to the contract's end, closed now when the contract is
inactive; a run closed by courseware removal stays closed). ``sync_contract_runs`` applies it after a
contract edit, and every run whose dates or enrollment window change, here or by removal, gets an
``openedx.update_contract_run`` job that sends the run's current local state to Studio.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select

from portal.extensions import db
from portal.jobs import record_job
from portal.jobs.kinds import JobKind
from portal.models import (
    AuditEvent,
    Contract,
    CourseRun,
    Enrollment,
    Order,
    OrderState,
    utcnow,
)
from portal.services.audit import record_event


@dataclass(frozen=True)
class RunSchedule:
    start_at: dt.datetime
    end_at: dt.datetime | None
    enrollment_start: dt.datetime
    enrollment_end: dt.datetime | None

    FIELDS = ("start_at", "end_at", "enrollment_start", "enrollment_end")

    @classmethod
    def of(cls, run: CourseRun) -> tuple[dt.datetime | None, ...]:
        return tuple(getattr(run, name) for name in cls.FIELDS)

    def values(self) -> tuple[dt.datetime | None, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)


def run_schedule(
    run: CourseRun,
    *,
    start_at: dt.datetime | None,
    end_at: dt.datetime | None,
    active: bool,
    removed: bool = False,
    now: dt.datetime | None = None,
) -> RunSchedule:
    """The dates and enrollment window of a contract run under a contract with these values (the
    rule ``add_course`` starts with: start or now, end or open, enrollment over the same span).

    An inactive contract closes enrollment now (an end already past is kept), as does courseware
    removal; the run's content dates stay, so enrollments and grades are untouched."""
    now = now or utcnow()
    start = start_at or run.start_at or now
    if end_at is not None and start >= end_at:  # no start of its own, ends before the run began
        start = end_at - dt.timedelta(days=1)
    enrollment_end = end_at
    if not active or removed:
        # Closed now, or when it was closed already; never before the window opens.
        closed_at = now
        if run.enrollment_end is not None and run.enrollment_end < now:
            closed_at = run.enrollment_end
        closed_at = max(closed_at, start)
        if enrollment_end is None or enrollment_end > closed_at:
            enrollment_end = closed_at
    return RunSchedule(start, end_at, start, enrollment_end)


def contract_runs_of(contract_id: int) -> list[CourseRun]:
    """The runs minted for the contract (attached catalog runs keep their own dates)."""
    return list(
        db.session.scalars(
            select(CourseRun)
            .where(CourseRun.contract_id == contract_id, CourseRun.run_number.is_not(None))
            .order_by(CourseRun.course_key)
        )
    )


def removed_run_keys(contract_id: int) -> set[str]:
    """Runs taken off the contract but kept for their enrollments (``_apply``): they stay closed."""
    events = db.session.scalars(
        select(AuditEvent.after).where(
            AuditEvent.action == "contract.run_removed",
            AuditEvent.object_type == "contract",
            AuditEvent.object_id == str(contract_id),
        )
    )
    return {str(after["run"]) for after in events if isinstance(after, dict) and after.get("run")}


@dataclass
class ScheduleImpact:
    """What a change of a contract's dates or active flag does to its runs (the staff preview)."""

    runs: list[CourseRun] = field(default_factory=list)  # runs whose dates change
    enrollments: int = 0  # active enrollments in those runs (kept)
    pending_orders: int = 0  # the contract's orders waiting for payment
    closes_enrollment: bool = False  # the change ends or deactivates the contract now

    @property
    def needs_confirmation(self) -> bool:
        """Whether the change reaches beyond the contract row: runs (and edX) move, or the
        contract ends now while orders wait for payment."""
        return bool(self.runs) or (self.closes_enrollment and self.pending_orders > 0)


def _planned(
    contract: Contract, start_at: dt.datetime | None, end_at: dt.datetime | None, active: bool
) -> list[tuple[CourseRun, RunSchedule]]:
    removed = removed_run_keys(contract.id)
    now = utcnow()
    planned = []
    for run in contract_runs_of(contract.id):
        schedule = run_schedule(
            run,
            start_at=start_at,
            end_at=end_at,
            active=active,
            removed=run.course_key in removed,
            now=now,
        )
        if schedule.values() != RunSchedule.of(run):
            planned.append((run, schedule))
    return planned


def schedule_impact(
    contract: Contract, *, start_at: dt.datetime | None, end_at: dt.datetime | None, active: bool
) -> ScheduleImpact:
    """Which runs would change if the contract had these dates and active flag, how many active
    enrollments they hold and how many of the contract's orders are pending. Writes nothing."""
    runs = [run for run, _ in _planned(contract, start_at, end_at, active)]
    enrollments = 0
    if runs:
        enrollments = int(
            db.session.scalar(
                select(func.count(Enrollment.id)).where(
                    Enrollment.course_run_id.in_([r.id for r in runs]),
                    Enrollment.active.is_(True),
                )
            )
            or 0
        )
    pending = db.session.scalar(
        select(func.count(Order.id)).where(
            Order.contract_id == contract.id, Order.state == OrderState.PENDING
        )
    )
    now = utcnow()
    was_open = contract.active and (contract.end_at is None or now < contract.end_at)
    stays_open = active and (end_at is None or now < end_at)
    return ScheduleImpact(runs, enrollments, int(pending or 0), was_open and not stays_open)


def sync_contract_runs(contract: Contract) -> list[CourseRun]:
    """Give the contract's runs the dates its current values derive (``run_schedule``), locally
    and, through one job per changed run, in edX. Call it under the contract lock, after the
    contract changed; returns the runs that changed."""
    changed = []
    for run, schedule in _planned(contract, contract.start_at, contract.end_at, contract.active):
        before = RunSchedule.of(run)
        for name, value in zip(RunSchedule.FIELDS, schedule.values(), strict=True):
            setattr(run, name, value)
        db.session.flush()
        record_event(
            "course_run.dates_changed",
            "course_run",
            run.id,
            organization_id=contract.organization_id,
            before=_plain_dates(dict(zip(RunSchedule.FIELDS, before, strict=True))),
            after=_plain_dates(dict(zip(RunSchedule.FIELDS, schedule.values(), strict=True))),
            reason=f"contract {contract.id} changed",
        )
        queue_edx_update(run, organization_id=contract.organization_id, why="contract changed")
        changed.append(run)
    return changed


def _plain_dates(values: dict[str, dt.datetime | None]) -> dict[str, str | None]:
    return {k: v.isoformat() if v is not None else None for k, v in values.items()}


def queue_edx_update(run: CourseRun, *, organization_id: int | None, why: str) -> None:
    """Record the job that sends the run's current local dates to Studio (it reads them when it
    runs, so a second job, or a retry, sends the same state and is harmless)."""
    record_job(
        JobKind.OPENEDX_UPDATE_CONTRACT_RUN,
        {"course_run_id": run.id, "why": why},
        object_type="course_run",
        object_id=run.id,
        organization_id=organization_id,
        max_attempts=8,
    )
