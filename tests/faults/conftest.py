"""The fault kit (issue 8): what breaks under the portal, and the ledger that proves nothing was lost
or duplicated when it did.

* ``build_world`` makes a small learner journey from the composed world's blocks
  (tests/support/world.py): an organization, a seat-limited code contract with its one-time codes,
  a contract run ready in edX, and learners.
* ``ledger`` counts everything that must be neither lost nor duplicated: seats, code redemptions and
  uses, memberships, orders, enrollments and background jobs.
* ``drop_connections`` ends every PostgreSQL connection of the portal under test, as a database
  restart does (only connections tagged with the test's ``application_name``: other work may share
  the server).
* ``WorkerProcess`` is a real ``flask --app portal worker`` process that a test can SIGKILL mid-job.
* ``Gate`` and ``Slow`` stand in front of an emulator: an answer held until the caller is dead, or
  a service slower than the portal's timeout.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text, true
from sqlalchemy.pool import NullPool

from portal.extensions import db
from portal.jobs.queue import leave_to_sweeper
from portal.models import (
    AuditEvent,
    BackgroundJob,
    CodeRedemption,
    Contract,
    EdxSyncState,
    Enrollment,
    EnrollmentCode,
    JobState,
    Membership,
    Order,
    OrderState,
    Seat,
    utcnow,
)
from portal.services.codes import generate_codes
from tests.conftest import REDIS_URL, ROOT, USES_POSTGRES
from tests.support.emulators import Edx
from tests.support.factories import ContractFactory, CourseFactory, CourseRunFactory, UserFactory
from tests.support.sessions import signed_in
from tests.support.waiting import wait_for
from tests.support.world import acme

RUN_KEY = "course-v1:ACME+DS.101x+1T1C2026"
POSTGRES_ONLY = (
    "PostgreSQL only: SQLite has no server connections to drop "
    "(run with DATABASE_URL=postgresql://... to prove this)"
)


@pytest.fixture
def postgres_only() -> None:
    if not USES_POSTGRES:
        pytest.skip(POSTGRES_ONLY)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Emulators and servers a test starts, all stopped when it ends."""
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def impatient_portal(
    rq_app_factory: Callable[..., Flask],
    job_runner_for: Callable[[Flask], Any],
    stack: ExitStack,
) -> Callable[..., tuple[Flask, Any]]:
    """Make a portal (with these settings) that waits 1 s for an answer over HTTP and 1 s before its
    first retry, in its app context until the test ends, and its worker."""

    def make(**settings: Any) -> tuple[Flask, Any]:
        app = rq_app_factory(HTTP_TIMEOUT_SECONDS=1, JOB_BACKOFF_BASE_SECONDS=1, **settings)
        stack.enter_context(app.app_context())
        return app, job_runner_for(app)

    return make


# ----------------------------------------------------------------------------- the journey


@dataclass
class World:
    org_id: int
    contract_id: int
    run_id: int
    run_key: str
    codes: list[str]
    learner_ids: list[int]


def build_world(
    *,
    seats: int = 5,
    learners: int = 1,
    emails: list[str] | None = None,
    keycloak_id: str | None = None,
) -> World:
    """Acme (linked to Keycloak when ``keycloak_id`` is given) with a ``seats``-seat code contract,
    one one-time code per seat, one contract run ready in edX, and the learners."""
    org = acme(name="Acme Corporation", keycloak_id=keycloak_id)
    contract = ContractFactory(organization=org, name="Fault Academy", seat_limit=seats)
    run = CourseRunFactory(
        course=CourseFactory(
            key="ACME+DS.101x", number="DS.101x", title="Foundations of Data Science"
        ),
        course_key=RUN_KEY,
        title="Foundations of Data Science (Acme)",
        contract=contract,
        contract_run=True,
    )
    users = [
        UserFactory(email=email, name=f"Learner {i}")
        for i, email in enumerate(emails or [f"learner{i}@acme.example" for i in range(learners)])
    ]
    generate_codes(contract, seats)
    db.session.commit()
    codes = list(
        db.session.scalars(
            select(EnrollmentCode.code)
            .where(EnrollmentCode.contract_id == contract.id)
            .order_by(EnrollmentCode.id)
        )
    )
    world = World(org.id, contract.id, run.id, RUN_KEY, codes, [u.id for u in users])
    db.session.commit()  # hold no transaction: a test may drop every connection next
    return world


