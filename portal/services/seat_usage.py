"""How an organization's contracts are used: seats claimed against the limit, claims over time and
enrollments by run (b2b-rules section 9).

Everything for one organization is read in a fixed number of queries (contracts with their claimed
counts, claims per day, revocations per day, enrollments by run), whatever the number of learners:
the aggregation happens in the database and only one row per contract, day or run comes back.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Contract, CourseRun, Enrollment, Organization, Seat, utcnow

CHART_DAYS = 60
WARN_RATIO = 0.75


@dataclass
class RunUsage:
    run_id: int
    course_key: str
    title: str
    enrolled: int


@dataclass
class DayPoint:
    day: dt.date
    claims: int
    revokes: int
    in_use: int  # seats held at the end of the day


@dataclass
class ContractUsage:
    contract: Contract
    claimed: int
    runs: list[RunUsage] = field(default_factory=list)
    days: list[DayPoint] = field(default_factory=list)

    @property
    def limit(self) -> int | None:
        return None if self.contract.unlimited_seats else int(self.contract.seat_limit or 0)

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.claimed)

    @property
    def ratio(self) -> float | None:
        if self.limit is None:
            return None
        if self.limit == 0:
            return 1.0
        return self.claimed / self.limit

    @property
    def alert(self) -> str | None:
        """``full`` at 100% of the limit, ``high`` past 75%, else None (unlimited never alerts)."""
        ratio = self.ratio
        if ratio is None:
            return None
        if ratio >= 1:
            return "full"
        if ratio >= WARN_RATIO:
            return "high"
        return None

    @property
    def percent(self) -> int | None:
        ratio = self.ratio
        return None if ratio is None else round(ratio * 100)

    @property
    def enrolled(self) -> int:
        return sum(run.enrolled for run in self.runs)


def _as_date(value: object) -> dt.date:
    """``date(ts)`` comes back as a date on PostgreSQL and as 'YYYY-MM-DD' text on SQLite."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _per_day(
    column: Any, contract_ids: list[int], since: dt.datetime
) -> dict[tuple[int, dt.date], int]:
    # Days are UTC days: PostgreSQL's date() of a timestamptz would use the session's time zone.
    utc = func.timezone("UTC", column) if db.engine.dialect.name == "postgresql" else column
    day = func.date(utc)
    rows = db.session.execute(
        select(Seat.contract_id, day, func.count(Seat.id))
        .where(Seat.contract_id.in_(contract_ids), column >= since)
        .group_by(Seat.contract_id, day)
    ).all()
    return {(cid, _as_date(d)): int(n) for cid, d, n in rows}


def organization_usage(
    org: Organization, *, days: int = CHART_DAYS, today: dt.date | None = None
) -> list[ContractUsage]:
    """Each of ``org``'s contracts with its seats, the last ``days`` days of claims and
    revocations (seats in use at the end of each day), and active enrollments by run."""
    today = today or utcnow().date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)

    contracts = list(
        db.session.scalars(
            select(Contract)
            .where(Contract.organization_id == org.id)
            .order_by(Contract.active.desc(), Contract.name, Contract.id)
        )
    )
    if not contracts:
        return []
    ids = [contract.id for contract in contracts]
    claimed = dict(
        db.session.execute(
            select(Seat.contract_id, func.count(Seat.id))
            .where(Seat.contract_id.in_(ids), Seat.revoked_at.is_(None))
            .group_by(Seat.contract_id)
        ).all()
    )
    usages = [ContractUsage(contract, int(claimed.get(contract.id, 0))) for contract in contracts]
    by_id = {usage.contract.id: usage for usage in usages}

    claims = _per_day(Seat.claimed_at, ids, since)
    revokes = _per_day(Seat.revoked_at, ids, since)
    window_claims: dict[int, int] = defaultdict(int)
    window_revokes: dict[int, int] = defaultdict(int)
    for (cid, _), n in claims.items():
        window_claims[cid] += n
    for (cid, _), n in revokes.items():
        window_revokes[cid] += n
    for usage in usages:
        cid = usage.contract.id
        # Seats held before the window: today's count less the window's net change.
        in_use = usage.claimed - window_claims[cid] + window_revokes[cid]
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            c, r = claims.get((cid, day), 0), revokes.get((cid, day), 0)
            in_use += c - r
            usage.days.append(DayPoint(day, c, r, in_use))

    enrolled = (
        select(
            Enrollment.course_run_id,
            func.count(Enrollment.id).label("enrolled"),
        )
        .where(Enrollment.active.is_(True), Enrollment.contract_id.in_(by_id))
        .group_by(Enrollment.course_run_id)
        .subquery()
    )
    for run, count in db.session.execute(
        select(CourseRun, func.coalesce(enrolled.c.enrolled, 0))
        .outerjoin(enrolled, enrolled.c.course_run_id == CourseRun.id)
        .where(CourseRun.contract_id.in_(by_id))
        .order_by(CourseRun.course_key)
    ).all():
        by_id[run.contract_id].runs.append(RunUsage(run.id, run.course_key, run.title, int(count)))
    return usages
