"""Domain errors: each names a specific reason a person can act on."""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the request. ``message`` is shown to the person; ``code`` is recorded."""

    code = "refused"
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409
