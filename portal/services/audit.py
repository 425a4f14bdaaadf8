"""Writing the audit log. Every change by staff, org admins, learners and jobs goes through here."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.models import AuditEvent


def _current_actor_id() -> int | None:
    if not has_request_context():
        return None
    user = current_user
    return int(user.id) if getattr(user, "is_authenticated", False) else None


def record_event(
    action: str,
    object_type: str,
    object_id: object = None,
    *,
    organization_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    actor_id: int | None = None,
    actor_kind: str | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (it commits or rolls back with the change)."""
    actor = actor_id if actor_id is not None else _current_actor_id()
    event = AuditEvent(
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        organization_id=organization_id,
        before=before,
        after=after,
        reason=reason,
        actor_id=actor,
        actor_kind=actor_kind or ("user" if actor is not None else "system"),
        remote_addr=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event


def record_refusal(
    action: str, object_type: str, object_id: object, *, code: str, message: str
) -> None:
    """Record that a rule refused someone: the refused change is rolled back first, then the
    record of the refusal is committed on its own (e.g. every code tried, b2b-rules section 7).

    Both happen on the request's own session, so a refused request holds one database
    connection, never two: under a burst of requests on one contract a second connection per
    request would wait on a pool that the requests queued behind the contract lock hold."""
    db.session.rollback()
    record_event(action, object_type, object_id, after={"reason": code}, reason=message)
    db.session.commit()


def record_enrollment_refusal(exc: DomainError) -> None:
    """``record_refusal`` of an enrollment the signed-in learner was refused (the audit log keeps
    every refusal with its reason, on the learner)."""
    record_refusal(
        "enrollment.refused", "user", _current_actor_id(), code=exc.code, message=exc.message
    )
