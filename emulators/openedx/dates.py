"""ISO 8601 parsing and the output format of Django REST Framework (UTC with a ``Z``)."""

from __future__ import annotations

from datetime import UTC, datetime

DRF_DATETIME_ERROR = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def parse_datetime(value: object) -> datetime:
    """Parse an ISO 8601 string; naive values are taken as UTC. Raises ``ValueError``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(DRF_DATETIME_ERROR)
    text = value.strip()
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(DRF_DATETIME_ERROR) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime | None) -> str | None:
    """``2026-01-05T00:00:00Z`` (microseconds kept when present), or ``None``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_storage(value: str | None) -> datetime | None:
    """Read a datetime written by :func:`format_datetime`."""
    if not value:
        return None
    return parse_datetime(value)
