"""One pager for every list page: the page number read strictly, one extra row fetched to know
whether a next page exists (no COUNT unless the page shows a total), and one template macro
(``templates/_pager.html``) that keeps the list's filters in its links."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Select

from portal.core.params import page_number
from portal.extensions import db

T = TypeVar("T")
PER_PAGE = 50


@dataclass
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    has_next: bool
    total: int | None = None
    # The query-string name of the page number (two lists on one page use two names).
    param: str = "page"
    # The list's other URL arguments (filters, search), kept by the pager's links.
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def pages(self) -> int | None:
        if self.total is None:
            return None
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The place of the page's first item in the whole list, from 1 (51 on page 2 of 50)."""
        return (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)

    def link_args(self, page: int, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """URL arguments for ``page`` of this list: ``fixed`` (the route's own arguments), then its
        filters (empty ones left out)."""
        kept = {k: v for k, v in self.args.items() if v not in (None, "")}
        return {**(fixed or {}), **kept, self.param: page}


def requested_page(args: Mapping[str, Any], param: str = "page") -> int:
    return page_number(args.get(param))


def paginate(
    query: Select[*tuple[Any, ...]],
    page: int,
    *,
    per_page: int = PER_PAGE,
    scalars: bool = False,
    total: int | None = None,
    param: str = "page",
    args: Mapping[str, Any] | None = None,
) -> Page[Any]:
    """Run ``query`` for one page (rows, or the first column's values with ``scalars``). With the
    ``total`` known, the page needs no extra row to tell whether another follows."""
    extra = 1 if total is None else 0
    limited = query.offset((page - 1) * per_page).limit(per_page + extra)
    result = db.session.execute(limited)
    rows = list(result.scalars() if scalars else result)
    return page_of(rows, page, per_page=per_page, total=total, param=param, args=args)


def page_of(
    rows: list[T],
    page: int,
    *,
    per_page: int = PER_PAGE,
    total: int | None = None,
    param: str = "page",
    args: Mapping[str, Any] | None = None,
) -> Page[T]:
    """A page from rows fetched with one extra row (``limit(per_page + 1)``) by a service."""
    return Page(
        items=rows[:per_page],
        page=page,
        per_page=per_page,
        has_next=len(rows) > per_page if total is None else page * per_page < total,
        total=total,
        param=param,
        args=dict(args or {}),
    )
