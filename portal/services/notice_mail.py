"""Sending a notice once: the one place every scheduled email (notices, reminders, digests,
reports) goes through, and ``render_email``, which writes each in its reader's language.

``send_notice`` inserts the ``notices`` row for (kind, subject, recipient, key) and, only if this
call inserted it, renders ``email/<template>.txt`` and ``.html`` and queues the email in the same
transaction. Two workers racing on the same threshold both try the insert; the unique key lets one
through (PostgreSQL: ``ON CONFLICT DO NOTHING``; the loser sees no row and sends nothing), and a
retried job finds the row already there. If the transaction rolls back, neither the row nor the
email exists, so the next run sends it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.extensions import db
from portal.i18n import locale_of_address
from portal.models import Notice, NoticeKind, utcnow
from portal.services.mail import clean_address, queue_email


def portal_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on ``PUBLIC_BASE_URL``, for emails made in jobs outside any request (and
    read far from the portal)."""
    base = urlsplit(str(current_app.config["PORTAL"].public_base_url))
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme or "https"
    )
    return str(adapter.build(endpoint, values, force_external=True))


_SPACES = re.compile(r"[ \t\r\n]+")


def render_email(template: str, address: str, values: dict[str, Any]) -> tuple[str, str, str]:
    """The subject, text and HTML of ``email/<template>`` (``.subject.txt``, ``.txt``, ``.html``)
    in the language of the person at ``address`` (``i18n.locale_of_address``): an email is read
    later and elsewhere, so it follows its reader, not the request or job that sends it."""
    with force_locale(locale_of_address(address)):
        # One line; only ASCII whitespace is collapsed (French keeps its no-break spaces).
        subject = _SPACES.sub(" ", render_template(f"email/{template}.subject.txt", **values))
        subject = subject.strip(" ")
        text = render_template(f"email/{template}.txt", **values)
        html = render_template(f"email/{template}.html", **values)
    return subject, text, html


def send_notice(
    kind: NoticeKind,
    *,
    subject_type: str,
    subject_id: int,
    recipient: str,
    key: str,
    template: str,
    context: dict[str, Any],
    organization_id: int | None = None,
) -> bool:
    """Send ``email/<template>`` to ``recipient`` unless this notice went already; True if it was
    queued now. The caller commits (or rolls back both)."""
    address = clean_address(recipient)
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    notice_id = db.session.scalar(
        insert(Notice)
        .values(
            kind=kind,
            subject_type=subject_type,
            subject_id=subject_id,
            recipient=address,
            key=key[:120],
            organization_id=organization_id,
            sent_at=utcnow(),
        )
        .on_conflict_do_nothing(
            index_elements=["kind", "subject_type", "subject_id", "recipient", "key"]
        )
        .returning(Notice.id)
    )
    if notice_id is None:
        return False
    subject, text, html = render_email(template, address, {"recipient": address, **context})
    message = queue_email(address, subject, text, body_html=html, organization_id=organization_id)
    notice = db.session.get(Notice, notice_id)
    assert notice is not None
    notice.outbox_message_id = message.id
    db.session.flush()
    return True
