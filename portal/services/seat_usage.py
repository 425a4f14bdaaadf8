"""How an organization's contracts are used: seats claimed against the limit, claims over time and
enrollments by run (b2b-rules section 9).

Everything for one organization is read in four queries (contracts, seats held, the chart's days,
enrollments by run) from the running totals the database keeps (``models.usage``): the cost is one
row per contract, day or run, whatever the number of learners.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Contract,
    ContractRunEnrollments,
    ContractSeatDay,
    CourseRun,
    Organization,
    utcnow,
)
from portal.services.organization_contracts import organization_contracts
from portal.services.seats import claimed_counts

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
    """A ``Date`` column comes back as a date; be lenient with text (SQLite)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def organization_usage(
    org: Organization, *, days: int = CHART_DAYS, today: dt.date | None = None
) -> list[ContractUsage]:
    """Each of ``org``'s contracts with its seats, the last ``days`` days of claims and
    revocations (seats in use at the end of each day), and active enrollments by run."""
    contracts = organization_contracts(org)
    if not contracts:
        return []
    claimed = claimed_counts([contract.id for contract in contracts])
    usages = [ContractUsage(contract, claimed.get(contract.id, 0)) for contract in contracts]
    _add_days(usages, (today or utcnow().date()) - dt.timedelta(days=days - 1), days)
    _add_runs({usage.contract.id: usage for usage in usages})
    return usages


def _add_days(usages: list[ContractUsage], first: dt.date, days: int) -> None:
    """The chart's days from ``first``: claims and revocations from the running totals, and the
    seats in use at the end of each day worked back from today's count."""
    window = db.session.execute(
        select(
            ContractSeatDay.contract_id,
            ContractSeatDay.day,
            ContractSeatDay.claims,
            ContractSeatDay.revokes,
        ).where(
            ContractSeatDay.contract_id.in_([usage.contract.id for usage in usages]),
            ContractSeatDay.day >= first,
        )
    ).all()
    moves: dict[tuple[int, dt.date], tuple[int, int]] = {}
    net: dict[int, int] = defaultdict(int)
    for cid, day, c, r in window:
        moves[(cid, _as_date(day))] = (int(c), int(r))
        net[cid] += int(c) - int(r)
    for usage in usages:
        cid = usage.contract.id
        # Seats held before the window: today's count less the window's net change.
        in_use = usage.claimed - net[cid]
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            c, r = moves.get((cid, day), (0, 0))
            in_use += c - r
            usage.days.append(DayPoint(day, c, r, in_use))


def _add_runs(by_id: dict[int, ContractUsage]) -> None:
    """Active enrollments by run, from the running totals (a run nobody took shows 0)."""
    for run, count in db.session.execute(
        select(CourseRun, func.coalesce(ContractRunEnrollments.active, 0))
        .outerjoin(
            ContractRunEnrollments,
            (ContractRunEnrollments.course_run_id == CourseRun.id)
            & (ContractRunEnrollments.contract_id == CourseRun.contract_id),
        )
        .where(CourseRun.contract_id.in_(by_id))
        .order_by(CourseRun.course_key)
    ).all():
        usage = by_id[int(run.contract_id or 0)]  # the WHERE above: never None
        usage.runs.append(RunUsage(run.id, run.course_key, run.title, int(count)))
