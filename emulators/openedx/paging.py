"""Django REST Framework pagination on the wire: absolute links, cursors and page numbers.

Links are built like DRF's ``replace_query_param`` on ``request.build_absolute_uri()``: the request's
own URL (scheme and host from the request), query parameters sorted, one parameter replaced.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode

from flask import request

from .errors import ApiError

MAX_PAGE_SIZE = 1000  # edX has no upper bound; the emulator caps page_size here
OFFSET_CUTOFF = 1000  # DRF CursorPagination.offset_cutoff
INVALID_CURSOR = "Invalid cursor"
INVALID_PAGE = "Invalid page."


def page_size(default: int) -> int:
    """``page_size`` from the query: a positive integer (capped), else ``default``."""
    try:
        size = int(request.args.get("page_size", ""))
    except ValueError:
        return default
    if size <= 0:
        return default
    return min(size, MAX_PAGE_SIZE)


def link(replace: dict[str, str], remove: tuple[str, ...] = ()) -> str:
    """This request's absolute URL with ``replace`` set and ``remove`` dropped (keys sorted)."""
    params: dict[str, list[str]] = {}
    for key in request.args:
        params[key] = request.args.getlist(key)
    for key in remove:
        params.pop(key, None)
    for key, value in replace.items():
        params[key] = [value]
    path = quote(request.path, safe="/:@&+$,-_.!~*'()")
    query = urlencode(sorted(params.items()), doseq=True)
    return f"{request.host_url.rstrip('/')}{path}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Cursor:
    """DRF's ``Cursor(offset, reverse, position)``; ``position`` is an enrollment id here."""

    offset: int = 0
    reverse: bool = False
    position: int | None = None

    def encode(self) -> str:
        """``b64encode(urlencode({"o", "r", "p"}))`` as DRF writes it (zero/false parts left out)."""
        tokens: dict[str, str] = {}
        if self.offset:
            tokens["o"] = str(self.offset)
        if self.reverse:
            tokens["r"] = "1"
        if self.position is not None:
            tokens["p"] = str(self.position)
        return base64.b64encode(urlencode(tokens).encode("ascii")).decode("ascii")


class CursorError(ValueError):
    """An unreadable cursor (each API renders DRF's "Invalid cursor" 404 in its own error shape)."""


def decode_cursor(raw: str | None) -> Cursor:
    """The ``cursor`` query parameter; unreadable → :class:`CursorError` (DRF's 404 ``NotFound``).

    DRF only decodes; an id position that is not a number would fail later in edX's database
    query (a 500). The emulator answers that with the same 404.
    """
    if raw is None:
        return Cursor()
    try:
        text = base64.b64decode(raw.encode("ascii")).decode("ascii")
        tokens = parse_qs(text, keep_blank_values=True)
        offset = int(tokens.get("o", ["0"])[0])
        if offset < 0:
            raise ValueError(offset)
        reverse = bool(int(tokens.get("r", ["0"])[0]))
        raw_position = tokens.get("p", [None])[0]
        position = None if raw_position is None else int(raw_position)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise CursorError() from exc
    return Cursor(min(offset, OFFSET_CUTOFF), reverse, position)


@dataclass(frozen=True)
class CursorPage:
    """One page of a cursor-paginated query with DRF's next/previous decisions."""

    ids: list[int]
    next_link: str | None
    previous_link: str | None


def cursor_page(cursor: Cursor, size: int, fetched: list[int]) -> CursorPage:
    """Decide DRF ``CursorPagination``'s links for ids ``fetched`` (``size + 1`` at most, in query
    order: ascending for a forward cursor, descending for a reverse one)."""
    has_following = len(fetched) > size
    page = fetched[:size]
    if cursor.reverse:
        page.reverse()
        has_next = cursor.position is not None or cursor.offset > 0
        has_previous = has_following
        next_position = cursor.position
        previous_position = fetched[size] if has_following else None
    else:
        has_next = has_following
        has_previous = cursor.position is not None or cursor.offset > 0
        next_position = fetched[size] if has_following else None
        previous_position = cursor.position
    next_link = previous_link = None
    if has_next:
        position = page[-1] if page else next_position
        next_link = link({"cursor": Cursor(0, False, position).encode()})
    if has_previous:
        position = page[0] if page else previous_position
        previous_link = link({"cursor": Cursor(0, True, position).encode()})
    return CursorPage(page, next_link, previous_link)


@dataclass(frozen=True)
class NumberPage:
    """One page of DRF ``PageNumberPagination`` (Django's ``Paginator`` arithmetic)."""

    number: int
    size: int
    count: int
    num_pages: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def next_link(self) -> str | None:
        if self.number >= self.num_pages:
            return None
        return link({"page": str(self.number + 1)})

    def previous_link(self) -> str | None:
        if self.number <= 1:
            return None
        if self.number == 2:
            return link({}, remove=("page",))
        return link({"page": str(self.number - 1)})


def number_page(count: int, size: int) -> NumberPage:
    """The requested ``page`` (``last`` allowed) of ``count`` items; 404 "Invalid page." otherwise."""
    num_pages = max(1, -(-count // size))
    raw = request.args.get("page") or "1"
    try:
        number = num_pages if raw == "last" else int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= num_pages:
        raise ApiError(404, {"detail": INVALID_PAGE})
    return NumberPage(number, size, count, num_pages)
