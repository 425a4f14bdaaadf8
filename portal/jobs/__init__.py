"""Background jobs with nothing lost: the infrastructure, below the services.

* ``record_job`` writes a ``BackgroundJob`` row in the caller's transaction.
* After that transaction commits, ``dispatch`` hands it to RQ (or, in demo mode, runs it in-process).
* ``runner.execute`` claims the row, runs its handler, and records success, retry or failure.
* ``sweeper.sweep`` re-sends rows that never reached Redis, stalled in a dead worker, or wait for a retry.
* ``retry_now`` gives a failed or cancelled job a fresh set of attempts (staff's Retry).

Job kinds are listed in ``portal.jobs.kinds``; their handlers live in ``portal.tasks``.
"""

from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.kinds import JobKind
from portal.jobs.queue import record_job, retry_now
from portal.jobs.registry import JobContext, job_handler

__all__ = [
    "JobContext",
    "JobKind",
    "PermanentJobError",
    "TransientJobError",
    "job_handler",
    "record_job",
    "retry_now",
]
