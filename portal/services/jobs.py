"""Starting a job on someone's behalf: the job row and its audit event, in the caller's transaction.

Every job a person (staff, an org admin, the command line) starts goes through ``start_job``, so the
audit log always says who asked for it. Jobs that a rule starts as part of a change (an enrollment's
edX call, a membership push) are recorded with ``record_job`` directly: the change itself is audited.
"""

from __future__ import annotations

from typing import Any

from portal.jobs import JobKind, record_job
from portal.models import BackgroundJob
from portal.services.audit import record_event


def start_job(
    kind: JobKind,
    payload: dict[str, Any] | None = None,
    *,
    about: tuple[str, int] | None = None,
    organization_id: int | None = None,
    action: str = "job.queued",
    audit: dict[str, Any] | None = None,
) -> BackgroundJob:
    """Record ``kind`` (about the object ``(type, id)``, if any) and audit ``action``.

    The audit event is on the job (``job.queued``, with the kind and payload) unless ``action``
    names another; ``audit`` replaces what it records as ``after``."""
    payload = payload or {}
    where: dict[str, Any] = {"organization_id": organization_id}
    if about is not None:
        where.update(object_type=about[0], object_id=about[1])
    job = record_job(kind, payload, **where)
    if action == "job.queued":
        record_event(
            action,
            "background_job",
            job.id,
            organization_id=organization_id,
            after=audit if audit is not None else {"kind": str(kind), **payload},
        )
    else:
        assert about is not None, "an action other than job.queued is recorded on the object"
        record_event(
            action,
            about[0],
            about[1],
            organization_id=organization_id,
            after={"job": job.id, **(audit or {})},
        )
    return job
