"""Reading learning outcomes for pages: one learner's line, a contract's or an organization's
summary (from the runs' sync snapshots, so a summary costs one query whatever the learner count) and
completions over time. Outcomes are written only by the sync (``outcome_store``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import and_, func, select

from portal.extensions import db
from portal.models import (
    CERTIFICATE_EARNED,
    CourseRun,
    Enrollment,
    LearningOutcome,
    OutcomeStatus,
    OutcomeSync,
)

STATUS_LABELS = {
    OutcomeStatus.NOT_STARTED.value: "Not started",
    OutcomeStatus.IN_PROGRESS.value: "In progress",
    OutcomeStatus.PASSED.value: "Passed",
}
STATUS_FILTERS = tuple(STATUS_LABELS)

# The outcome columns a listing adds to its enrollment rows (outer-joined: a learner with no
# outcome yet reads as not started).
OUTCOME_COLUMNS = (
    LearningOutcome.percent.label("outcome_percent"),
    LearningOutcome.letter_grade.label("outcome_letter"),
    LearningOutcome.passed.label("outcome_passed"),
    LearningOutcome.progress.label("outcome_progress"),
    LearningOutcome.certificate_status.label("outcome_certificate_status"),
    LearningOutcome.certificate_url.label("outcome_certificate_url"),
    LearningOutcome.completed_at.label("outcome_completed_at"),
    LearningOutcome.status.label("outcome_status"),
)


def outcome_join(enrollment: Any = Enrollment) -> Any:
    """The ON clause joining outcomes to an enrollment (same learner, same course run)."""
    return and_(
        LearningOutcome.course_run_id == enrollment.course_run_id,
        LearningOutcome.user_id == enrollment.user_id,
    )


class Outcome(NamedTuple):
    status: str
    label: str
    percent: float | None
    letter_grade: str | None
    passed: bool
    progress: float | None
    certificate_url: str | None
    completed_at: dt.datetime | None

    @property
    def grade_text(self) -> str:
        if self.percent is None:
            return ""
        text = f"{round(self.percent * 100):d}%"
        return f"{text} ({self.letter_grade})" if self.letter_grade else text

    @property
    def progress_percent(self) -> int | None:
        return None if self.progress is None else round(self.progress * 100)


def outcome_of(row: Any) -> Outcome:
    """The outcome of a row selected with ``OUTCOME_COLUMNS``."""
    status = row.outcome_status or OutcomeStatus.NOT_STARTED.value
    earned = row.outcome_certificate_status == CERTIFICATE_EARNED
    return Outcome(
        status=status,
        label=STATUS_LABELS[status],
        percent=row.outcome_percent,
        letter_grade=row.outcome_letter,
        passed=bool(row.outcome_passed),
        progress=row.outcome_progress,
        certificate_url=row.outcome_certificate_url if earned else None,
        completed_at=row.outcome_completed_at,
    )


@dataclass
class OutcomeSummary:
    """Totals over course runs at their last syncs."""

    learners: int = 0
    started: int = 0
    passed: int = 0
    certificates: int = 0
    progress_sum: float = 0.0
    runs: int = 0
    synced_runs: int = 0
    last_synced_at: dt.datetime | None = None
    never_synced: list[int] = field(default_factory=list)

    def add(self, totals: dict[str, Any], synced_at: dt.datetime | None) -> None:
        self.runs += 1
        if synced_at is None:
            return
        self.synced_runs += 1
        self.learners += int(totals.get("learners") or 0)
        self.started += int(totals.get("started") or 0)
        self.passed += int(totals.get("passed") or 0)
        self.certificates += int(totals.get("certificates") or 0)
        self.progress_sum += float(totals.get("progress_sum") or 0.0)
        if self.last_synced_at is None or synced_at > self.last_synced_at:
            self.last_synced_at = synced_at

    @property
    def completion_rate(self) -> float | None:
        return self.passed / self.learners if self.learners else None

    @property
    def average_progress(self) -> float | None:
        return self.progress_sum / self.learners if self.learners else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "learners": self.learners,
            "started": self.started,
            "passed": self.passed,
            "certificates": self.certificates,
            "completion_rate": self.completion_rate,
            "average_progress": self.average_progress,
            "synced_runs": self.synced_runs,
            "runs": self.runs,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
        }


def summaries_by_contract(contract_ids: Iterable[int]) -> dict[int, OutcomeSummary]:
    """Each contract's outcome summary over its course runs (one query)."""
    ids = sorted(set(contract_ids))
    result: dict[int, OutcomeSummary] = defaultdict(OutcomeSummary)
    if not ids:
        return result
    rows = db.session.execute(
        select(CourseRun.contract_id, OutcomeSync.totals, OutcomeSync.last_success_at)
        .outerjoin(OutcomeSync, OutcomeSync.course_run_id == CourseRun.id)
        .where(CourseRun.contract_id.in_(ids))
    )
    for contract_id, totals, synced_at in rows:
        result[contract_id].add(totals or {}, synced_at)
    return result


