"""Sorting a list by the column a person chose, read from the URL (``?sort=name``, ``?sort=-name``
for descending) so a sorted view can be shared and bookmarked.

Each list declares one ``Sorting``: the keys it offers (a whitelist: a key names a column, never
a piece of SQL), its default, and the id column that breaks ties. An unknown or malformed key
falls back to the default silently, on every list alike: a sort is a preference, not data, and a
stale bookmark should still open the list. The tie-breaker makes every order total, so a row
never appears on two pages nor on none while paging. ``templates/_table.html`` renders the
headers that switch it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from inspect import isfunction
from typing import Any

# A sort column: an SQL expression, a tuple of them (``(col.is_(None), col)`` puts NULLs last
# ascending on both databases), or a function of the query giving one (a column it selected).
SortColumn = Any | tuple[Any, ...] | Callable[[Any], Any]
MAX_KEY = 40


@dataclass(frozen=True)
class Sorting:
    columns: Mapping[str, SortColumn]
    default: str
    tiebreak: Any  # the list's id column
    # Keys whose header sorts descending on the first click (dates, counts, scores).
    descending_first: Collection[str] = field(default_factory=frozenset)
    param: str = "sort"

    def __post_init__(self) -> None:
        assert self.default.lstrip("-") in self.columns, self.default

    def key(self, value: object) -> str:
        """A known sort key (``name``, ``-name``), or the default for anything else."""
        text = str(value or "").strip()[:MAX_KEY]
        return text if text.removeprefix("-") in self.columns else self.default

    def read(self, args: Mapping[str, Any]) -> Sort:
        """The sort the query string asks for (``args[param]``)."""
        return Sort(self, self.key(args.get(self.param)))


@dataclass(frozen=True)
class Sort:
    """One chosen sort of a list: what orders its query and what its headers link to."""

    sorting: Sorting
    value: str

    @property
    def name(self) -> str:
        return self.value.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    @property
    def is_default(self) -> bool:
        return self.value == self.sorting.default

    @property
    def param(self) -> str:
        return self.sorting.param

    def args(self) -> dict[str, str]:
        """The sort as query-string arguments: none for the default (shorter, shareable URLs)."""
        return {} if self.is_default else {self.param: self.value}

    def columns(self, query: Any = None) -> tuple[Any, ...]:
        column = self.sorting.columns[self.name]
        if isfunction(column):
            column = column(query)
        return column if isinstance(column, tuple) else (column,)

    def order(self, query: Any) -> Any:
        """``query`` ordered by this sort, then by the id in the same direction."""
        parts = (*self.columns(query), self.sorting.tiebreak)
        return query.order_by(*(c.desc() if self.descending else c.asc() for c in parts))

    def aria(self, key: str) -> str | None:
        """``aria-sort`` of the header of ``key``: only the sorted column has one."""
        if key != self.name:
            return None
        return "descending" if self.descending else "ascending"

    def toggled(self, key: str) -> str:
        """The sort a click on ``key``'s header asks for: the other direction of the current
        column, else the column's first direction."""
        if key == self.name:
            return key if self.descending else f"-{key}"
        return f"-{key}" if key in self.sorting.descending_first else key

    def link_args(
        self, key: str, args: Mapping[str, Any], fixed: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """URL arguments of ``key``'s header link: the route's own (``fixed``), the list's filters
        (``args``, empty ones left out) and the new sort; no page number, so the link opens the
        first page of the new order."""
        kept = {k: v for k, v in args.items() if v not in (None, "") and k != self.param}
        value = self.toggled(key)
        if value != self.sorting.default:
            kept[self.param] = value
        return {**(fixed or {}), **kept}
