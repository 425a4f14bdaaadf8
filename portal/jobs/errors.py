"""How a job handler says what went wrong."""

from __future__ import annotations


class PermanentJobError(Exception):
    """Retrying will not help (bad payload, 4xx from a service): the job fails and waits for staff."""


class TransientJobError(Exception):
    """Worth retrying (5xx, 429, timeout, network): the job is retried with backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
