"""Job kinds and their handlers. A handler takes a ``JobContext`` and must be idempotent: it reloads
its rows, checks the current state before acting, and can be run again safely."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.extensions import db
from portal.jobs.errors import PermanentJobError
from portal.jobs.kinds import JobKind
from portal.models import BackgroundJob

# The length of ``BackgroundJob.step``.
STEP_LENGTH = 64

Handler = Callable[["JobContext"], None]
FailureHook = Callable[[BackgroundJob, str], None]
_HANDLERS: dict[str, Handler] = {}
_ON_FAILURE: dict[str, FailureHook] = {}


def job_handler(
    kind: JobKind | str, *, on_failure: FailureHook | None = None
) -> Callable[[Handler], Handler]:
    """Register a handler. ``on_failure(job, message)`` runs when the job fails for good, in the
    transaction that records the failure, so the object it is about can show the error too."""

    def register(func: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not func:
            raise RuntimeError(f"job kind {kind!r} is registered twice")
        _HANDLERS[kind] = func
        if on_failure is not None:
            _ON_FAILURE[kind] = on_failure
        return func

    return register


def failure_hook(kind: str) -> FailureHook | None:
    return _ON_FAILURE.get(kind)


def handler_for(kind: str) -> Handler:
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise PermanentJobError(f"unknown job kind {kind!r}") from None


def known_kinds() -> list[str]:
    return sorted(_HANDLERS)


@dataclass
class JobContext:
    job: BackgroundJob

    def arg(self, name: str, kind: type = int) -> Any:
        """A payload value of the expected type, or a permanent failure naming what is wrong."""
        value = (self.job.payload or {}).get(name)
        if value is None:
            raise PermanentJobError(f"job payload is missing {name!r}")
        if kind is int and isinstance(value, bool):
            raise PermanentJobError(f"job payload {name!r} must be an integer, not {value!r}")
        if not isinstance(value, kind):
            raise PermanentJobError(
                f"job payload {name!r} must be {kind.__name__}, not {type(value).__name__}"
            )
        return value

    def set_step(self, step: str) -> None:
        """Record progress so staff can see it; commits what the handler has done so far. A
        step longer than the column holds is cut (on PostgreSQL it would fail the job)."""
        self.job.step = step[:STEP_LENGTH]
        db.session.commit()