def merged(summaries: Iterable[OutcomeSummary]) -> OutcomeSummary:
    total = OutcomeSummary()
    for s in summaries:
        total.learners += s.learners
        total.started += s.started
        total.passed += s.passed
        total.certificates += s.certificates
        total.progress_sum += s.progress_sum
        total.runs += s.runs
        total.synced_runs += s.synced_runs
        if s.last_synced_at and (
            total.last_synced_at is None or s.last_synced_at > total.last_synced_at
        ):
            total.last_synced_at = s.last_synced_at
    return total


@dataclass(frozen=True)
class CompletionSeries:
    """Passes per day from ``start`` to ``end``, and how many passed before ``start``."""

    start: dt.date
    end: dt.date
    baseline: int
    days: list[tuple[dt.date, int]]


def completions_by_contract(
    contract_ids: Iterable[int], start: dt.date, end: dt.date
) -> dict[int, CompletionSeries]:
    """Each contract's completions (a learner passing one of its course runs) per day from
    ``start`` to ``end``, and the count before ``start``: two grouped queries on the run/date
    index, whatever the number of contracts or learners."""
    ids = sorted(set(contract_ids))
    series = {cid: CompletionSeries(start, end, 0, []) for cid in ids}
    if not ids:
        return series
    since = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    day = func.date(LearningOutcome.completed_at)
    base = (
        select(CourseRun.contract_id, func.count(LearningOutcome.id))
        .join(CourseRun, CourseRun.id == LearningOutcome.course_run_id)
        .where(CourseRun.contract_id.in_(ids))
    )
    for contract_id, count in db.session.execute(
        base.where(LearningOutcome.completed_at < since).group_by(CourseRun.contract_id)
    ):
        cid = int(contract_id or 0)
        series[cid] = dataclasses.replace(series[cid], baseline=int(count))
    rows = db.session.execute(
        base.add_columns(day)
        .where(LearningOutcome.completed_at >= since)
        .group_by(CourseRun.contract_id, day)
    )
    for contract_id, count, value in rows:
        parsed = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        series[int(contract_id or 0)].days.append((parsed, int(count)))
    for item in series.values():
        item.days.sort()
    return series


@dataclass(frozen=True)
class RunSync:
    """A course run's outcome sync as staff see it."""

    run: CourseRun
    sync: OutcomeSync | None

    @property
    def state(self) -> str:
        return self.sync.state if self.sync else "never"


def run_syncs(runs: Iterable[CourseRun]) -> list[RunSync]:
    """The sync row of each run (one query)."""
    listed = list(runs)
    if not listed:
        return []
    rows = {
        row.course_run_id: row
        for row in db.session.scalars(
            select(OutcomeSync).where(OutcomeSync.course_run_id.in_([r.id for r in listed]))
        )
    }
    return [RunSync(run, rows.get(run.id)) for run in listed]
