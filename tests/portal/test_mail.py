"""Email: recorded with the change, sent by the ``email.send`` job after commit; captured in the
outbox in demo and test mode, delivered over SMTP (a real aiosmtpd server on loopback) otherwise."""

from __future__ import annotations

import re
import smtplib
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.config import SMTP_REQUIRED, ConfigError, load_settings
from portal.core.domain_errors import DomainError
from portal.extensions import db as _db
from portal.integrations import smtp
from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.queue import retry_now
from portal.jobs.registry import JobContext
from portal.jobs.runner import execute
from portal.models import (
    BackgroundJob,
    JobState,
    MembershipSource,
    Organization,
    OutboxMessage,
    utcnow,
)
from portal.services.mail import queue_email
from portal.tasks import email as email_job
from tests.portal.test_config import PRODUCTION_ENV
from tests.support.factories import MembershipFactory, OrganizationFactory
from tests.support.sessions import signed_in

MAIL_FROM = "Acme Learning <learning@acme.example>"


# ----------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it receives; ``rcpt_reply`` refuses every recipient."""

    rcpt_reply: str | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[Recorder, int]]]:
    """Start real SMTP servers on 127.0.0.1 (free ports); all are stopped after the test."""
    controllers: list[Controller] = []

    def start(rcpt_reply: str | None = None) -> tuple[Recorder, int]:
        recorder = Recorder(rcpt_reply=rcpt_reply)
        port = free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return recorder, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_app(app_factory: Callable[..., Flask]) -> Callable[..., Any]:
    """An app with ``MAIL_BACKEND=smtp`` on the test database, as a context manager."""

    @contextmanager
    def make(port: int, **overrides: Any) -> Iterator[Flask]:
        settings: dict[str, Any] = {
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": port,
            "SMTP_TIMEOUT_SECONDS": 5,
            "MAIL_FROM": MAIL_FROM,
        }
        app = app_factory(**(settings | overrides))
        with app.app_context():
            yield app

    return make


def fresh(model: type, ident: int) -> Any:
    _db.session.expire_all()
    row = _db.session.get(model, ident)
    assert row is not None
    return row


def job_for(message: OutboxMessage) -> BackgroundJob:
    _db.session.expire_all()
    job = _db.session.scalar(
        select(BackgroundJob).where(
            BackgroundJob.object_type == "outbox_message",
            BackgroundJob.object_id == str(message.id),
        )
    )
    assert job is not None
    return job


# ----------------------------------------------------------------------------- queueing and capture


