"""What the staff console's overview and its user, job and audit lists read: plain queries
returning rows and pages (``core.pagination``), so the views only check input and render."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, func, or_, select

from portal.core.pagination import Page, paginate
from portal.extensions import db
from portal.models import (
    ApiToken,
    AuditEvent,
    BackgroundJob,
    Contract,
    JobState,
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


def users_page(q: str, page: int) -> Page[User]:
    """Users by email, matching ``q`` in the email or (any case) the name."""
    query = select(User).order_by(User.email)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(or_(User.email.like(like), func.lower(User.name).like(like)))
    return paginate(query, page, scalars=True, args={"q": q})


def jobs_page(state: JobState | None, kind: str, page: int) -> Page[BackgroundJob]:
    """Recorded jobs, newest first, in ``state`` and of ``kind`` when given."""
    query = select(BackgroundJob).order_by(BackgroundJob.id.desc())
    if state is not None:
        query = query.where(BackgroundJob.state == state)
    if kind:
        query = query.where(BackgroundJob.kind == kind)
    args = {"state": state.value if state else "", "kind": kind}
    return paginate(query, page, scalars=True, args=args)


@dataclass(frozen=True)
class AuditQuery:
    """Checked audit log filters: each one given narrows the list."""

    actor_kind: str = ""
    actor_email: str = ""
    object_type: str = ""
    object_id: str = ""
    action_prefix: str = ""
    start: dt.datetime | None = None
    # The last day shown, whole.
    end: dt.datetime | None = None


def audit_page(
    filters: AuditQuery, page: int, args: dict[str, Any]
) -> Page[tuple[AuditEvent, str | None]]:
    """Audit events, newest first, with their actor's email; ``args`` are the filters as the
    page's query string (kept by the pager)."""
    query = (
        select(AuditEvent, User.email)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .order_by(AuditEvent.id.desc())
    )
    if filters.actor_kind:
        query = query.where(AuditEvent.actor_kind == filters.actor_kind)
    if filters.actor_email:
        query = query.where(User.email == filters.actor_email)
    if filters.object_type:
        query = query.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEvent.object_id == filters.object_id)
    if filters.action_prefix:
        query = query.where(AuditEvent.action.startswith(filters.action_prefix, autoescape=True))
    if filters.start:
        query = query.where(AuditEvent.occurred_at >= filters.start)
    if filters.end:
        query = query.where(AuditEvent.occurred_at < filters.end + dt.timedelta(days=1))
    return paginate(cast("Select[Any]", query), page, args=args)


def api_tokens_newest_first() -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )
