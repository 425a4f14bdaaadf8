"""The ``email.send`` job: deliver (or capture) one outbox message.

Idempotent: the handler reloads the message and does nothing when ``sent_at`` is already set, so a
re-delivered or retried job never sends twice after a committed success. The one window left is a
worker that dies after the SMTP server accepted the message but before ``sent_at`` commits; the
retry then sends again with the same Message-ID, which lets mail systems recognise the duplicate.

* ``MAIL_BACKEND=outbox`` (demo, test): the message is marked sent; nothing touches the network and
  the message can be read at ``/outbox``.
* ``MAIL_BACKEND=smtp``: sent through ``portal.integrations.smtp``. Unreachable servers, timeouts,
  hang-ups and 4xx replies are retried with backoff; 5xx replies (e.g. recipient refused) fail at
  once, and the error is stored on the message.
"""

from __future__ import annotations

import logging

from flask import current_app

from portal.extensions import db
from portal.integrations import smtp
from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.kinds import JobKind
from portal.jobs.registry import JobContext, job_handler
from portal.models import BackgroundJob, OutboxMessage, utcnow

log = logging.getLogger(__name__)


def _store_error(job: BackgroundJob, message: str) -> None:
    outbox = db.session.get(OutboxMessage, (job.payload or {}).get("message_id"))
    if outbox is not None and outbox.sent_at is None:
        outbox.error = message


def stable_message_id(outbox: OutboxMessage, mail_from: str) -> str:
    return smtp.message_id(f"outbox-{outbox.id}.{outbox.created_at:%Y%m%d%H%M%S}", mail_from)


@job_handler(JobKind.EMAIL_SEND, on_failure=_store_error)
def send(ctx: JobContext) -> None:
    message_id = ctx.arg("message_id")
    outbox = db.session.get(OutboxMessage, message_id)
    if outbox is None:
        raise PermanentJobError(f"outbox message {message_id} no longer exists")
    if outbox.sent_at is not None:
        return  # already sent: a repeated delivery of this job changes nothing
    settings = current_app.config["PORTAL"]
    if settings.captures_mail:
        log.info("email %s to %s captured in the outbox", outbox.id, outbox.to_email)
    else:
        ctx.set_step("sending")
        try:
            mail = smtp.build_message(
                mail_from=settings.mail_from,
                to=outbox.to_email,
                subject=outbox.subject,
                body_text=outbox.body_text,
                body_html=outbox.body_html,
                msgid=stable_message_id(outbox, settings.mail_from),
            )
            smtp.send(mail, smtp.SmtpConfig.from_settings(settings))
        except smtp.SmtpError as exc:
            if exc.transient:
                raise TransientJobError(str(exc)) from exc
            raise PermanentJobError(str(exc)) from exc
    outbox.sent_at = utcnow()
    outbox.error = None