def test_queue_email_records_message_and_job_in_the_transaction(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("outbox mode must not open an SMTP connection")

    monkeypatch.setattr(smtplib, "SMTP", no_network)
    monkeypatch.setattr(smtplib, "SMTP_SSL", no_network)
    org = OrganizationFactory(name="Acme", key="ACME")

    message = queue_email(
        "  Learner@Acme.Example ",
        "Welcome",
        "Hello",
        body_html="<p>Hello</p>",
        organization_id=org.id,
    )
    assert message.id is not None and message.sent_at is None  # flushed, not yet sent
    job = job_for(message)
    assert job.kind == "email.send" and job.payload == {"message_id": message.id}
    assert job.organization_id == org.id and job.state is JobState.PENDING

    _db.session.commit()  # the test app runs jobs inline right after commit

    sent = fresh(OutboxMessage, message.id)
    assert sent.to_email == "learner@acme.example"
    assert sent.sent_at is not None and sent.error is None
    assert fresh(BackgroundJob, job.id).state is JobState.SUCCEEDED


def test_a_rolled_back_change_sends_nothing(app: Flask) -> None:
    queue_email("someone@example.org", "Never", "This change is rolled back")
    _db.session.rollback()
    assert _db.session.scalar(select(func.count(OutboxMessage.id))) == 0
    assert _db.session.scalar(select(func.count(BackgroundJob.id))) == 0


@pytest.mark.parametrize(
    "address",
    [
        "victim@example.org\r\nBcc: everyone@example.org",
        "victim@example.org\nX-Injected: 1",
        "Bob <bob@example.org>",
        "a@example.org, b@example.org",
        "not-an-address",
        "",
    ],
)
def test_invalid_or_injected_addresses_are_refused(app: Flask, address: str) -> None:
    with pytest.raises(DomainError, match="not a valid email address"):
        queue_email(address, "Hello", "Body")
    assert _db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_line_breaks_in_a_subject_are_neutralized(app: Flask) -> None:
    message = queue_email(
        "learner@example.org", "Your code\r\nBcc: victim@example.org\n\nbody", "Body"
    )
    assert message.subject == "Your code Bcc: victim@example.org body"
    long = queue_email("learner@example.org", "x" * 400, "Body")
    assert len(long.subject) == 300


def test_the_smtp_client_refuses_line_breaks_in_headers_too() -> None:
    with pytest.raises(smtp.SmtpError) as excinfo:
        smtp.build_message(
            mail_from=MAIL_FROM,
            to="a@example.org",
            subject="Hi\r\nBcc: b@example.org",
            body_text="x",
        )
    assert excinfo.value.transient is False


# ----------------------------------------------------------------------------- SMTP delivery


def test_smtp_round_trip(smtp_server: Callable[..., Any], smtp_app: Callable[..., Any]) -> None:
    recorder, port = smtp_server()
    with smtp_app(port):
        message = queue_email(
            "learner@globex.example",
            "Your seat\r\nBcc: victim@example.org",
            "Hello!\nRedeem at http://127.0.0.1:5000/redeem/ABCD-1234\n",
            body_html="<p>Hello! <a href='http://127.0.0.1:5000/redeem/ABCD-1234'>Redeem</a></p>",
        )
        _db.session.commit()

        assert len(recorder.received) == 1
        got = recorder.received[0]
        assert got.mail_from == "learning@acme.example"
        assert got.rcpt_tos == ["learner@globex.example"]  # the injected Bcc went nowhere
        mail = got.message
        assert mail["From"] == MAIL_FROM
        assert mail["To"] == "learner@globex.example"
        assert mail["Subject"] == "Your seat Bcc: victim@example.org"
        assert mail["Bcc"] is None
        assert mail["Date"] is not None
        assert re.fullmatch(rf"<outbox-{message.id}\.\d{{14}}@acme\.example>", mail["Message-ID"])
        assert mail.get_content_type() == "multipart/alternative"
        text = mail.get_body(("plain",))
        html = mail.get_body(("html",))
        assert text is not None and "redeem/ABCD-1234" in text.get_content()
        assert html is not None and "<a href='http://127.0.0.1:5000/redeem/ABCD-1234'>" in (
            html.get_content()
        )

        sent = fresh(OutboxMessage, message.id)
        assert sent.sent_at is not None and sent.error is None
        job = job_for(message)
        assert job.state is JobState.SUCCEEDED and job.attempts == 1


def test_text_only_email_has_a_single_part(
    smtp_server: Callable[..., Any], smtp_app: Callable[..., Any]
) -> None:
    recorder, port = smtp_server()
    with smtp_app(port):
        queue_email("learner@globex.example", "Plain", "Just text")
        _db.session.commit()
    mail = recorder.received[0].message
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content().strip() == "Just text"


def test_sending_twice_sends_once(
    smtp_server: Callable[..., Any], smtp_app: Callable[..., Any]
) -> None:
    recorder, port = smtp_server()
    with smtp_app(port):
        message = queue_email("learner@globex.example", "Once", "Only once")
        _db.session.commit()
        assert len(recorder.received) == 1
        first_sent_at = fresh(OutboxMessage, message.id).sent_at

        job = job_for(message)
        email_job.send(JobContext(job))  # the handler run again directly
        _db.session.commit()
        assert execute(job.id) == "skipped"  # a duplicate delivery of a finished job
        retry_now(job)  # staff press Retry: the job runs again, the handler sees sent_at
        _db.session.commit()

        assert fresh(BackgroundJob, job.id).state is JobState.SUCCEEDED
        assert fresh(OutboxMessage, message.id).sent_at == first_sent_at
    assert len(recorder.received) == 1


def test_a_refused_recipient_fails_permanently_with_the_error_on_the_message(
    smtp_server: Callable[..., Any], smtp_app: Callable[..., Any]
) -> None:
    recorder, port = smtp_server(rcpt_reply="550 5.1.1 No such user here")
    with smtp_app(port):
        message = queue_email("nobody@globex.example", "Bounce", "Body")
        _db.session.commit()

        job = job_for(message)
        assert job.state is JobState.FAILED
        assert job.attempts == 1  # not retried: a 5xx is final
        assert "550" in (job.last_error or "") and "No such user" in (job.last_error or "")
        failed = fresh(OutboxMessage, message.id)
        assert failed.sent_at is None
        assert failed.error == job.last_error
    assert recorder.received == []


def test_a_4xx_reply_is_retried(
    smtp_server: Callable[..., Any], smtp_app: Callable[..., Any]
) -> None:
    _recorder, port = smtp_server(rcpt_reply="451 4.7.1 Greylisted, try again later")
    with smtp_app(port, JOB_BACKOFF_BASE_SECONDS=60):
        message = queue_email("later@globex.example", "Greylisted", "Body")
        _db.session.commit()
        job = job_for(message)
        assert job.state is JobState.PENDING and job.attempts == 1
        assert job.run_after > utcnow()
        assert "451" in (job.last_error or "")
        assert fresh(OutboxMessage, message.id).error is None  # not failed (yet)


def test_a_refused_connection_is_retried_with_the_error(
    smtp_app: Callable[..., Any],
) -> None:
    closed = free_port()  # nothing listens there
    with smtp_app(closed, JOB_BACKOFF_BASE_SECONDS=60):
        message = queue_email("learner@globex.example", "Later", "Body")
        _db.session.commit()

        job = job_for(message)
        assert job.state is JobState.PENDING  # waiting for its retry
        assert job.attempts == 1 and job.run_after > utcnow()
        assert "could not be reached" in (job.last_error or "")
        assert f"127.0.0.1:{closed}" in (job.last_error or "")
        pending = fresh(OutboxMessage, message.id)
        assert pending.sent_at is None and pending.error is None

        with pytest.raises(TransientJobError):
            email_job.send(JobContext(job))


def test_a_silent_server_times_out_as_a_transient_error(smtp_app: Callable[..., Any]) -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with smtp_app(port, SMTP_TIMEOUT_SECONDS=0.5, JOB_BACKOFF_BASE_SECONDS=60):
            message = queue_email("learner@globex.example", "Slow", "Body")
            _db.session.commit()
            job = job_for(message)
            assert job.state is JobState.PENDING
            assert "did not answer in time" in (job.last_error or "")


def test_a_missing_message_fails_permanently(app: Flask) -> None:
    job = BackgroundJob(kind="email.send", payload={"message_id": 999_999})
    _db.session.add(job)
    _db.session.flush()
    with pytest.raises(PermanentJobError, match="no longer exists"):
        email_job.send(JobContext(job))


def test_smtp_errors_are_classified() -> None:
    where = "SMTP server x:25"
    assert smtp.classify(ConnectionRefusedError(111, "refused"), where).transient
    assert smtp.classify(TimeoutError("timed out"), where).transient
    assert smtp.classify(smtplib.SMTPServerDisconnected("gone"), where).transient
    assert smtp.classify(smtplib.SMTPSenderRefused(421, b"busy", "a@b.c"), where).transient
    denied = smtp.classify(smtplib.SMTPDataError(554, b"spam"), where)
    assert not denied.transient and denied.code == 554
    auth = smtp.classify(smtplib.SMTPAuthenticationError(535, b"bad credentials"), where)
    assert not auth.transient
    assert not smtp.classify(smtplib.SMTPNotSupportedError("no STARTTLS"), where).transient


# ----------------------------------------------------------------------------- settings


def test_mail_settings_defaults_and_types(tmp_path: Path) -> None:
    demo = load_settings(tmp_path, environ={})
    assert demo.mail_backend == "outbox" and demo.captures_mail
    assert demo.mail_from == "B2B Learning Portal <no-reply@portal.example>"
    production = load_settings(tmp_path, environ={"PORTAL_MODE": "production", **PRODUCTION_ENV})
    assert production.mail_backend == "smtp" and not production.captures_mail
    typed = load_settings(
        tmp_path,
        environ={
            "MAIL_BACKEND": "SMTP",
            "SMTP_HOST": "mail.example.org",
            "SMTP_PORT": "587",
            "SMTP_STARTTLS": "true",
            "SMTP_TIMEOUT_SECONDS": "3.5",
        },
    )
    assert typed.mail_backend == "smtp"
    assert typed.smtp_port == 587 and typed.smtp_starttls is True
    assert typed.smtp_timeout_seconds == 3.5
    assert load_settings(tmp_path, {"SMTP_PORT": "2525"}, environ={}).smtp_port == 2525


@pytest.mark.parametrize("missing", SMTP_REQUIRED)
def test_production_smtp_refuses_to_start_without_host_and_sender(
    tmp_path: Path, missing: str
) -> None:
    env = {"PORTAL_MODE": "production", **PRODUCTION_ENV}
    del env[missing]
    with pytest.raises(ConfigError) as excinfo:
        load_settings(tmp_path, environ=env)
    assert missing in str(excinfo.value) and "refuses to start" in str(excinfo.value)


def test_production_may_capture_mail_explicitly(tmp_path: Path) -> None:
    env = {"PORTAL_MODE": "production", **PRODUCTION_ENV, "MAIL_BACKEND": "outbox"}
    del env["SMTP_HOST"], env["MAIL_FROM"]
    assert load_settings(tmp_path, environ=env).mail_backend == "outbox"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAIL_BACKEND": "sendmail"}, "MAIL_BACKEND must be one of outbox, smtp"),
        ({"MAIL_BACKEND": "smtp"}, "MAIL_BACKEND=smtp needs SMTP_HOST"),
        ({"SMTP_PORT": "twenty-five"}, "SMTP_PORT must be a whole number"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT must be between 1 and 65535"),
        ({"SMTP_SSL": "true", "SMTP_STARTTLS": "true"}, "exclude each other"),
        ({"MAIL_FROM": "nobody"}, "MAIL_FROM must be an address"),
        ({"SMTP_TIMEOUT_SECONDS": "0"}, "SMTP_TIMEOUT_SECONDS must be more than 0"),
    ],
)
def test_bad_mail_settings_are_named(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, environ=env)


