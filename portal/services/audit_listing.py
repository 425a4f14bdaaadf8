"""Staff's audit log list: the checked filters (``AuditQuery``), a sort (``AUDIT_SORTING``) and
numbered pages of events with their actor's email.

A page is two statements whatever the log's size: the count and the page, read through a
deferred join on the event id (``core.pagination``): the log only grows, and its thousandth
page costs the ids it skips, not the events. The events' names come after, from
``services.audit_presenter``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, select

from portal.core.pagination import Page, paginate
from portal.core.sorting import Sort, Sorting
from portal.models import AuditEvent, User

AUDIT_SORTING = Sorting(
    columns={
        "when": AuditEvent.occurred_at,
        "action": AuditEvent.action,
        "object": (AuditEvent.object_type, AuditEvent.object_id),
        "actor": (User.email.is_(None), User.email),
    },
    default="-when",
    tiebreak=AuditEvent.id,
    descending_first={"when"},
)


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


def _filtered(filters: AuditQuery) -> Select[Any]:
    query = select(AuditEvent, User.email).outerjoin(User, User.id == AuditEvent.actor_id)
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
    return cast("Select[Any]", query)


def list_audit(
    filters: AuditQuery, page: int, args: dict[str, Any], sort: Sort
) -> Page[tuple[AuditEvent, str | None]]:
    """Audit events in ``sort``'s order (newest first by default) with their actor's email;
    ``args`` are the filters as the page's query string (kept by the pager and the headers)."""
    return paginate(
        sort.order(_filtered(filters)),
        page,
        count=True,
        key=AuditEvent.id,
        args=args,
        sort=sort,
    )