def ledger(contract_id: int, user_id: int | None = None) -> dict[str, Any]:
    """Everything the journey creates on a contract (for one learner when ``user_id`` is given)."""
    db.session.expire_all()

    def count(model: Any, *where: Any) -> int:
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def mine(column: Any) -> Any:
        return column == user_id if user_id is not None else true()

    contract = db.session.get(Contract, contract_id)
    assert contract is not None
    # Jobs are counted over the whole database: each fault test has one journey in it.
    jobs = {
        kind: n
        for kind, n in db.session.execute(
            select(BackgroundJob.kind, func.count()).group_by(BackgroundJob.kind)
        )
        if kind.startswith(("keycloak.", "openedx."))
    }
    result = {
        "seats": count(
            Seat, Seat.contract_id == contract_id, Seat.revoked_at.is_(None), mine(Seat.user_id)
        ),
        "redemptions": count(
            CodeRedemption, CodeRedemption.contract_id == contract_id, mine(CodeRedemption.user_id)
        ),
        "memberships": count(
            Membership,
            Membership.organization_id == contract.organization_id,
            mine(Membership.user_id),
        ),
        "orders": count(Order, Order.contract_id == contract_id, mine(Order.user_id)),
        "fulfilled_orders": count(
            Order,
            Order.contract_id == contract_id,
            Order.state == OrderState.FULFILLED,
            mine(Order.user_id),
        ),
        "enrollments": count(
            Enrollment,
            Enrollment.contract_id == contract_id,
            Enrollment.active.is_(True),
            mine(Enrollment.user_id),
        ),
        "jobs": jobs,
    }
    if user_id is None:
        result["code_uses"] = int(
            db.session.scalar(
                select(func.coalesce(func.sum(EnrollmentCode.times_redeemed), 0)).where(
                    EnrollmentCode.contract_id == contract_id
                )
            )
            or 0
        )
    db.session.commit()
    return result


ENROLLED = {
    "seats": 1,
    "redemptions": 1,
    "code_uses": 1,
    "memberships": 1,
    "orders": 1,
    "fulfilled_orders": 1,
    "enrollments": 1,
    "jobs": {"openedx.enroll": 1},
}


def assert_enrolled_once(edx: Edx, world: World, email: str) -> None:
    """One edX account, one active verified enrollment in the run, and the same in the portal:
    one seat, one code use, one fulfilled order, one enrollment (synced) and one edX job."""
    assert [u["email"] for u in edx.learners()] == [email]
    [remote] = edx.enrollments_of(email)
    assert (remote["course_id"], remote["mode"], remote["is_active"]) == (
        world.run_key,
        "verified",
        True,
    )
    assert ledger(world.contract_id) == ENROLLED
    [enrollment] = db.session.scalars(select(Enrollment))
    assert enrollment.edx_state is EdxSyncState.SYNCED and enrollment.edx_error is None
    assert enrollment.user.edx_username == remote["user"]
    assert audit_count("enrollment.synced") == 1


def assert_clear_error_page(body: str) -> None:
    """A request the database failed shows the portal's own 503 page: words for people, advice to
    try again, no internals."""
    assert "A service we depend on is unavailable" in body, body[:800]
    assert "Please try again in a moment" in body, body[:800]
    for internal in ("Traceback", "sqlalchemy", "psycopg", "OperationalError", 'File "'):
        assert internal not in body, f"{internal!r} leaked into the error page"


def wait_until_due(job_id: int) -> None:
    """Wait (without asserting anything about time) until a job's retry is due."""
    db.session.expire_all()
    job = db.session.get(BackgroundJob, job_id)
    assert job is not None
    run_after = job.run_after
    db.session.commit()
    wait_for(lambda: utcnow() >= run_after + dt.timedelta(seconds=0.2), "the retry to be due", 60)


def enroll_through_the_portal(app: Flask, world: World) -> FlaskClient:
    """The learner's journey over HTTP: redeem the first code, enroll in the run. Returns the
    learner's signed-in client."""
    client = signed_in(app, world.learner_ids[0])
    redeemed = client.post("/learner/redeem", data={"code": world.codes[0]})
    assert redeemed.status_code == 302, redeemed.get_data(as_text=True)[:500]
    enrolled = client.post(f"/learner/runs/{world.run_id}/enroll")
    assert enrolled.status_code == 302, enrolled.get_data(as_text=True)[:500]
    return client


def dashboard(client: FlaskClient) -> str:
    page = client.get("/learner/")
    assert page.status_code == 200
    return html.unescape(page.get_data(as_text=True))


def jobs_of_kind(kind: str) -> list[BackgroundJob]:
    db.session.expire_all()
    found = list(
        db.session.scalars(
            select(BackgroundJob).where(BackgroundJob.kind == kind).order_by(BackgroundJob.id)
        )
    )
    db.session.commit()
    return found


def audit_count(action: str) -> int:
    n = int(
        db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action)) or 0
    )
    db.session.commit()
    return n