# ----------------------------------------------------------------------------- the outbox page


@dataclass
class Cast:
    staff: Any
    learner: Any
    admin: Any
    messages: dict[str, int]


@pytest.fixture
def cast(db: Any, make_user: Callable[..., Any]) -> Cast:
    """Acme's learner and admin, a staff member, and emails to and about them and Globex."""
    acme = OrganizationFactory(name="Acme", key="ACME")
    globex = OrganizationFactory(name="Globex", key="GLOBEX")
    staff = make_user("staff@portal.example", is_staff=True)
    learner = make_user("learner@acme.example")
    admin = make_user("admin@acme.example")
    MembershipFactory(user=learner, organization=acme, source=MembershipSource.SSO)
    MembershipFactory(user=admin, organization=acme, source=MembershipSource.STAFF, manager=True)
    sent = {
        "learner-invite": queue_email(
            "Learner@Acme.example", "Invite for the learner", "Hi", organization_id=acme.id
        ),
        "colleague-invite": queue_email(
            "colleague@acme.example", "Invite for a colleague", "Hi", organization_id=acme.id
        ),
        "globex-invite": queue_email(
            "someone@globex.example", "Invite at Globex", "Hi", organization_id=globex.id
        ),
        "admin-personal": queue_email("admin@acme.example", "Personal note for the admin", "Hi"),
    }
    db.session.commit()
    return Cast(staff, learner, admin, {name: m.id for name, m in sent.items()})


