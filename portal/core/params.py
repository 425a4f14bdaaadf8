"""Ids and page numbers from URLs and forms, read strictly: ASCII digits only and within what the
database can hold, so hostile values ("²", 20-digit numbers) are "not found", never a crash."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # PostgreSQL integer primary keys
MAX_PAGE = 100_000


def parse_id(value: object) -> int | None:
    """A positive database id, or None for anything else."""
    text = str(value or "").strip()
    if not text or len(text) > 10 or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def page_number(value: object) -> int:
    """A page number clamped to 1..MAX_PAGE (anything unreadable is page 1)."""
    text = str(value or "").strip()
    if not text or len(text) > 7 or not (text.isascii() and text.isdigit()):
        return 1
    return min(MAX_PAGE, max(1, int(text)))


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` in routes: ids beyond what the database holds do not match (404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
