"""The security suite's kit: an offline app, a world with a real object behind every URL argument,
URL building from ``app.url_map``, and sign-in per role (the database snapshots that show whether a
request wrote anything are in tests/support/snapshots.py).

Offline means no outbound call can reach anything: Keycloak and Open edX point at a closed local port
(jobs that call them fail fast and are retried later, as in an outage), and the OpenID discovery
document is preloaded so signing in can start without Keycloak. Exceptions are not propagated: a crash
answers 500 exactly as it would for a user, so a test can see it as a status.
"""

from __future__ import annotations

import functools
import io
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule

from portal.models import (
    RESTRICTION_B2B,
    Contract,
    EnrollmentCode,
    JobState,
    MembershipType,
    SeatSource,
    User,
)

# The portal and the Keycloak emulator over real HTTP, for the sign-in tests (test_sessions.py).
from tests.integration.conftest import sso, sso_factory  # noqa: F401
from tests.support.factories import (
    BackgroundJobFactory,
    ContractProgramFactory,
    CourseFactory,
    CourseRunFactory,
    EnrollmentFactory,
    OutboxMessageFactory,
    ProgramCourseFactory,
    ProgramFactory,
    SeatFactory,
)
from tests.support.org_world import OrgWorld
from tests.support.sessions import sign_in as sign_in_client

IGNORED_METHODS = {"HEAD", "OPTIONS"}
CLOSED_PORT = "http://127.0.0.1:9"  # discard: nothing listens, connections are refused at once
OFFLINE: dict[str, Any] = {
    "KEYCLOAK_SERVER_URL": CLOSED_PORT,
    "OPENEDX_LMS_URL": CLOSED_PORT,
    "OPENEDX_STUDIO_URL": CLOSED_PORT,
    "CYBERSOURCE_REST_URL": CLOSED_PORT,
    "PROPAGATE_EXCEPTIONS": False,
}
# Every setting production refuses to start without (portal/config.py PRODUCTION_REQUIRED and
# SMTP_REQUIRED), with values that reach nothing. The database is the test's own SQLite file.
PRODUCTION: dict[str, Any] = {
    "PORTAL_MODE": "production",
    "SECRET_KEY": "production-test-secret-key-0123456789",
    "REDIS_URL": "redis://127.0.0.1:9/0",
    "JOB_RUNNER": "rq",
    "RATELIMIT_STORAGE_URL": "memory://",
    "KEYCLOAK_REALM": "b2b-demo",
    "KEYCLOAK_CLIENT_ID": "b2b-portal",
    "KEYCLOAK_CLIENT_SECRET": "production-test-kc-secret",
    "OPENEDX_CLIENT_ID": "b2b-portal",
    "OPENEDX_CLIENT_SECRET": "production-test-edx-secret",
    "CYBERSOURCE_URL": "https://testsecureacceptance.cybersource.com/pay",
    "CYBERSOURCE_PROFILE_ID": "production-test-profile",
    "CYBERSOURCE_ACCESS_KEY": "production-test-access-key",
    "CYBERSOURCE_SECRET_KEY": "production-test-cybersource-secret",
    "CYBERSOURCE_REST_URL": "http://127.0.0.1:9",
    "CYBERSOURCE_MERCHANT_ID": "production-test-merchant",
    "CYBERSOURCE_REST_KEY_ID": "production-test-rest-key-id",
    "CYBERSOURCE_REST_SECRET_KEY": "cHJvZHVjdGlvbi10ZXN0LXJlc3Qtc2VjcmV0",
    "SMTP_HOST": "127.0.0.1",
    "MAIL_FROM": "Portal <no-reply@portal.example>",
    "PUBLIC_BASE_URL": "https://learn.example.org",
    **OFFLINE,
}
ROLES = ("anonymous", "learner", "other_admin", "own_admin", "staff")


# ----------------------------------------------------------------------------- the app


