"""What the staff console's overview reads (its lists: ``staff_listing``, ``job_listing``,
``audit_listing``): plain queries, so the views only check input and render."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    ApiToken,
    BackgroundJob,
    Contract,
    Organization,
    User,
)

RECENT_JOBS = 10


@dataclass(frozen=True)
class ConsoleOverview:
    counts: dict[str, int]
    jobs: list[BackgroundJob]


def console_overview() -> ConsoleOverview:
    """How many organizations, contracts and users there are (one query), and the latest jobs."""
    counted = db.session.execute(
        select(
            select(func.count(Organization.id)).scalar_subquery(),
            select(func.count(Contract.id)).scalar_subquery(),
            select(func.count(User.id)).scalar_subquery(),
        )
    ).one()
    counts = dict(zip(("Organizations", "Contracts", "Users"), map(int, counted), strict=True))
    jobs = db.session.scalars(
        select(BackgroundJob).order_by(BackgroundJob.id.desc()).limit(RECENT_JOBS)
    ).all()
    return ConsoleOverview(counts=counts, jobs=list(jobs))


def api_tokens_newest_first() -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )
