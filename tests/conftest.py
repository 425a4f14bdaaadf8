"""The portal's test kit: app, client, db, login_as, jobs, and a network guard.

Backends: when ``DATABASE_URL`` / ``REDIS_URL`` are set (CI sets both), every database test runs on that
PostgreSQL and every job test through a real RQ worker process against that Redis; if either is set but
unreachable the run stops at once with a clear message, never falling back. Without them the same
suite runs on SQLite files and an in-process RQ worker over fakeredis.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
USES_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql"))
RUN_ID = uuid.uuid4().hex[:8]


# ----------------------------------------------------------------------------- backends


def _check_backends() -> None:
    from portal.config import normalize_database_url

    if DATABASE_URL:
        try:
            engine = create_engine(normalize_database_url(DATABASE_URL))
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:
            pytest.exit(
                f"DATABASE_URL is set ({DATABASE_URL}) but unreachable: {exc}. "
                "Start the database or unset DATABASE_URL to run on SQLite.",
                returncode=3,
            )
    if REDIS_URL:
        from redis import Redis

        try:
            Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        except Exception as exc:
            pytest.exit(
                f"REDIS_URL is set ({REDIS_URL}) but unreachable: {exc}. "
                "Start Redis or unset REDIS_URL to run jobs in-process.",
                returncode=3,
            )


def pytest_configure(config: pytest.Config) -> None:
    _check_backends()
    # The French catalog is compiled by the build (the .mo files are not in git): a plain
    # ``pytest`` compiles what is missing or older than its .po.
    from portal.i18n import compile_catalogs

    compile_catalogs()


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = DATABASE_URL if DATABASE_URL else "SQLite (no DATABASE_URL)"
    redis = (
        f"{REDIS_URL} (real RQ worker processes)"
        if REDIS_URL
        else "fakeredis (in-process RQ worker; no REDIS_URL)"
    )
    return [f"portal database: {db}", f"portal jobs: {redis}"]


# ----------------------------------------------------------------------------- network guard

_real_connect = socket.socket.connect


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # unix socket
        return True
    host = str(address[0])
    return host in {"localhost", "::1"} or host.startswith("127.")


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that reaches beyond this machine (only loopback services exist here)."""

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach a non-local address: {address!r}")
        return _real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


# ----------------------------------------------------------------------------- database


def _upgrade(app: Flask) -> None:
    from flask_migrate import upgrade

    from portal.extensions import db

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
        db.engine.dispose()


def _reset_postgres_schema(url: str) -> None:
    from portal.config import normalize_database_url

    engine = create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: the PostgreSQL under test, or a SQLite file each test copies."""
    instance = tmp_path_factory.mktemp("instance-template")
    if USES_POSTGRES:
        _reset_postgres_schema(DATABASE_URL)
        url = DATABASE_URL
    else:
        url = f"sqlite:///{instance / 'template.sqlite'}"
    from portal import create_app

    _upgrade(create_app(_base_config(instance, url)))
    return url


def _base_config(instance: Path, database_url: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "PORTAL_MODE": "test",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "JOB_RUNNER": "inline",
        "WTF_CSRF_ENABLED": False,
        "JOB_BACKOFF_BASE_SECONDS": 0,
        "JOB_MODULES": "tests.support.jobs",
    }
    config.update(extra)
    return config


def _truncate_all(app: Flask) -> None:
    from portal.extensions import db

    with app.app_context():
        names = ", ".join(t.name for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    if USES_POSTGRES:
        return database_template
    target = tmp_path / "portal.sqlite"
    shutil.copyfile(database_template.removeprefix("sqlite:///"), target)
    return f"sqlite:///{target}"


@pytest.fixture
def app_factory(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Make portal apps on this test's database (several may share it, e.g. to simulate an outage)."""
    from portal import create_app
    from portal.extensions import db

    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app(_base_config(tmp_path / "instance", database_url, **overrides))
        made.append(app)
        return app

    yield make
    if USES_POSTGRES and made:
        _truncate_all(made[0])
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    app = app_factory()
    with app.app_context():
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Any:
    from portal.extensions import db

    return db


