"""Email: recorded in the outbox with the change that causes it, sent by a job only after commit.

``queue_email`` adds an ``OutboxMessage`` and an ``email.send`` job to the caller's transaction and
flushes; the caller commits. If the transaction rolls back, neither the message nor the job exists,
so nobody is ever told about a change that did not happen. Delivery (or, in demo mode, capture) is
``portal.tasks.email``.

Header injection: an address with anything but a plain ``local@domain`` is refused, and line breaks
or other control characters in a subject are folded into spaces, so no caller can add a header.
"""

from __future__ import annotations

import re
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, or_, select

from portal.core.domain_errors import DomainError
from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.jobs.queue import record_job
from portal.models import Membership, OutboxMessage, User

SUBJECT_MAX = 300  # the outbox column's size
# CR, LF and every other control character, plus Unicode line and paragraph separators.
_SUBJECT_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_RUNS_OF_SPACES = re.compile(r" {2,}")


def clean_address(raw: str) -> str:
    """A single plain address, lower-cased like every email the portal stores; else DomainError."""
    text = (raw or "").strip()
    if not text or len(text) > 254 or any(ch in text for ch in "\r\n\t,;<>\"'\x00"):
        raise DomainError(
            f"{text[:80]!r} is not a valid email address: give one address such as "
            "name@example.org, without a name, brackets or line breaks.",
            code="invalid_email",
        )
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise DomainError(
            f"{text[:80]!r} is not a valid email address: {exc}", code="invalid_email"
        ) from exc


def clean_subject(raw: str) -> str:
    """One line: line breaks and control characters become single spaces; at most 300 characters."""
    # Runs of spaces collapse; the no-break spaces of French typography (before ":") stay.
    subject = _RUNS_OF_SPACES.sub(" ", _SUBJECT_BREAKS.sub(" ", raw or "")).strip(" ")
    if not subject:
        raise DomainError("An email needs a subject.", code="empty_subject")
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1].rstrip() + "…"
    return subject


def queue_email(
    to_email: str,
    subject: str,
    body_text: str,
    *,
    body_html: str | None = None,
    organization_id: int | None = None,
) -> OutboxMessage:
    """Record an email and the job that sends it, in the current transaction (flushed, not committed).

    ``organization_id`` says which organization the email is about: that organization's admins see
    it in the demo outbox. Raises ``DomainError`` for an address that is not one plain address.
    """
    message = OutboxMessage(
        to_email=clean_address(to_email),
        subject=clean_subject(subject),
        body_text=body_text,
        body_html=body_html or None,
        organization_id=organization_id,
    )
    db.session.add(message)
    db.session.flush()
    record_job(
        JobKind.EMAIL_SEND,
        {"message_id": message.id},
        object_type="outbox_message",
        object_id=message.id,
        organization_id=organization_id,
    )
    return message


def visible_messages(user: User) -> Select[Any]:
    """The outbox messages ``user`` may read, as a query (the rule lives in SQL, not in a loop):
    staff see every message; anyone else sees what was sent to their own address and what was sent
    about an organization they manage."""
    query = select(OutboxMessage)
    if user.is_staff:
        return query
    managed = select(Membership.organization_id).where(
        Membership.user_id == user.id, Membership.is_manager.is_(True)
    )
    return query.where(
        or_(
            OutboxMessage.to_email == user.email.lower(),
            OutboxMessage.organization_id.in_(managed),
        )
    )