def run_until_settled(jobs: Any, kind: str, runs: int = 4) -> BackgroundJob:
    """Run the worker, and again each time the job's retry is due, until the job has settled."""
    for _ in range(runs):
        jobs.run()
        [job] = jobs_of_kind(kind)
        if job.state not in (JobState.PENDING, JobState.QUEUED):
            return job
        wait_until_due(job.id)
    raise AssertionError(f"{kind} still waiting after {runs} runs: {job.last_error}")


# ----------------------------------------------------------------------------- PostgreSQL


def tagged_url(database_url: str, tag: str) -> str:
    """The same database, every connection named ``tag`` (libpq's ``application_name``)."""
    return f"{database_url}{'&' if '?' in database_url else '?'}application_name={tag}"


def drop_connections(database_url: str, tag: str) -> int:
    """End every connection named ``tag`` from a separate connection, as a server restart would,
    and wait until those backends are gone. Returns how many there were."""
    from portal.config import normalize_database_url

    engine = create_engine(
        normalize_database_url(database_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with engine.connect() as conn:
            pids = list(
                conn.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND application_name = :tag"
                    ),
                    {"tag": tag},
                )
            )
            for pid in pids:  # false only if it ended on its own meanwhile
                conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            wait_for(
                lambda: (
                    not conn.scalar(
                        text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                        {"pids": pids},
                    )
                ),
                "the dropped connections to end",
                10,
            )
    finally:
        engine.dispose()
    return len(pids)


def open_transactions(database_url: str, tag: str) -> list[str]:
    """The sessions named ``tag`` that sit inside a transaction (holding its locks)."""
    from portal.config import normalize_database_url

    engine = create_engine(normalize_database_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = :tag "
                    "AND state LIKE 'idle in transaction%'"
                ),
                {"tag": tag},
            ).all()
    finally:
        engine.dispose()
    return [f"pid {pid} {state}: {query[:80]}" for pid, state, query in rows]


@dataclass
class LivePortal:
    """A portal served over real HTTP whose PostgreSQL connections the test can drop."""

    app: Flask
    url: str
    database_url: str
    tag: str

    def drop_connections(self) -> int:
        db.session.remove()  # the test's own session holds nothing across the drop
        return drop_connections(self.database_url, self.tag)


class ConnectionCutter:
    """Drops every portal connection at one chosen moment inside a request: just before the first
    statement that starts with ``prefix`` runs (``"COMMIT"``: just before the commit itself). The
    statement then meets a dead connection, as it would across a database restart."""

    def __init__(self, portal: LivePortal) -> None:
        from sqlalchemy import event

        self.portal = portal
        self.prefix: str | None = None
        self.fired = 0
        with portal.app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)

    def arm(self, prefix: str) -> None:
        self.prefix = prefix.upper()

    def _cut(self) -> None:
        self.prefix = None
        self.fired += 1
        # Not ``portal.drop_connections()``: this runs on the request's own thread, inside its
        # statement or commit, and must leave the request's session alone (only the server ends
        # its connection, as in a restart).
        drop_connections(self.portal.database_url, self.portal.tag)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.prefix and statement.lstrip().upper().startswith(self.prefix):
            self._cut()

    def _commit(self, conn: Any) -> None:
        if self.prefix == "COMMIT":
            self._cut()

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)


# ----------------------------------------------------------------------------- workers


def commit_for_worker(app: Flask) -> None:
    """Commit, leaving the jobs just recorded to the worker process. An inline-mode app would run
    them in this process right after the commit; here only the worker process may (its sweeper
    finds them pending)."""
    if not app.config["PORTAL"].uses_redis:
        leave_to_sweeper()
    db.session.commit()


@dataclass
class WorkerProcess:
    """A real ``flask --app portal worker`` process on the test's database and settings.

    With ``REDIS_URL`` (CI) it is the RQ worker against that Redis. Without, it is the worker in
    inline mode, whose sweeper loop claims and runs due jobs through the same runner: an in-process
    fakeredis cannot be shared with another process, and a thread cannot be SIGKILLed.

    Each worker runs in its own process group: the RQ worker forks its scheduler as a child
    process, and ``kill`` ends both, as when a container or node dies.
    """

    app: Flask
    log_dir: Path
    procs: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = field(default_factory=list)
    current: subprocess.Popen[bytes] | None = None

    def env(self, **overrides: Any) -> dict[str, str]:
        from portal.config import _ENV_NAMES

        settings = self.app.config["PORTAL"]
        env = {
            **os.environ,
            **{var: str(getattr(settings, attr)) for attr, var in _ENV_NAMES.items()},
            "PORTAL_MODE": "test",
            "PORTAL_INSTANCE_PATH": self.app.instance_path,
        }
        env.update({key: str(value) for key, value in overrides.items()})
        return env

    def _spawn(self, args: list[str], **env: Any) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"worker-{len(self.procs) + 1}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "portal", "worker", *args],
            cwd=ROOT,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the worker and what it forks
        )
        self.procs.append((proc, log))
        return proc

    def start(self, **env: Any) -> None:
        """A long-running worker (not --burst)."""
        inline = not self.app.config["PORTAL"].uses_redis
        self.current = self._spawn(["--sweep-interval", "0.2" if inline else "15"], **env)

    def kill(self, *, whole_group: bool = True) -> int:
        """SIGKILL: no clean-up, no goodbye, like a node lost mid-job. ``whole_group=False`` kills
        only the worker process itself, as the kernel's OOM killer would. Returns its pid."""
        proc = self.current
        assert proc is not None and proc.poll() is None, self.logs()
        if whole_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.current = None
        return proc.pid

    @staticmethod
    def group_alive(pid: int) -> bool:
        """Is any process of the group this worker started still running?"""
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def run_burst(self, **env: Any) -> None:
        """A fresh worker that sweeps, runs what is due, and exits."""
        proc = self._spawn(["--burst"], **env)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.returncode == 0, f"burst worker failed:\n{self.logs()}"

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.log_dir.glob("worker-*.log"))
        )

    def close(self) -> None:
        """Stop every process this worker started (by its own process group), then reap them."""
        for proc, log in self.procs:
            if self.group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            log.close()