class QueryCounter:
    """Counts the SQL statements the app's engine runs inside a ``with`` block."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def _count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def __enter__(self) -> QueryCounter:
        from sqlalchemy import event

        self.statements = []
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._count)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(db: Any) -> Callable[[], QueryCounter]:
    return lambda: QueryCounter(db.engine)


# ----------------------------------------------------------------------------- people


@pytest.fixture
def make_user(db: Any) -> Callable[..., Any]:
    """Make a user (committed): ``make_user()``, or with the email and values a test is about."""
    from tests.support.factories import UserFactory

    def make(email: str | None = None, **values: Any) -> Any:
        user = UserFactory(**values) if email is None else UserFactory(email=email, **values)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login_as(client: FlaskClient, make_user: Callable[..., Any]) -> Callable[..., Any]:
    """Sign the test client in as a user (made for the role when given a role name)."""
    from tests.support.sessions import sign_in

    def login(who: Any = "learner") -> Any:
        user = who if not isinstance(who, str) else make_user(is_staff=(who == "staff"))
        sign_in(client, user)
        return user

    return login


@pytest.fixture
def demo(db: Any) -> None:
    """The demo data (the emulators' demo realm and courses), committed."""
    from portal.demo import seed_demo

    seed_demo()
    db.session.commit()


@pytest.fixture
def staff_setup() -> None:
    """What is there before ``staff_client``'s staff user is made: nothing, unless a module
    overrides this (``def staff_setup(demo: None) -> None`` for the demo data)."""


@pytest.fixture
def staff_client(
    staff_setup: None, client: FlaskClient, login_as: Callable[..., Any]
) -> FlaskClient:
    """The test client, signed in as a new staff user (after ``staff_setup``)."""
    login_as("staff")
    return client


@pytest.fixture
def csrf_staff_client(app_factory: Callable[..., Flask]) -> Iterator[FlaskClient]:
    """A client signed in as a new staff user of a portal with CSRF protection on (other apps'
    tests run with it off); the test runs in that portal's app context."""
    from portal.extensions import db
    from tests.support.factories import UserFactory
    from tests.support.sessions import signed_in

    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        staff = UserFactory(staff=True)
        db.session.commit()
        yield signed_in(app, staff)


# ----------------------------------------------------------------------------- jobs


class JobRunner:
    """Runs queued jobs the way production does: an RQ worker against Redis.

    With ``REDIS_URL`` it starts ``flask --app portal worker --burst`` as a separate process; without,
    an in-process RQ worker over fakeredis (same queue, same code path in the portal).
    """

    def __init__(self, app: Flask, database_url: str, queue: str, fake: Any) -> None:
        self.app = app
        self.database_url = database_url
        self.queue = queue
        self.fake = fake

    def run(self) -> None:
        if self.fake is None:
            from portal.config import _ENV_NAMES

            settings = self.app.config["PORTAL"]
            env = {
                **os.environ,
                # The worker process gets exactly the test app's settings.
                **{var: str(getattr(settings, attr)) for attr, var in _ENV_NAMES.items()},
                "PORTAL_MODE": "test",
                "DATABASE_URL": self.database_url,
                "PORTAL_INSTANCE_PATH": self.app.instance_path,
            }
            proc = subprocess.run(
                [sys.executable, "-m", "flask", "--app", "portal", "worker", "--burst"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, f"worker failed:\n{proc.stdout}\n{proc.stderr}"
        else:
            from portal.jobs.sweeper import sweep
            from portal.jobs.worker import PortalWorker

            with self.app.app_context():
                sweep()
                worker = PortalWorker([self.queue], connection=self.fake, app=self.app)
                worker.work(burst=True, with_scheduler=True)


@pytest.fixture
def rq_app_factory(app_factory: Callable[..., Flask]) -> Iterator[Callable[..., Flask]]:
    """Apps whose jobs go through RQ (real Redis in CI, fakeredis otherwise)."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        queue = f"test-{RUN_ID}-{uuid.uuid4().hex[:6]}"
        if REDIS_URL:
            app = app_factory(JOB_RUNNER="rq", REDIS_URL=REDIS_URL, JOB_QUEUE=queue, **overrides)
            app.extensions["test_fake_redis"] = None
        else:
            import fakeredis

            app = app_factory(
                JOB_RUNNER="rq", REDIS_URL="redis://127.0.0.1:6379/15", JOB_QUEUE=queue, **overrides
            )
            app.extensions["portal_redis"] = fakeredis.FakeRedis()
            app.extensions["test_fake_redis"] = app.extensions["portal_redis"]
        made.append(app)
        return app

    yield make
    if REDIS_URL:
        from rq import Queue

        from portal.jobs.queue import redis_connection

        for app in made:
            with app.app_context():
                Queue(app.config["PORTAL"].job_queue, connection=redis_connection()).empty()


@pytest.fixture
def rq_app(rq_app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    app = rq_app_factory()
    with app.app_context():
        yield app


@pytest.fixture
def job_runner_for(database_url: str) -> Callable[[Flask], JobRunner]:
    def make(app: Flask) -> JobRunner:
        return JobRunner(
            app, database_url, app.config["PORTAL"].job_queue, app.extensions["test_fake_redis"]
        )

    return make


@pytest.fixture
def jobs(rq_app: Flask, job_runner_for: Callable[[Flask], JobRunner]) -> JobRunner:
    return job_runner_for(rq_app)


class KeycloakPortal:
    """A portal with the demo data whose jobs go through RQ to a live Keycloak emulator."""

    def __init__(self, url: str, app: Flask, jobs: JobRunner) -> None:
        from tests.support.emulators import KeycloakAdminApi

        self.url, self.app, self.jobs = url, app, jobs
        self.api = KeycloakAdminApi(url)  # the emulator's admin API, to see what jobs did there

    def run(self) -> None:
        """Run the queued jobs."""
        self.jobs.run()


@pytest.fixture
def keycloak_portal(
    rq_app_factory: Callable[..., Flask], job_runner_for: Callable[[Flask], JobRunner]
) -> Iterator[KeycloakPortal]:
    """The demo data on a portal (no backoff between job retries, in its app context) wired to a
    Keycloak emulator serving the demo realm."""
    from emulators.keycloak import create_app as create_keycloak
    from portal.demo import seed_demo
    from portal.extensions import db
    from tests.support.emulators import DEMO_REALM
    from tests.support.live_server import live_server

    with live_server(create_keycloak({"KEYCLOAK_EMULATOR_REALMS": str(DEMO_REALM)})) as url:
        app = rq_app_factory(KEYCLOAK_SERVER_URL=url, JOB_BACKOFF_BASE_SECONDS=0)
        with app.app_context():
            seed_demo()
            db.session.commit()
            yield KeycloakPortal(url, app, job_runner_for(app))
