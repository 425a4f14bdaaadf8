"""An organization's learners as its admins see them: one row per seat (learner and contract), how
the learner got access, when the seat was claimed, and their enrollments in the contract's runs.

A page is three queries whatever the number of learners (the page of seats, their enrollments, the
total); the CSV export streams the same view in chunks through a server-side cursor.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select

from portal.core.pagination import Page, paginate
from portal.core.params import parse_id
from portal.core.sorting import Sort
from portal.extensions import db
from portal.models import (
    Contract,
    ContractSeatDay,
    CourseRun,
    EdxSyncState,
    Enrollment,
    LearningOutcome,
    MembershipType,
    Organization,
    Seat,
    SeatSource,
    User,
)
from portal.services.audit import record_event
from portal.services.learner_outcomes import (
    DEFAULT_SORT,
    LEARNER_SORTING,
    NONE_YET,
    OUTCOME_SORTS,
    LearnerOutcome,
    join_outcomes,
    outcomes_for,
)
from portal.services.outcomes import (
    OUTCOME_COLUMNS,
    STATUS_FILTERS,
    Outcome,
    outcome_join,
    outcome_of,
)
from portal.services.seat_revocation import revoke_note

PER_PAGE = 50
EXPORT_CHUNK = 1000
STATUSES = ("active", "revoked", "all")
SOURCE_LABELS = {
    SeatSource.AUTO: "SSO",
    SeatSource.CODE: "Code",
    SeatSource.ASSIGNED: "Assigned code",
    SeatSource.STAFF: "Added by staff",
}
EXPORT_HEADER = [
    "name",
    "email",
    "contract",
    "access",
    "seat claimed",
    "seat status",
    "revoked",
    "revoke reason",
    "enrollments",
    "outcome",
    "progress %",
    "grade %",
    "certificates",
]


@dataclass(frozen=True)
class LearnerFilter:
    contract_id: int | None = None
    status: str = "active"
    q: str = ""
    outcome: str = ""  # "", or a learner outcome status (not_started, in_progress, passed)
    sort: str = DEFAULT_SORT

    @classmethod
    def from_args(cls, args: Any, contract_ids: Sequence[int]) -> LearnerFilter:
        """From query-string values; anything unknown falls back to the default view."""
        contract_id = parse_id(args.get("contract"))
        if contract_id not in contract_ids:
            contract_id = None
        status = str(args.get("status") or "active")
        outcome = str(args.get("outcome") or "")
        return cls(
            contract_id=contract_id,
            status=status if status in STATUSES else "active",
            q=str(args.get("q") or "").strip()[:200],
            outcome=outcome if outcome in STATUS_FILTERS else "",
            sort=LEARNER_SORTING.key(args.get("sort")),
        )

    @property
    def sorted_by(self) -> Sort:
        return Sort(LEARNER_SORTING, self.sort)

    @property
    def needs_outcomes(self) -> bool:
        return bool(self.outcome) or self.sort.lstrip("-") in OUTCOME_SORTS

    def args(self) -> dict[str, Any]:
        """The query-string form of this filter (for links to other pages and the CSV)."""
        values: dict[str, Any] = {}
        if self.contract_id:
            values["contract"] = self.contract_id
        if self.status != "active":
            values["status"] = self.status
        if self.q:
            values["q"] = self.q
        if self.outcome:
            values["outcome"] = self.outcome
        if self.sort != DEFAULT_SORT:
            values["sort"] = self.sort
        return values


@dataclass
class EnrollmentInfo:
    course_key: str
    title: str
    state: str
    outcome: Outcome


@dataclass
class LearnerRow:
    seat_id: int
    contract_id: int
    contract_name: str
    user_id: int
    name: str
    email: str
    source: SeatSource
    claimed_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str | None
    revoke_allowed: bool
    membership_type: MembershipType
    enrollments: list[EnrollmentInfo] = field(default_factory=list)
    outcome: LearnerOutcome = NONE_YET

    @property
    def access(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source.value)

    def revoke_note(self, by_staff: bool) -> str | None:
        """Why this (current) seat offers no "Revoke seat…" to the viewer; None when it does."""
        return revoke_note(self.membership_type, self.revoke_allowed, by_staff=by_staff)


def enrollment_state(active: bool, edx_state: EdxSyncState) -> str:
    """A learner-facing word for where an enrollment stands in edX."""
    if not active:
        return "unenrolled" if edx_state is EdxSyncState.SYNCED else "unenrolling"
    return {
        EdxSyncState.SYNCED: "enrolled",
        EdxSyncState.PENDING: "enrolling",
        EdxSyncState.RETRYING: "enrolling (retrying)",
        EdxSyncState.FAILED: "enrollment failed",
    }[edx_state]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _base(contracts: Sequence[Contract] | Sequence[ContractInfo], flt: LearnerFilter) -> Any:
    """Seats on ``contracts`` (the organization's, loaded by the caller) in the filtered view, newest
    claim first, with the columns of ``LearnerRow`` under its names. Filtering by contract id lets
    the (contract, claimed) index serve the order."""
    query = (
        select(
            Seat.id.label("seat_id"),
            Seat.contract_id,
            User.id.label("user_id"),
            User.name,
            User.email,
            Seat.source,
            Seat.claimed_at,
            Seat.revoked_at,
            Seat.revoke_reason,
        )
        .join(User, User.id == Seat.user_id)
        .where(Seat.contract_id.in_(_contract_ids(contracts, flt)))
    )
    if flt.needs_outcomes:
        query = join_outcomes(query, flt.outcome, flt.sort)
    query = flt.sorted_by.order(query)
    if flt.status == "active":
        query = query.where(Seat.revoked_at.is_(None))
    elif flt.status == "revoked":
        query = query.where(Seat.revoked_at.is_not(None))
    if flt.q:
        pattern = _like(flt.q.lower())
        query = query.where(
            or_(
                User.email.like(pattern, escape="\\"),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    return query


def _contract_ids(
    contracts: Sequence[Contract] | Sequence[ContractInfo], flt: LearnerFilter
) -> list[int]:
    return [flt.contract_id] if flt.contract_id else [c.id for c in contracts]


@dataclass(frozen=True)
class ContractInfo:
    """What a learner row needs of its contract, copied out of the session (the CSV streams
    after the request's commit, when ORM objects are expired)."""

    id: int
    name: str
    seat_revoke_allowed: bool
    membership_type: MembershipType


def _infos(contracts: Sequence[Contract]) -> dict[int, ContractInfo]:
    return {
        c.id: ContractInfo(c.id, c.name, c.seat_revoke_allowed, c.membership_type)
        for c in contracts
    }


ROW_FIELDS = (
    "seat_id",
    "contract_id",
    "user_id",
    "name",
    "email",
    "source",
    "claimed_at",
    "revoked_at",
    "revoke_reason",
)


def _rows(raw: Sequence[Any], by_id: dict[int, ContractInfo]) -> list[LearnerRow]:
    return [
        LearnerRow(
            **{name: row._mapping[name] for name in ROW_FIELDS},
            contract_name=by_id[row.contract_id].name,
            revoke_allowed=by_id[row.contract_id].seat_revoke_allowed,
            membership_type=by_id[row.contract_id].membership_type,
        )
        for row in raw
    ]


def _attach_enrollments(rows: list[LearnerRow]) -> None:
    """One query for the enrollments of every learner on ``rows`` in their contracts' runs."""
    if not rows:
        return
    found: dict[tuple[int, int], list[EnrollmentInfo]] = defaultdict(list)
    for e in db.session.execute(
        select(
            Enrollment.user_id,
            Enrollment.contract_id,
            CourseRun.course_key,
            CourseRun.title,
            Enrollment.active,
            Enrollment.edx_state,
            *OUTCOME_COLUMNS,
        )
        .join(CourseRun, CourseRun.id == Enrollment.course_run_id)
        .outerjoin(LearningOutcome, outcome_join())
        .where(
            Enrollment.user_id.in_({row.user_id for row in rows}),
            Enrollment.contract_id.in_({row.contract_id for row in rows}),
        )
        .order_by(CourseRun.course_key)
    ).all():
        found[(e.user_id, e.contract_id or 0)].append(
            EnrollmentInfo(
                e.course_key, e.title, enrollment_state(e.active, e.edx_state), outcome_of(e)
            )
        )
    pairs = [(row.user_id, row.contract_id) for row in rows]
    outcomes = outcomes_for(pairs, sorted({row.contract_id for row in rows}))
    for row in rows:
        row.enrollments = found.get((row.user_id, row.contract_id), [])
        row.outcome = outcomes.get((row.user_id, row.contract_id), NONE_YET)


def learners_page(
    contracts: Sequence[Contract], flt: LearnerFilter, page: int = 1, per_page: int = PER_PAGE
) -> Page[LearnerRow]:
    """A page of seats on ``contracts`` (one organization's) in ``flt``'s view and order, with
    their enrollments and the total matching. Read through a deferred join on the seat id
    (``core.pagination``): an admin of 50,000 learners pages to the end at the cost of the ids."""
    args = {k: v for k, v in flt.args().items() if k != "sort"}
    if not contracts:
        return Page([], 1, per_page, False, total=0, args=args, sort=flt.sorted_by)
    total = _total(contracts, flt)
    found = paginate(
        _base(contracts, flt),
        max(1, page),
        per_page=per_page,
        total=total,
        args=args,
        key=Seat.id,
        sort=flt.sorted_by,
    )
    rows = _rows(found.items, _infos(contracts))
    _attach_enrollments(rows)
    found.items = rows
    return found


def _total(contracts: Sequence[Contract], flt: LearnerFilter) -> int:
    if flt.q or flt.outcome:
        counted = select(func.count()).select_from(_base(contracts, flt).order_by(None).subquery())
    else:  # no search: the running totals (a row per contract and day), not the seats
        held = {
            "active": ContractSeatDay.claims - ContractSeatDay.revokes,
            "revoked": ContractSeatDay.revokes,  # a seat claimed again loses its revocation
            "all": ContractSeatDay.claims,
        }[flt.status]
        counted = select(func.coalesce(func.sum(held), 0)).where(
            ContractSeatDay.contract_id.in_(_contract_ids(contracts, flt))
        )
    return int(db.session.scalar(counted) or 0)


def _date(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def export_learners(
    organization: Organization, contracts: Sequence[Contract], flt: LearnerFilter
) -> Iterator[Sequence[object]]:
    """The CSV of the filtered view, its export recorded in the audit log with the filter: the
    header, then one row per seat, read ``EXPORT_CHUNK`` at a time through a streaming cursor so
    memory stays flat at any size. The contracts are read now; the rows may stream after the
    commit. Plain values: the CSV writer (``core.csv_export``) makes every cell formula-safe."""
    record_event(
        "learners.exported",
        "organization",
        organization.id,
        organization_id=organization.id,
        after=flt.args(),
    )
    return _export_rows(_infos(contracts), flt)


def _export_rows(by_id: dict[int, ContractInfo], flt: LearnerFilter) -> Iterator[Sequence[object]]:
    yield EXPORT_HEADER
    if not by_id:
        return
    query = _base(list(by_id.values()), flt).execution_options(yield_per=EXPORT_CHUNK)
    for chunk in db.session.execute(query).partitions():
        rows = _rows(chunk, by_id)
        _attach_enrollments(rows)
        for row in rows:
            yield [
                row.name,
                row.email,
                row.contract_name,
                row.access,
                _date(row.claimed_at),
                "revoked" if row.revoked_at else "active",
                _date(row.revoked_at),
                row.revoke_reason,
                "; ".join(
                    f"{e.course_key} ({e.state}, {e.outcome.label.lower()})"
                    for e in row.enrollments
                ),
                row.outcome.label,
                row.outcome.progress_percent,
                row.outcome.grade_percent,
                row.outcome.certificates,
            ]