@pytest.fixture
def worker_app_factory(
    app_factory: Callable[..., Flask], rq_app_factory: Callable[..., Flask]
) -> Callable[..., Flask]:
    """Apps whose jobs a worker process can run: RQ on the real Redis in CI, inline otherwise."""

    def make(**overrides: Any) -> Flask:
        # Workers here run until killed: without this their scheduler would also record the
        # hourly organization pull and outcome syncs, jobs these tests do not count on (each has
        # its own tests).
        overrides.setdefault("KEYCLOAK_ORG_SYNC_INTERVAL_SECONDS", 0)
        overrides.setdefault("OPENEDX_OUTCOME_SYNC_INTERVAL_SECONDS", 0)
        if REDIS_URL:
            return rq_app_factory(**overrides)
        return app_factory(JOB_RUNNER="inline", **overrides)

    return make


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[Callable[[Flask], WorkerProcess]]:
    made: list[WorkerProcess] = []

    def make(app: Flask) -> WorkerProcess:
        log_dir = tmp_path / f"workers-{uuid.uuid4().hex[:6]}"
        log_dir.mkdir()
        worker = WorkerProcess(app, log_dir)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()


# ----------------------------------------------------------------------------- services in the way


class Gate:
    """A WSGI wrapper that holds the answer to one call of ``(method, path)``: the service has
    handled it, but the answer waits until the test sets ``release`` (meanwhile the test kills the
    caller, so the answer is lost). ``held`` is set while it waits; ``handled`` counts the calls
    the service saw."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.hold: tuple[str, str] | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.handled: Counter[tuple[str, str]] = Counter()

    def hold_answer_to(self, method: str, path: str) -> None:
        self.held.clear()
        self.release.clear()
        self.hold = (method, path.rstrip("/"))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        call = (environ["REQUEST_METHOD"], environ.get("PATH_INFO", "").rstrip("/"))
        self.handled[call] += 1
        if call != self.hold:
            return self.app(environ, start_response)
        self.hold = None
        status, headers, body = _handle(self.app, environ)
        self.held.set()
        self.release.wait(30)
        start_response(status, headers)
        return [body]


def _handle(app: Any, environ: dict[str, Any]) -> tuple[str, list[Any], bytes]:
    """Let a WSGI app handle a request completely; return its status, headers and body."""
    answer: dict[str, Any] = {}

    def capture(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        answer.update(status=status, headers=headers)
        return lambda data: None

    result = app(environ, capture)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return answer["status"], answer["headers"], body


class Slow:
    """A WSGI wrapper that makes the first ``times`` calls to ``method`` on a path ending with
    ``path_end`` slow by ``seconds``: before the service handles them, or (``after=True``) after it
    has handled them, before the answer leaves. Either way a caller that times out never hears
    that its request was carried out."""

    def __init__(
        self,
        app: Any,
        method: str,
        path_end: str,
        seconds: float,
        *,
        times: int = 1,
        after: bool = False,
    ) -> None:
        self.app, self.method, self.path_end = app, method, path_end
        self.seconds, self.left, self.after = seconds, times, after
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "").rstrip("/")
        slow = False
        if environ["REQUEST_METHOD"] == self.method and path.endswith(self.path_end):
            with self.lock:
                slow, self.left = self.left > 0, self.left - 1
        if not slow:
            return self.app(environ, start_response)
        if not self.after:
            time.sleep(self.seconds)
            return self.app(environ, start_response)
        status, headers, body = _handle(self.app, environ)
        time.sleep(self.seconds)
        start_response(status, headers)
        return [body]
