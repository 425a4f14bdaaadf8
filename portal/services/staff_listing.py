"""Staff's lists of users and of organizations: a search, a sort (``core.sorting``) and numbered
pages, each a fixed number of statements (the count and the page) whatever the number of rows.

Users can be many (every learner): their page is read through a deferred join on the user id
(``core.pagination``). Organizations are few; their member counts are a grouped subquery.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Select, func, or_, select

from portal.core.pagination import Page, paginate
from portal.core.sorting import Sort, Sorting
from portal.models import Membership, Organization, User

USER_SORTING = Sorting(
    columns={
        "email": User.email,
        "name": func.lower(User.name),
        "signed_in": (User.last_login_at.is_(None), User.last_login_at),
        "staff": User.is_staff,
    },
    default="email",
    tiebreak=User.id,
    descending_first={"signed_in", "staff"},
)

_members = (
    select(Membership.organization_id, func.count(Membership.id).label("members"))
    .group_by(Membership.organization_id)
    .subquery()
)
MEMBERS = func.coalesce(_members.c.members, 0)

ORGANIZATION_SORTING = Sorting(
    columns={
        "name": func.lower(Organization.name),
        "key": Organization.key,
        "members": MEMBERS,
        "active": Organization.active,
    },
    default="name",
    tiebreak=Organization.id,
    descending_first={"members", "active"},
)


def _contains(column: Any, q: str) -> Any:
    return func.lower(column).contains(q.lower(), autoescape=True)


def users_page(q: str, page: int, sort: Sort) -> Page[User]:
    """Users matching ``q`` in the email or the name (any case, ``%`` and ``_`` plain), in
    ``sort``'s order (by email by default)."""
    query = select(User)
    if q:
        query = query.where(or_(_contains(User.email, q), _contains(User.name, q)))
    return paginate(
        sort.order(query),
        page,
        scalars=True,
        count=True,
        key=User.id,
        args={"q": q},
        sort=sort,
    )


def organizations_page(q: str, page: int, sort: Sort) -> Page[tuple[Organization, int]]:
    """Organizations with their member counts, matching ``q`` in the name or key (any case,
    ``%`` and ``_`` plain), in ``sort``'s order (by name by default)."""
    query = select(Organization, MEMBERS).outerjoin(
        _members, _members.c.organization_id == Organization.id
    )
    if q:
        query = query.where(or_(_contains(Organization.name, q), _contains(Organization.key, q)))
    return paginate(
        sort.order(cast("Select[Any]", query)),
        page,
        count=True,
        args={"q": q},
        sort=sort,
    )
