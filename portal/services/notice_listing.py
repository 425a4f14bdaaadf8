"""The notices sent about an organization, as its admins' notices page lists them: sorted
(``NOTICE_SORTING``, newest first by default) and in numbered pages, two statements (the count
and the page) whatever the number of notices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.core.pagination import Page, paginate
from portal.core.sorting import Sort, Sorting
from portal.models import Notice, Organization, OutboxMessage

PER_PAGE = 25

NOTICE_SORTING = Sorting(
    columns={
        "sent": Notice.sent_at,
        "kind": Notice.kind,
        "recipient": Notice.recipient,
        "subject": (OutboxMessage.subject.is_(None), OutboxMessage.subject),
    },
    default="-sent",
    tiebreak=Notice.id,
    descending_first={"sent"},
    param="sort",
)


def sent_notices(organization: Organization, page: int, sort: Sort) -> Page[Any]:
    """The notices sent about ``organization``: kind, recipient, subject, when."""
    query = (
        select(
            Notice.id,
            Notice.kind,
            Notice.recipient,
            Notice.sent_at,
            Notice.outbox_message_id,
            OutboxMessage.subject,
        )
        .outerjoin(OutboxMessage, OutboxMessage.id == Notice.outbox_message_id)
        .where(Notice.organization_id == organization.id)
    )
    return paginate(
        sort.order(query), page, per_page=PER_PAGE, count=True, key=Notice.id, sort=sort
    )