def offline_keycloak(app: Flask) -> None:
    """Preload the realm's discovery document, so /auth/login builds its redirect without a call."""
    from portal.integrations import keycloak_oidc

    realm = keycloak_oidc.realm_url(app.config["PORTAL"])
    with app.app_context():
        keycloak_oidc.client().server_metadata.update(
            {
                "issuer": realm,
                "authorization_endpoint": f"{realm}/protocol/openid-connect/auth",
                "token_endpoint": f"{realm}/protocol/openid-connect/token",
                "jwks_uri": f"{realm}/protocol/openid-connect/certs",
                "end_session_endpoint": f"{realm}/protocol/openid-connect/logout",
                "_loaded_at": time.time(),
            }
        )


def unsynced_sqlite(app: Flask) -> None:
    """Don't fsync the throwaway test database at every commit (7 ms each on this disk; these
    tests commit thousands of times). The portal's own SQLite settings are untouched."""
    from sqlalchemy import event

    from portal.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return

        @event.listens_for(db.engine, "connect")
        def no_sync(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

        db.engine.dispose()


@pytest.fixture
def make_app(app_factory: Callable[..., Flask]) -> Callable[..., Flask]:
    """Offline portal apps on this test's database."""

    def make(**overrides: Any) -> Flask:
        app = app_factory(**{**OFFLINE, **overrides})
        offline_keycloak(app)
        unsynced_sqlite(app)
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """The root ``app`` fixture, offline (so ``client``, ``db`` and ``login_as`` are too)."""
    app = make_app()
    with app.app_context():
        yield app


def rules_of(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


@functools.cache
def all_routes() -> tuple[tuple[str, str, str], ...]:
    """(endpoint, rule, method) of every route of a throwaway test app (no database needed)."""
    import tempfile

    from portal import create_app

    with tempfile.TemporaryDirectory(prefix="security-routes-") as folder:
        app = create_app(
            {
                "PORTAL_MODE": "test",
                "INSTANCE_PATH": folder,
                "SECRET_KEY": "test-secret-key",
                "DATABASE_URL": f"sqlite:///{folder}/unused.sqlite",
                "JOB_RUNNER": "inline",
            }
        )
        return tuple(route_methods(app))


def route_methods(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) for every route and method, HEAD and OPTIONS aside."""
    return sorted(
        (rule.endpoint, rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - IGNORED_METHODS
    )


def sign_in(client: FlaskClient, user: User | None) -> None:
    """Make ``client`` ``user`` (or anonymous), starting from an empty session."""
    sign_in_client(client, user, clear=True)


def is_login_redirect(response: Any) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code == 302 and urlsplit(location).path == "/auth/login"


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 90, 200)).save(out, "PNG")
    return out.getvalue()


# ----------------------------------------------------------------------------- the world


class SecurityWorld(OrgWorld):
    """OrgWorld (Acme with admin Grace, Globex with admin Gus, Lee who manages nothing, Sam staff),
    plus one real object behind every URL argument of every route:

    * Acme's code contract ``seats``: Ada's seat, an assigned code, the contract run ``run``, and the
      program ``program`` (whose course is public) linked to it;
    * Lee, the learner: a seat and an enrollment on ``seats``, a pending order on Acme's paid
      contract, an email in the outbox;
    * a public course and run, a failed job, an API token, and Acme's logo.
    """

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.ada, self.seat = self.seat_learner(self.seats, "ada@acme.example", "Ada Lovelace")
        self.assigned = self.free_codes(self.seats)[0]
        self.assigned.assigned_email = "invited@acme.example"

        self.public_course = CourseFactory(
            key="OpenU+CS.50x", number="CS.50x", title="Intro to Computing"
        )
        self.public_run = CourseRunFactory(
            course=self.public_course, course_key="course-v1:OpenU+CS.50x+2026_Fall"
        )
        self.program = ProgramFactory(key="program-v1:OpenU+DATA", title="Data Program")
        self.link = ProgramCourseFactory(program=self.program, course=self.public_course)
        ContractProgramFactory(contract=self.seats, program=self.program)

        # Lee: a seat (no membership: Lee manages nothing and belongs nowhere) and an enrollment.
        SeatFactory(contract=self.seats, user=self.lee, source=SeatSource.STAFF)
        self.enrollment = EnrollmentFactory(user=self.lee, course_run=self.run)
        self.paid = self.contract("Paid", self.acme, MembershipType.CODE, seat_limit=5)
        self.paid.price_per_learner = Decimal("149.00")
        self.paid_run = CourseRunFactory(
            course=self.course,
            course_key=f"course-v1:ACME+DS101+1T{self.paid.id}C2026",
            title="Data Science 101 (paid)",
            contract=self.paid,
            run_number=1,
            contract_run=True,
        )
        SeatFactory(contract=self.paid, user=self.lee, source=SeatSource.STAFF)
        from portal.services.orders import create_order

        self.order = create_order(self.lee, self.paid, [self.paid_run])
        self.message = OutboxMessageFactory(
            to_email=self.lee.email,
            subject="Your invitation",
            body_text="Redeem at http://127.0.0.1:5000/redeem/ABC",
        )
        # Recorded directly, not through record_job: nothing dispatches it.
        self.job = BackgroundJobFactory(state=JobState.FAILED, last_error="boom")
        from portal.services.api_tokens import issue_api_token

        self.token, self.token_value = issue_api_token(
            "security", [RESTRICTION_B2B], created_by_id=self.staff.id
        )
        from portal.services.org_api_tokens import issue_token

        self.org_token, self.org_token_value = issue_token(
            self.acme, "security", created_by_id=self.grace.id
        )
        from portal.models import ReportFrequency, utcnow
        from portal.services.report_links import link_token
        from portal.services.report_subscriptions import subscribe

        # Grace's weekly report and the link its email carries (org_admin.report_download).
        self.report_subscription, _ = subscribe(self.acme, self.grace, ReportFrequency.WEEKLY)
        self.report_token = link_token(self.report_subscription, "2026-W49", now=utcnow())
        self.acme.logo = png_bytes()
        self.acme.logo_content_type = "image/png"
        db.session.commit()
        self.globex_code = self.free_codes(self.other)[0].code

    def user_for(self, role: str) -> User | None:
        return {
            "anonymous": None,
            "learner": self.lee,
            "other_admin": self.gus,
            "own_admin": self.grace,
            "staff": self.staff,
        }[role]

    def url_values(self) -> dict[str, Any]:
        """A value for every URL argument name, all pointing at Acme's objects (or Lee's)."""
        return {
            "org_key": self.acme.key,
            "org_id": self.acme.id,
            "contract_id": self.seats.id,
            "code_id": self.assigned.id,
            "seat_id": self.seat.id,
            "user_id": self.grace.id,
            "run_id": self.run.id,
            "course_id": self.course.id,
            "program_id": self.program.id,
            "link_id": self.link.id,
            "job_id": self.job.id,
            "token_id": self.token.id,
            "message_id": self.message.id,
            "enrollment_id": self.enrollment.id,
            "reference": self.order.reference,
            "code": self.assigned.code,
            "direction": "down",
            "filename": "portal.css",
            "course_key": self.public_course.key,
            "run_key": self.public_run.course_key,
            "program_key": self.program.key,
            "token": self.report_token,
        }

    def endpoint_values(self, endpoint: str) -> dict[str, Any]:
        """Arguments whose name means different things on different routes (the API's ``key``)."""
        keys = {
            "catalog_api.course_run": self.public_run.course_key,
            "catalog_api.course": self.public_course.key,
            "catalog_api.program": self.program.key,
        }
        return {"key": keys[endpoint]} if endpoint in keys else {}


@pytest.fixture
def world(db: Any) -> SecurityWorld:
    return SecurityWorld(db)


def build_url(app: Flask, endpoint: str, world: SecurityWorld, **override: Any) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {**world.url_values(), **world.endpoint_values(endpoint)}
    args = {name: override.get(name, values[name]) for name in rule.arguments}
    return app.url_map.bind("localhost").build(endpoint, args)


# ----------------------------------------------------------------------------- forms


def role_for(endpoint: str) -> str:
    """The caller who may use a route: staff for the console, Acme's admin for its dashboard, Lee
    (whose order, enrollment and email the URLs name) for the rest; the payment provider is anonymous."""
    if endpoint.startswith("staff."):
        return "staff"
    if endpoint.startswith("org_admin."):
        return "own_admin"
    if endpoint in ("checkout.notify", "checkout.receipt"):
        return "anonymous"
    return "learner"


def valid_forms(world: SecurityWorld) -> dict[str, dict[str, Any]]:
    """For every POST endpoint, a body its form accepts (files as ``(bytes, filename)``).

    Without CSRF protection each of these would change something; the CSRF test proves the token
    is what stops them, and the fuzzer starts from them and breaks them field by field."""
    date = "2026-09-01T09:00"
    run_fields = {
        "start_at": "",
        "end_at": "",
        "enrollment_start": "",
        "enrollment_end": "",
        "pacing": "self",
        "is_source_run": "",
        "hidden": "",
    }
    return {
        "auth.logout": {},
        "i18n.set_language": {"locale": "fr", "next": "/catalog/"},
        # Keycloak's back-channel logout: verified by the logout token's signature instead.
        "auth.backchannel_logout": {"logout_token": "not-a-logout-token"},
        "checkout.notify": {},  # verified by signature instead: see test_csrf and test_fuzz
        "checkout.receipt": {},
        "checkout.retry": {},
        "learner.redeem_submit": {"code": world.globex_code},
        "learner.enroll_run": {},
        "learner.enroll_in_program": {},
        "learner.unenroll_run": {},
        "org_admin.assign": {"email": "new.person@acme.example"},
        "org_admin.assign_bulk": {"file": (b"email\nbulk.one@acme.example\n", "people.csv")},
        "org_admin.remind": {},
        "org_admin.revoke_assignment": {},
        "org_admin.revoke_seat": {"reason": "Left the company", "confirm": "y"},
        "org_admin.api_token_create": {"name": "Reporting"},
        "org_admin.reports": {"frequency": "monthly"},
        "org_admin.notices": {"email_me": "", "invite_reminders": ""},
        "org_admin.api_token_revoke": {"token_id": str(world.org_token.id), "confirm": "y"},
        "staff.run_outcomes_sync": {},
        "staff.api_token_new": {"name": "Partner", "allowed_restrictions": RESTRICTION_B2B},
        "staff.api_token_revoke": {"confirm": "y"},
        "staff.code_deactivate": {"confirm": "y"},
        "staff.codes_generate": {
            "count": "2",
            "redemption_type": "one_time",
            "max_uses": "",
            "activates_at": "",
            "expires_at": "",
            "discount_percent": "10",
            "discount_amount": "",
        },
        "staff.contract_add_course": {"course_id": str(world.course.id)},
        "staff.contract_add_program": {"program_id": str(world.program.id)},
        "staff.contract_add_run": {"run_id": str(world.public_run.id)},
        "staff.contract_deactivate": {"confirm": "y"},
        "staff.contract_reactivate": {"confirm": "y"},
        "staff.contract_edit": {
            "name": "Seats",
            "slug": "seats",
            "description": "Acme's seats",
            "welcome_message": "Welcome",
            "start_at": "",
            "end_at": "",
            "price_per_learner": "",
            "seat_revoke_allowed": "y",
        },
        "staff.contract_membership": {"membership_type": "managed", "confirm": "y"},
        "staff.order_refund": {"access": "keep", "reason": "x", "confirm": "y"},
        "staff.refund_cybersource": {"confirm": "y"},
        "staff.contract_renew": {
            "name": "Seats 2027",
            "slug": "seats-2027",
            "description": "",
            "welcome_message": "",
            "membership_type": "code",
            "start_at": date,
            "end_at": "2027-09-01T09:00",
            "unlimited_seats": "",
            "seat_limit": "3",
            "price_per_learner": "",
            "seat_revoke_allowed": "y",
            "carry_over": "y",
            "deactivate_old_codes": "",
        },
        "staff.contract_clone": {
            "organization_id": str(world.acme.id),
            "name": "Cloned Deal",
            "slug": "",
            "description": "",
            "welcome_message": "",
            "membership_type": "code",
            "start_at": date,
            "end_at": "2027-09-01T09:00",
            "unlimited_seats": "",
            "seat_limit": "3",
            "price_per_learner": "",
            "seat_revoke_allowed": "y",
        },
        "staff.contract_new": {
            "organization_id": str(world.acme.id),
            "name": "New Deal",
            "slug": "",
            "description": "",
            "welcome_message": "",
            "membership_type": "code",
            "start_at": date,
            "end_at": "2027-09-01T09:00",
            "unlimited_seats": "",
            "seat_limit": "3",
            "price_per_learner": "",
            "seat_revoke_allowed": "y",
        },
        "staff.contract_remove_program": {},
        "staff.contract_remove_run": {},
        "staff.contract_seats": {"unlimited_seats": "", "seat_limit": "12", "confirm": "y"},
        "staff.course_edit": {
            "key": world.course.key,
            "number": world.course.number,
            "title": "Data Science 101",
            "description": "",
        },
        "staff.course_new": {
            "key": "OpenU+NEW.1x",
            "number": "",
            "title": "New",
            "description": "",
        },
        "staff.run_new": {
            "course_key": f"course-v1:{world.course.key}+2027",
            "title": "Data Science 101 (2027)",
            "restriction_type": "",
            **run_fields,
        },
        "staff.run_edit": {
            "course_key": world.run.course_key,
            "title": "Data Science 101",
            "restriction_type": RESTRICTION_B2B,
            **run_fields,
        },
        "staff.run_import": {"course_key": "course-v1:OpenU+CS.50x+2027_Spring"},
        "staff.program_new": {
            "key": "program-v1:OpenU+NEW",
            "title": "New Program",
            "description": "",
            "hidden": "",
        },
        "staff.program_edit": {
            "key": world.program.key,
            "title": "Data Program",
            "description": "",
            "hidden": "",
        },
        "staff.program_add_course": {"course_id": str(world.course.id)},
        "staff.program_move_course": {},
        "staff.program_remove_course": {},
        "staff.ping_jobs": {},
        "staff.refund_mark": {"confirm": "y"},
        "staff.refund_grant": {"confirm": "y"},
        "staff.pull_organizations": {},
        "staff.resync_organization": {},
        "staff.organization_new": {
            "name": "Initech",
            "key": "INITECH",
            "description": "",
            "keycloak_alias": "",
            "active": "y",
        },
        "staff.organization_edit": {
            "name": "Acme",
            "key": "ACME",
            "description": "Anvils",
            "keycloak_alias": "acme",
            "active": "y",
        },
        "staff.organization_member_add": {"email": "member@acme.example", "is_manager": ""},
        "staff.organization_member_admin": {"is_manager": "0"},
        "staff.organization_member_remove": {},
        "staff.organization_deactivate": {},
        "staff.organization_reactivate": {},
        "staff.create_in_keycloak": {},
        "staff.organization_link_keycloak": {"alias": "acme-two"},
        "staff.organization_logo": {"logo": (png_bytes(), "logo.png")},
        "staff.organization_logo_remove": {},
        "staff.resync_user": {},
        "staff.retry_job": {"next": "/staff/jobs"},
        "staff.cancel_job": {"next": "/staff/jobs"},
    }


def request_body(form: dict[str, Any] | list[tuple[str, Any]]) -> MultiDict[str, Any]:
    """A request body for the test client: ``(bytes, filename)`` values become file uploads."""
    pairs = form.items() if isinstance(form, dict) else form
    body: MultiDict[str, Any] = MultiDict()
    for name, value in pairs:
        if isinstance(value, tuple):
            value = (io.BytesIO(value[0]), value[1])
        body.add(name, value)
    return body


# ----------------------------------------------------------------------------- misc


def unique_email(prefix: str = "someone") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def static_files(app: Flask) -> list[str]:
    root = Path(app.static_folder or "")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def code_of(db: Any, contract: Contract) -> EnrollmentCode:
    found = db.session.scalar(
        select(EnrollmentCode)
        .where(EnrollmentCode.contract_id == contract.id, EnrollmentCode.times_redeemed == 0)
        .order_by(EnrollmentCode.id)
    )
    assert found is not None
    return found
