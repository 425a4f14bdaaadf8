"""Job kinds and their handlers. A handler takes a ``JobContext`` and must be idempotent: it reloads
its rows, checks the current state before acting, and can be run again safely.

A long handler reports how far it is with ``ctx.progress(done, total, unit)`` after committing the
work it counts. Each report is its own short UPDATE on its own connection (never part of the
handler's transaction, so the bar moves while the work runs and a report is never rolled back with
a failed chunk), throttled to one every ``PROGRESS_EVERY`` seconds; the last report held back is
written when the attempt ends, whatever the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update

from portal.extensions import db
from portal.jobs.errors import PermanentJobError
from portal.jobs.kinds import JobKind
from portal.models import BackgroundJob, JobState, utcnow

# The length of ``BackgroundJob.step``.
STEP_LENGTH = 64
# At most one progress UPDATE per job this often (seconds); the first and the last always go.
PROGRESS_EVERY = 0.5
UNIT_LENGTH = 32  # of ``BackgroundJob.progress_unit``

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
    # Progress not written yet (held back by the throttle), and when the last report was written.
    _unsent: tuple[int, int | None, str] | None = field(default=None, repr=False)
    _sent_at: float | None = field(default=None, repr=False)

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

    def progress(self, done: int, total: int | None = None, unit: str = "") -> None:
        """Report ``done`` of ``total`` ``unit`` ("codes", "learners"...); call it after committing
        the work it counts (on SQLite, a transaction still open is committed first). Written now unless one was written less than ``PROGRESS_EVERY``
        seconds ago (then kept for the next report or the end of the attempt); a report that
        reaches the total is always written."""
        self._unsent = (max(0, done), None if total is None else max(0, total), unit)
        finished = total is not None and done >= total
        now = time.monotonic()
        if finished or self._sent_at is None or now - self._sent_at >= PROGRESS_EVERY:
            self.flush_progress()

    def flush_progress(self) -> None:
        """Write the progress held back, if any, on its own connection."""
        held = self.take_unsent()
        if held is None:
            return
        self._sent_at = time.monotonic()
        now = utcnow()
        # Read before the commit below expires them (a reload inside the UPDATE's transaction
        # would wait for that transaction on SQLite).
        job_id, attempt = self.job.id, self.job.attempts
        if db.engine.dialect.name == "sqlite" and db.session().in_transaction():
            # SQLite has one writer, and demo mode takes the lock at BEGIN, even for a read: the
            # other connection would wait on this session for ever. The work it counts is
            # committed already; end what the session has read since.
            db.session.commit()
        # Its own connection and transaction: the handler's session may be mid-chunk. Only this
        # attempt's row: a job the sweeper handed to another worker meanwhile is left alone.
        with db.engine.begin() as conn:
            conn.execute(
                update(BackgroundJob)
                .where(
                    BackgroundJob.id == job_id,
                    BackgroundJob.attempts == attempt,
                    BackgroundJob.state == JobState.RUNNING,
                )
                .values(**held, progress_at=now, updated_at=now)  # a heartbeat for the sweeper
            )

    def take_unsent(self) -> dict[str, Any] | None:
        """The progress held back, as column values, and forget it: the runner writes it with the
        attempt's outcome, in the same commit."""
        if self._unsent is None:
            return None
        done, total, unit = self._unsent
        self._unsent = None
        return {"progress_done": done, "progress_total": total, "progress_unit": unit[:UNIT_LENGTH]}


def no_progress() -> dict[str, Any]:
    """The progress columns of an attempt that has not reported yet (each attempt starts afresh)."""
    return {"progress_done": None, "progress_total": None, "progress_unit": "", "progress_at": None}
