"""One pager for every list page: the page number read strictly, one extra row fetched to know
whether a next page exists (no COUNT unless the page shows a total), and one template macro
(``templates/_pager.html``) that keeps the list's filters and sort in its links and numbers the
pages (first, previous, a window around the current page, next, last) when the total is known.

Deep pages use a deferred join (``paginate(..., key=Model.id)``): the page's ids are found first
by a subquery that selects only the id under the list's filters and order (an index, or a narrow
scan, walks past the skipped rows), then only those rows are read with their joins and wide
columns. Not keyset (seek) pagination: numbered links jump to any page, and a seek needs the
previous page's last row to find the next one; the deferred join keeps the cost of page 1,000 in
the ids it skips, not in rows read and joined, and the statement count the same at any depth."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from portal.core.params import page_number
from portal.core.sorting import Sort
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
    # The list's chosen sort (``core.sorting``), for its headers; its value is also in ``args``.
    sort: Sort | None = None

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def previous(self) -> int:
        """The page "Previous" leads to: the last page from a page past the end."""
        return min(self.page - 1, self.pages or self.page - 1)

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

    def window(self, around: int = 2) -> list[int | None]:
        """The page numbers the pager links to: the first, the last and ``around`` either side
        of the current one, None for a gap (1 … 4 5 [6] 7 8 … 20); a gap of one page is shown as
        that page. Empty when the total is not known."""
        if self.pages is None:
            return []
        shown = {1, self.pages, *range(self.page - around, self.page + around + 1)}
        numbers = sorted(n for n in shown if 1 <= n <= self.pages)
        found: list[int | None] = []
        previous = 0
        for n in numbers:
            if n - previous == 2:
                found.append(n - 1)
            elif n - previous > 2:
                found.append(None)
            found.append(n)
            previous = n
        return found

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
    key: Any = None,
    count: bool = False,
    sort: Sort | None = None,
) -> Page[Any]:
    """Run ``query`` for one page (rows, or the first column's values with ``scalars``). With the
    ``total`` known (given, or counted with ``count``), the page needs no extra row to tell
    whether another follows (a page past the last is empty, its pager leads back). With ``key`` (the listed
    rows' id column) the page is read through a deferred join (see the module's docstring);
    ``sort`` goes to the page for its headers, its value into the pager's links."""
    if count and total is None:
        total = count_rows(query, key)
    extra = 1 if total is None else 0
    offset, limit = (page - 1) * per_page, per_page + extra
    if key is None:
        limited = query.offset(offset).limit(limit)
    else:
        ids = query.with_only_columns(key).offset(offset).limit(limit)
        limited = query.where(key.in_(ids))
    result = db.session.execute(limited)
    rows = list(result.scalars() if scalars else result)
    kept = {**(args or {}), **(sort.args() if sort else {})}
    found = page_of(rows, page, per_page=per_page, total=total, param=param, args=kept)
    found.sort = sort
    return found


def count_rows(query: Select[*tuple[Any, ...]], key: Any = None) -> int:
    """How many rows ``query`` lists (over its ``key`` column alone when given: a narrower scan)."""
    counted = query.with_only_columns(key) if key is not None else query
    return int(
        db.session.scalar(select(func.count()).select_from(counted.order_by(None).subquery())) or 0
    )


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