SUBJECTS = {
    "learner-invite": "Invite for the learner",
    "colleague-invite": "Invite for a colleague",
    "globex-invite": "Invite at Globex",
    "admin-personal": "Personal note for the admin",
}


def listed(client: FlaskClient) -> set[str]:
    response = client.get("/outbox/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Demo mode: emails are captured here instead of being sent" in page
    return {name for name, subject in SUBJECTS.items() if subject in page}


def test_staff_see_every_message(
    client: FlaskClient, login_as: Callable[..., Any], cast: Cast
) -> None:
    login_as(cast.staff)
    assert listed(client) == set(SUBJECTS)
    for message_id in cast.messages.values():
        assert client.get(f"/outbox/{message_id}").status_code == 200


def test_a_learner_sees_only_their_own(
    client: FlaskClient, login_as: Callable[..., Any], cast: Cast
) -> None:
    login_as(cast.learner)
    assert listed(client) == {"learner-invite"}
    assert client.get(f"/outbox/{cast.messages['learner-invite']}").status_code == 200
    for other in ("colleague-invite", "globex-invite", "admin-personal"):
        assert client.get(f"/outbox/{cast.messages[other]}").status_code == 404


def test_an_org_admin_sees_their_organizations_messages_and_404_for_another(
    client: FlaskClient, login_as: Callable[..., Any], cast: Cast
) -> None:
    login_as(cast.admin)
    assert listed(client) == {"learner-invite", "colleague-invite", "admin-personal"}
    assert client.get(f"/outbox/{cast.messages['colleague-invite']}").status_code == 200
    assert client.get(f"/outbox/{cast.messages['globex-invite']}").status_code == 404
    assert client.get("/outbox/999999").status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, cast: Cast) -> None:
    for path in ("/outbox/", f"/outbox/{cast.messages['learner-invite']}"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/login?next=")
    assert "Outbox" not in client.get("/").get_data(as_text=True)


def test_the_nav_links_to_the_outbox_while_mail_is_captured(
    client: FlaskClient, login_as: Callable[..., Any]
) -> None:
    login_as("learner")
    assert 'href="/outbox/">Outbox</a>' in client.get("/learner/").get_data(as_text=True)


def test_there_is_no_outbox_when_mail_is_really_sent(
    app_factory: Callable[..., Flask], make_user: Callable[..., Any], cast: Cast
) -> None:
    real = app_factory(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1")
    client = signed_in(real, cast.staff)
    assert client.get("/outbox/").status_code == 404
    assert client.get(f"/outbox/{cast.messages['learner-invite']}").status_code == 404
    staff_page = client.get("/learner/")
    assert staff_page.status_code == 200
    assert "Outbox" not in staff_page.get_data(as_text=True)


def test_message_page_shows_text_and_never_renders_html(
    client: FlaskClient, login_as: Callable[..., Any], db: Any
) -> None:
    learner = login_as("learner")
    message = queue_email(
        learner.email,
        "Your code",
        "Use http://127.0.0.1:5000/redeem/ABCD-1234.\nOr see https://portal.example/help?x=1&y=2",
        body_html='<p onclick="x()">Hi</p><script>alert(1)</script><a href="javascript:bad()">x</a>',
    )
    db.session.commit()
    response = client.get(f"/outbox/{message.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<pre" in page and "http://127.0.0.1:5000/redeem/ABCD-1234." in page
    assert "<code>http://127.0.0.1:5000/redeem/ABCD-1234</code>" in page  # links as plain text
    assert "<code>https://portal.example/help?x=1&amp;y=2</code>" in page
    assert 'href="http://127.0.0.1:5000/redeem' not in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert 'href="javascript:' not in page
    assert "script-src" in response.headers["Content-Security-Policy"]


def test_list_pages_newest_first_and_bad_page_values(
    client: FlaskClient, login_as: Callable[..., Any], db: Any
) -> None:
    learner = login_as("learner")
    db.session.add_all(
        OutboxMessage(to_email=learner.email, subject=f"Message {n:03d}", body_text="x")
        for n in range(60)
    )
    db.session.commit()
    first = client.get("/outbox/").get_data(as_text=True)
    assert first.count("Message 0") == 50
    assert first.index("Message 059") < first.index("Message 058")  # newest first
    assert "Message 009" not in first and 'href="/outbox/?page=2"' in first
    second = client.get("/outbox/?page=2").get_data(as_text=True)
    assert second.count("Message 0") == 10 and "Message 000" in second
    for bad in ("abc", "-3", "0", ""):
        page = client.get(f"/outbox/?page={bad}").get_data(as_text=True)
        # the same list; only the language switch's way back names the address asked for
        assert _without_way_back(page) == _without_way_back(first)


def _without_way_back(page: str) -> str:
    return re.sub(r'name="next" value="[^"]*"', 'name="next"', page)


@pytest.mark.parametrize("who", ["staff", "admin"])
def test_the_list_runs_a_bounded_number_of_queries(
    client: FlaskClient,
    login_as: Callable[..., Any],
    count_queries: Callable[[], Any],
    cast: Cast,
    db: Any,
    who: str,
) -> None:
    login_as(cast.staff if who == "staff" else cast.admin)
    acme = db.session.scalar(select(Organization).where(Organization.key == "ACME"))

    def add(n: int) -> None:
        db.session.add_all(
            OutboxMessage(
                to_email=f"person{n}-{i}@acme.example",
                subject=f"Bulk {i}",
                body_text="x",
                organization_id=acme.id,
                error="boom" if i % 3 == 0 else None,
            )
            for i in range(n)
        )
        db.session.commit()

    def measure() -> Any:
        # A cold request: the test shares its app context (and so g) with the client's requests.
        g.pop("_login_user", None)
        g.pop("nav_is_org_admin", None)
        with count_queries() as counter:
            assert client.get("/outbox/").status_code == 200
        return counter

    add(1)  # with the cast's four: 5 messages
    few = measure()
    add(55)  # 60 messages
    many = measure()
    assert many.count == few.count <= 4, many.statements
