"""The organization API's query parameters, read strictly: a value that is present but not
understood is a 400 that names the parameter, never a silent default and never a crash. An empty
value (``?status=``) is the same as none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from portal.core.params import MAX_ID, MAX_PAGE

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_SHOWN = 40  # at most this much of a bad value is repeated in the message


class BadParameter(ValueError):
    """A query parameter the API cannot use; the message says which and what it takes."""


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE


def _one(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise BadParameter(f"{name} may be given only once.")
    value = values[0].strip() if values else ""
    return value or None


def _whole_number(args: MultiDict[str, str], name: str, maximum: int) -> int | None:
    raw = _one(args, name)
    if raw is None:
        return None
    valid = raw.isascii() and raw.isdecimal() and len(raw) <= len(str(maximum))
    if not valid or not 1 <= int(raw) <= maximum:
        raise BadParameter(
            f"{name} must be a whole number from 1 to {maximum}, not {raw[:_SHOWN]!r}."
        )
    return int(raw)


def page_request(args: MultiDict[str, str]) -> PageRequest:
    """``page`` (1 to 100,000, default 1) and ``page_size`` (1 to 100, default 50)."""
    return PageRequest(
        page=_whole_number(args, "page", MAX_PAGE) or 1,
        size=_whole_number(args, "page_size", MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE,
    )


def object_id(args: MultiDict[str, str], name: str) -> int | None:
    """An id such as ``contract=12``, or None when absent."""
    raw = _one(args, name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdecimal() and len(raw) <= 10) or not 0 < int(raw) <= MAX_ID:
        raise BadParameter(f"{name} must be the id of one of your {name}s, not {raw[:_SHOWN]!r}.")
    return int(raw)


def choice(
    args: MultiDict[str, str], name: str, choices: Sequence[str], default: str | None = None
) -> str | None:
    """One of ``choices`` (``default`` when absent)."""
    raw = _one(args, name)
    if raw is None:
        return default
    if raw not in choices:
        raise BadParameter(f"{name} must be one of {', '.join(choices)}, not {raw[:_SHOWN]!r}.")
    return raw
