"""A learner's outcome in a contract (all their active enrollments in its course runs), for the org
admin's learners table and its CSV: the status, average progress and grade, and certificates.

The rule lives in one set of SQL aggregates (``_aggregates``): a learner has passed a contract when
every course run they are enrolled in through it is passed, is in progress when any is started, and
has not started otherwise (also with no enrollment at all). A page groups them for its own learners
(``per_learner``); sorting or filtering the whole view by outcome asks them per seat as a correlated
subquery (``seat_outcome``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, literal, select

from portal.core.sorting import Sorting
from portal.extensions import db
from portal.models import CERTIFICATE_EARNED, Enrollment, LearningOutcome, OutcomeStatus, Seat, User
from portal.services.outcomes import STATUS_LABELS, outcome_join

# Sort keys of the learners table that join the aggregate (no index serves them).
OUTCOME_SORTS = ("status", "progress", "grade", "certificates")
STATUS_ORDER = {
    OutcomeStatus.NOT_STARTED.value: 0,
    OutcomeStatus.IN_PROGRESS.value: 1,
    OutcomeStatus.PASSED.value: 2,
}


def _aggregates() -> dict[str, Any]:
    """The outcome of a learner in a contract, as aggregates over their active enrollments
    joined to their outcomes (the one definition of the rule)."""
    passed = func.sum(case((LearningOutcome.passed.is_(True), 1), else_=0))
    started = func.sum(
        case((LearningOutcome.status != OutcomeStatus.NOT_STARTED.value, 1), else_=0)
    )
    enrolled = func.count(Enrollment.id)
    status = case(
        (and_(enrolled > 0, passed >= enrolled), literal(OutcomeStatus.PASSED.value)),
        (started > 0, literal(OutcomeStatus.IN_PROGRESS.value)),
        else_=literal(OutcomeStatus.NOT_STARTED.value),
    )
    return {
        "enrolled": enrolled,
        "status": status,
        "status_rank": case(
            *((status == value, literal(order)) for value, order in STATUS_ORDER.items()),
            else_=literal(0),
        ),
        "progress": func.avg(LearningOutcome.progress),
        "grade": func.avg(LearningOutcome.percent),
        "certificates": func.sum(
            case((LearningOutcome.certificate_status == CERTIFICATE_EARNED, 1), else_=0)
        ),
    }


def _over_enrollments(query: Any) -> Any:
    return query.outerjoin(LearningOutcome, outcome_join()).where(Enrollment.active.is_(True))


def per_learner(contract_ids: list[int], user_ids: Iterable[int]) -> Any:
    """(user_id, contract_id, enrolled, status, status_rank, progress, grade, certificates) per
    learner of ``user_ids`` (a page) and contract."""
    columns = [expr.label(name) for name, expr in _aggregates().items()]
    return (
        _over_enrollments(
            select(
                Enrollment.user_id.label("user_id"),
                Enrollment.contract_id.label("contract_id"),
                *columns,
            )
        )
        .where(Enrollment.contract_id.in_(contract_ids), Enrollment.user_id.in_(set(user_ids)))
        .group_by(Enrollment.user_id, Enrollment.contract_id)
    )


def seat_outcome(name: str) -> Any:
    """One aggregate of the seat's learner in the seat's contract, as a correlated subquery of a
    query over ``seats`` (an index probe per seat: no join of an aggregate over every learner,
    which PostgreSQL may plan as a nested loop over both)."""
    return (
        _over_enrollments(select(_aggregates()[name]).select_from(Enrollment))
        .where(Enrollment.user_id == Seat.user_id, Enrollment.contract_id == Seat.contract_id)
        .correlate(Seat)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class LearnerOutcome:
    status: str = OutcomeStatus.NOT_STARTED.value
    progress: float | None = None
    grade: float | None = None
    certificates: int = 0

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def progress_percent(self) -> int | None:
        return None if self.progress is None else round(self.progress * 100)

    @property
    def grade_percent(self) -> int | None:
        return None if self.grade is None else round(self.grade * 100)


NONE_YET = LearnerOutcome()


def outcomes_for(
    pairs: Iterable[tuple[int, int]], contract_ids: list[int]
) -> dict[tuple[int, int], LearnerOutcome]:
    """(user_id, contract_id) -> outcome for the learners of one page or chunk (one query)."""
    users = {user_id for user_id, _ in pairs}
    if not users:
        return {}
    rows = db.session.execute(per_learner(contract_ids, users))
    return {
        (row.user_id, row.contract_id): LearnerOutcome(
            status=row.status,
            progress=None if row.progress is None else float(row.progress),
            grade=None if row.grade is None else float(row.grade),
            certificates=int(row.certificates or 0),
        )
        for row in rows
    }


def join_outcomes(query: Any, outcome: str, sort: str) -> Any:
    """Add to a query of seats what the view filters or sorts by: the learner's outcome status
    (only ``outcome``) and the sort's column (as ``o_<sort>``)."""
    if outcome:
        query = query.where(seat_outcome("status") == outcome)
    name = sort.lstrip("-")
    if name in OUTCOME_SORTS:
        source = "status_rank" if name == "status" else name
        fallback = -1 if name in ("progress", "grade") else 0
        query = query.add_columns(func.coalesce(seat_outcome(source), fallback).label(f"o_{name}"))
    return query


def _selected(name: str) -> Any:
    """The outcome sort's column, as ``join_outcomes`` added it to the query."""
    return lambda query: query.selected_columns[f"o_{name}"]


# The learners table's sorts (``core.sorting``), seat id breaking ties; the outcome sorts need
# ``join_outcomes`` first.
LEARNER_SORTING = Sorting(
    columns={
        "claimed": Seat.claimed_at,
        "name": func.lower(User.name),
        "email": User.email,
        **{name: _selected(name) for name in OUTCOME_SORTS},
    },
    default="-claimed",
    tiebreak=Seat.id,
    descending_first={"claimed", *OUTCOME_SORTS},
)
DEFAULT_SORT = LEARNER_SORTING.default
