"""Sending email through an SMTP server (the ``smtp`` mail backend).

One client module, as for every external service: it builds the ``EmailMessage`` (From, To, Subject,
Date, Message-ID, a text part and an optional HTML alternative), talks to the server with an explicit
timeout on every socket operation, optionally over SSL or STARTTLS and with a login, and turns every
failure into one ``SmtpError`` that says whether retrying can help:

* transient: the server cannot be reached (refused, reset, timeout, DNS), it hung up
  (``SMTPServerDisconnected``), or it answered 4xx ("try again later", greylisting);
* permanent: it answered 5xx (recipient refused, message rejected, authentication failed), it lacks
  something the settings ask for (STARTTLS, AUTH, SMTPUTF8), or TLS failed (a certificate or
  protocol mismatch is a configuration problem that retrying does not fix).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.config import Settings

log = logging.getLogger(__name__)


class SmtpError(Exception):
    """Sending failed. ``code`` is the server's reply code when it gave one."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str = ""
    password: str = ""
    starttls: bool = False
    ssl: bool = False
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            ssl=settings.smtp_ssl,
            timeout=settings.smtp_timeout_seconds,
        )


def address_of(mailbox: str) -> str:
    """The bare address in ``"Name <addr@host>"`` (or ``addr@host``)."""
    return parseaddr(mailbox)[1]


def message_id(key: str, mail_from: str) -> str:
    """A Message-ID that stays the same for the same ``key``, so a resent message is recognisable."""
    domain = address_of(mail_from).rpartition("@")[2] or "portal.invalid"
    return f"<{key}@{domain}>"


def _header(name: str, value: str) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        # Defence in depth: services.mail already refuses or folds these.
        raise SmtpError(f"{name} contains a line break", transient=False)
    return value


def build_message(
    *,
    mail_from: str,
    to: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
    msgid: str | None = None,
    date: dt.datetime | None = None,
) -> EmailMessage:
    """A ready-to-send message: a text part, plus an HTML alternative when ``body_html`` is given."""
    message = EmailMessage()
    message["From"] = _header("From", mail_from)
    message["To"] = _header("To", to)
    message["Subject"] = _header("Subject", subject)
    message["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    domain = address_of(mail_from).rpartition("@")[2] or None
    message["Message-ID"] = _header("Message-ID", msgid or make_msgid(domain=domain))
    # RFC 3834: this is automatic mail; well-behaved auto-responders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body_text)
    if body_html:
        message.add_alternative(body_html, subtype="html")
    return message


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:500]


def _by_code(code: int, what: str) -> SmtpError:
    return SmtpError(what, transient=400 <= code < 500, code=code)


def classify(exc: BaseException, where: str) -> SmtpError:
    """Turn what ``smtplib``/``socket``/``ssl`` raised into an ``SmtpError`` (order matters:
    ``SMTPException`` and ``SSLError`` are both ``OSError`` subclasses)."""
    if isinstance(exc, SmtpError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.items())
        codes = [code for _, (code, _) in replies]
        detail = "; ".join(f"{rcpt}: {code} {_reply_text(text)}" for rcpt, (code, text) in replies)
        worst = max(codes) if codes else 550
        return _by_code(worst, f"{where} refused the recipient: {detail}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a read that timed out as a disconnection; name the timeout.
        if isinstance(exc.__context__, TimeoutError):
            return SmtpError(f"{where} did not answer in time: {exc}", transient=True)
        return SmtpError(f"{where} closed the connection: {exc}", transient=True)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(
            exc.smtp_code, f"{where} answered {exc.smtp_code} {_reply_text(exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPException):
        # SMTPNotSupportedError and friends: the server lacks what the settings ask for.
        return SmtpError(f"{where}: {exc}", transient=False)
    if isinstance(exc, ssl.SSLError):
        return SmtpError(f"TLS with {where} failed: {exc}", transient=False)
    if isinstance(exc, TimeoutError):
        return SmtpError(f"{where} did not answer in time: {exc}", transient=True)
    if isinstance(exc, OSError):
        return SmtpError(f"{where} could not be reached: {exc}", transient=True)
    return SmtpError(f"{where}: {type(exc).__name__}: {exc}", transient=True)


def send(message: EmailMessage, config: SmtpConfig) -> None:
    """Deliver ``message`` to its To address (only that one: the envelope is set explicitly)."""
    where = f"SMTP server {config.host}:{config.port}"
    sender = address_of(str(message["From"]))
    recipient = address_of(str(message["To"]))
    try:
        connection: smtplib.SMTP
        if config.ssl:
            connection = smtplib.SMTP_SSL(
                config.host,
                config.port,
                timeout=config.timeout,
                context=ssl.create_default_context(),
            )
        else:
            connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with connection:
            if config.starttls:
                connection.starttls(context=ssl.create_default_context())
            if config.username:
                connection.login(config.username, config.password)
            refused = connection.send_message(message, from_addr=sender, to_addrs=[recipient])
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
    except Exception as exc:
        error = classify(exc, where)
        log.warning(
            "smtp send failed: host=%s port=%s to=%s message_id=%s code=%s transient=%s: %s",
            config.host,
            config.port,
            recipient,
            message["Message-ID"],
            error.code,
            error.transient,
            error,
        )
        raise error from exc
    log.info(
        "smtp sent: host=%s to=%s message_id=%s", config.host, recipient, message["Message-ID"]
    )
