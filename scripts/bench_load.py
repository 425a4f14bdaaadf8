"""Benchmark: the portal under concurrent load, served by gunicorn, driven by locust (not a test;
prints figures).

    .venv/bin/python scripts/bench_load.py --recreate          # about 9 minutes on 2 cores
    .venv/bin/python scripts/bench_load.py --reuse --users 8 --pages dashboard,floor --duration 10

It uses PostgreSQL and Redis meant for it (``DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/bench_load``, created if missing and migrated; ``REDIS_URL``,
default ``redis://127.0.0.1:6379/7``, which it empties). It refuses a database named ``test`` and
Redis database 0, which the test suite uses. ``--recreate`` drops and recreates the database first;
``--reuse`` keeps the data of an earlier run.

1. Data: the demo data (``seed_demo``), 40 public course runs for the catalog, and two
   organizations of the same shape: ``BENCH`` (50,000 learners) and ``SMALL`` (10). Each has an org
   admin and a seat-limited code contract with a ready course run; every learner is a member with a
   seat and an active enrollment (``add_bulk_learners``), and the contract has one code per seat.
2. SQL statements per request for each page, at 10 and at 50,000 learners, through the Flask test
   client in this process (the ``before_cursor_execute`` event, as in ``bench_org_admin.py``).
3. gunicorn serves ``scripts.bench_wsgi:build_app()`` (the portal plus a floor route, one indexed
   SELECT) in production mode; for each number of users, each page is driven alone by a separate
   locust process for ``--duration`` seconds, and the table gives requests/s, p50/p95/p99 and the
   throughput as a share of the floor's at the same number of users, and the CPU each request cost
   in gunicorn and in PostgreSQL.

Production mode, with every external service (Keycloak, Open edX, CyberSource, SMTP) pointed at the
discard port on loopback: none is called during these requests. Jobs (each enrollment's
``openedx.enroll``) are recorded and handed to RQ in Redis as in production; no worker runs, so they
wait there and cost the web nodes nothing more. ``REDEEM_RATE_LIMIT`` is raised to 1,000,000 per
minute: every request comes from 127.0.0.1, and the limiter still counts each one in Redis.

Each redemption POST uses a fresh one-time code of the 50,000-seat contract with a fresh user, and
each enroll POST is a fresh seated learner's first enrollment in the contract's run; afterwards the
database is checked to hold exactly one new redemption or enrollment per successful POST. Sessions
are what a browser holds after signing in and opening a form: the signed session cookie (Flask-Login's
identity, a 1 KB stand-in for the ID token the sign-in keeps, and Flask-WTF's CSRF secret) and the
form's ``csrf_token``, both made ahead by the app's own code (``login_user``, ``generate_csrf``) so
that each measured request is the POST alone. CSRF stays on and is checked on every POST.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402 - a dependency of locust
from flask import Flask, session  # noqa: E402
from flask_login import UserMixin, login_user  # noqa: E402
from flask_wtf.csrf import generate_csrf  # noqa: E402
from sqlalchemy import delete, event, func, insert, select, text  # noqa: E402

from portal.core import access  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    RESTRICTION_B2B,
    CodeRedemption,
    Contract,
    Course,
    CourseRun,
    EdxRunState,
    Enrollment,
    EnrollmentCode,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    Pacing,
    Seat,
    User,
    utcnow,
)

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/bench_load"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
DISCARD = "http://127.0.0.1:9"  # nothing listens on the discard port; no request calls it
USER_AGENT = "bench-load/1.0"  # the same as scripts/locustfile.py (part of the session identity)
PAGES = ["floor", "dashboard", "redeem", "enroll", "catalog", "overview"]
FRESH = {"redeem", "enroll"}
FLOOR_PATH = "/_bench/floor"
CATALOG_PATH = "/api/v1/course_runs/"
ID_TOKEN = "eyJ" + secrets.token_urlsafe(900)  # about the size of a Keycloak ID token
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
LOCUST = ROOT / ".venv" / "bin" / "locust"
LOCUSTFILE = ROOT / "scripts" / "locustfile.py"


# --------------------------------------------------------------------------- settings


def checked_urls() -> tuple[str, str]:
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    if not url.startswith(("postgres://", "postgresql")):
        sys.exit("DATABASE_URL must be PostgreSQL: the benchmark measures the production setup.")
    name = urlsplit(url).path.lstrip("/")
    if name in {"", "test", "postgres", "template0", "template1"}:
        sys.exit(f"Refusing database {name!r}: use one meant for benchmarks (e.g. bench_load).")
    if (urlsplit(redis_url).path.lstrip("/") or "0") == "0":
        sys.exit("Refusing Redis database 0 (the test suite's): use another, e.g. redis://.../7.")
    return url, redis_url


def portal_environment(url: str, redis_url: str, port: int, instance: Path) -> dict[str, str]:
    """Production mode with every outside service on the discard port (see the docstring)."""
    dummy = "bench"
    return {
        "PORTAL_MODE": "production",
        "PORTAL_INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "KEYCLOAK_SERVER_URL": DISCARD,
        "KEYCLOAK_REALM": dummy,
        "KEYCLOAK_CLIENT_ID": dummy,
        "KEYCLOAK_CLIENT_SECRET": dummy,
        "OPENEDX_LMS_URL": DISCARD,
        "OPENEDX_STUDIO_URL": DISCARD,
        "OPENEDX_CLIENT_ID": dummy,
        "OPENEDX_CLIENT_SECRET": dummy,
        "CYBERSOURCE_URL": f"{DISCARD}/pay",
        "CYBERSOURCE_PROFILE_ID": dummy,
        "CYBERSOURCE_ACCESS_KEY": dummy,
        "CYBERSOURCE_SECRET_KEY": dummy,
        "CYBERSOURCE_REST_URL": DISCARD,
        "CYBERSOURCE_MERCHANT_ID": dummy,
        "CYBERSOURCE_REST_KEY_ID": dummy,
        "CYBERSOURCE_REST_SECRET_KEY": "YmVuY2g=",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "9",
        "MAIL_FROM": "Bench <bench@bench.example>",
        "REDEEM_RATE_LIMIT": "1000000 per minute",
        "BENCH_FLOOR_KEY": "BENCH",
    }


def libpq_url(url: str) -> str:
    from portal.config import normalize_database_url

    return normalize_database_url(url).replace("postgresql+psycopg://", "postgresql://")


def prepare_database(url: str, recreate: bool) -> None:
    import psycopg

    base, name = libpq_url(url).rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if recreate:
            if not name.startswith("bench"):
                sys.exit(f"--recreate drops the database: only for one named bench*, not {name!r}.")
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# --------------------------------------------------------------------------- data


@dataclass
class World:
    """One organization of the benchmark, by id (rows are reloaded where needed)."""

    key: str
    org_id: int
    contract_id: int
    run_id: int
    admin_id: int
    learner_ids: list[int] = field(default_factory=list)


def add_memberships(org_id: int, user_ids: list[int]) -> None:
    for start in range(0, len(user_ids), 5000):
        db.session.execute(
            insert(Membership),
            [
                {
                    "user_id": uid,
                    "organization_id": org_id,
                    "source": MembershipSource.CODE,
                    "keep_until_seen": True,
                }
                for uid in user_ids[start : start + 5000]
            ],
        )


def seed_catalog(count: int) -> None:
    start = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    for n in range(count):
        course = Course(key=f"OpenU+LOAD{n:03d}x", number=f"LOAD{n:03d}x", title=f"Open course {n}")
        db.session.add(course)
        db.session.flush()
        db.session.add(
            CourseRun(
                course_id=course.id,
                course_key=f"course-v1:OpenU+LOAD{n:03d}x+2026_Fall",
                title=course.title,
                start_at=start + dt.timedelta(days=n),
                end_at=start + dt.timedelta(days=n + 120),
                pacing=Pacing.INSTRUCTOR,
            )
        )


def seed_organization(key: str, learners: int, course: Course) -> None:
    from portal.demo import add_bulk_learners
    from portal.services.seat_codes import adjust_seat_codes

    now = utcnow()
    org = Organization(name=f"{key.title()} Corp", key=key)
    db.session.add(org)
    db.session.flush()
    contract = Contract(
        organization_id=org.id,
        name=f"{key.title()} seats",
        slug=f"{key.lower()}-seats",
        membership_type=MembershipType.CODE,
        seat_limit=learners,
        start_at=now - dt.timedelta(days=30),
        end_at=now + dt.timedelta(days=335),
        welcome_message="Welcome! Pick a course below and start when you like.",
    )
    admin = User(email=f"admin@{key.lower()}.example", name=f"{key.title()} Admin")
    db.session.add_all([contract, admin])
    db.session.flush()
    db.session.add_all(
        [
            CourseRun(
                course_id=course.id,
                course_key=f"course-v1:{key}+{course.number}+1T{contract.id}C{now.year}",
                title=course.title,
                start_at=contract.start_at,
                end_at=contract.end_at,
                enrollment_start=contract.start_at,
                enrollment_end=contract.end_at,
                contract_id=contract.id,
                run_number=1,
                restriction_type=RESTRICTION_B2B,
                edx_state=EdxRunState.READY,
            ),
            Membership(
                user_id=admin.id,
                organization_id=org.id,
                source=MembershipSource.STAFF,
                is_manager=True,
            ),
        ]
    )
    db.session.commit()
    run = db.session.scalar(select(CourseRun).where(CourseRun.contract_id == contract.id))
    add_bulk_learners(contract, run, learners, prefix=f"{key.lower()}-learner")
    seated = list(db.session.scalars(select(Seat.user_id).where(Seat.contract_id == contract.id)))
    add_memberships(org.id, seated)
    adjust_seat_codes(contract)
    db.session.commit()


def seed(large: int, small: int, catalog_runs: int) -> None:
    from portal.demo import seed_demo

    seed_demo()
    seed_catalog(catalog_runs)
    course = Course(key="BENCH_SOURCE+LOAD101", number="LOAD101", title="Load Testing 101")
    db.session.add(course)
    db.session.commit()
    seed_organization("BENCH", large, course)
    seed_organization("SMALL", small, course)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def load_world(key: str, sample: int = 64) -> World:
    org = db.session.scalar(select(Organization).where(Organization.key == key))
    assert org is not None, key
    contract = db.session.scalar(select(Contract).where(Contract.organization_id == org.id))
    assert contract is not None
    run_id = db.session.scalar(select(CourseRun.id).where(CourseRun.contract_id == contract.id))
    admin_id = db.session.scalar(
        select(User.id).where(User.email == f"admin@{key.lower()}.example")
    )
    learners = db.session.scalars(
        select(Enrollment.user_id)
        .where(Enrollment.course_run_id == run_id)
        .order_by(Enrollment.user_id)
        .limit(sample)
    )
    assert run_id is not None and admin_id is not None
    return World(key, org.id, contract.id, run_id, admin_id, list(learners))


def new_users(count: int, prefix: str) -> list[int]:
    now = utcnow()
    ids: list[int] = []
    for start in range(0, count, 5000):
        ids += db.session.scalars(
            insert(User).returning(User.id, sort_by_parameter_order=True),
            [
                {"email": f"{prefix}-{n}@bench.example", "name": f"Newcomer {n}", "created_at": now}
                for n in range(start, min(count, start + 5000))
            ],
        )
    return ids


def redeem_pool(world: World, count: int, tag: str) -> list[tuple[int, str]]:
    """``count`` fresh users, each with an unused one-time code of the contract, and room for them:
    the seat limit is raised (one code per seat, as staff raising seats would do)."""
    from portal.services.locks import lock_contract
    from portal.services.seat_codes import adjust_seat_codes
    from portal.services.seats import claimed_count

    users = new_users(count, f"redeem-{tag}")
    contract = lock_contract(world.contract_id)
    contract.seat_limit = max(contract.seat_limit or 0, claimed_count(contract.id) + count)
    adjust_seat_codes(contract)
    codes = list(
        db.session.scalars(
            select(EnrollmentCode.code)
            .where(
                EnrollmentCode.contract_id == contract.id,
                EnrollmentCode.times_redeemed == 0,
                EnrollmentCode.deactivated_at.is_(None),
                EnrollmentCode.assigned_email.is_(None),
            )
            .order_by(EnrollmentCode.id)
            .limit(count)
        )
    )
    db.session.commit()
    assert len(codes) == count
    return list(zip(users, codes, strict=True))


def enroll_pool(world: World, count: int, tag: str) -> list[int]:
    """``count`` members with a seat on the contract and no enrollment yet."""
    from portal.demo import add_bulk_learners

    contract = db.session.get(Contract, world.contract_id)
    assert contract is not None
    prefix = f"enroll-{tag}"
    add_bulk_learners(contract, None, count, prefix=prefix)
    users = list(
        db.session.scalars(
            select(User.id).where(User.email.like(f"{prefix}-%@example.com")).order_by(User.id)
        )
    )
    add_memberships(world.org_id, users)
    db.session.commit()
    return users


# --------------------------------------------------------------------------- browser state


class _SignedIn(UserMixin):
    def __init__(self, user_id: int) -> None:
        self.id = user_id


SESSION_VERSION_KEY = getattr(access, "SESSION_VERSION_KEY", "_sv")


def browser_state(app: Flask, user_id: int) -> tuple[str, str]:
    """The session cookie and a form's csrf_token of ``user_id`` just signed in from this client."""
    # A new app context too: Flask-WTF caches the token in ``g``, which lives on the app context.
    with (
        app.app_context(),
        app.test_request_context(
            "/learner/",
            headers={"User-Agent": USER_AGENT},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        ),
    ):
        login_user(_SignedIn(user_id))  # then what the sign-in callback adds (auth/views.py)
        session[SESSION_VERSION_KEY] = 0  # no benchmark user has signed out
        session["id_token"] = ID_TOKEN
        token = generate_csrf()
        cookie = app.session_interface.get_signing_serializer(app).dumps(dict(session))  # type: ignore[attr-defined]
    return cookie, token


def make_plan(app: Flask, world: World, page: str, size: int, tag: str) -> dict[str, Any]:
    """A locust plan (see scripts/locustfile.py) for one page of ``world``."""
    plan: dict[str, Any] = {"name": page, "method": "GET", "fresh": False, "expect": 200}
    items: list[dict[str, Any]] = []
    if page == "floor":
        plan["path"] = FLOOR_PATH
    elif page == "catalog":
        plan["path"] = CATALOG_PATH
    elif page == "dashboard":
        items = [
            {"path": "/learner/", "cookie": browser_state(app, uid)[0]} for uid in world.learner_ids
        ]
    elif page == "overview":
        items = [{"path": f"/org/{world.key}/", "cookie": browser_state(app, world.admin_id)[0]}]
    elif page == "redeem":
        plan.update(method="POST", fresh=True, expect=302, expect_location="/learner/")
        for uid, code in redeem_pool(world, size, tag):
            cookie, token = browser_state(app, uid)
            items.append(
                {
                    "path": "/learner/redeem",
                    "referer": "/learner/redeem",
                    "cookie": cookie,
                    "form": {"csrf_token": token, "code": code},
                    "user_id": uid,
                }
            )
    elif page == "enroll":
        plan.update(method="POST", fresh=True, expect=302, expect_location="/learner/")
        for uid in enroll_pool(world, size, tag):
            cookie, token = browser_state(app, uid)
            items.append(
                {
                    "path": f"/learner/runs/{world.run_id}/enroll",
                    "referer": "/learner/",
                    "cookie": cookie,
                    "form": {"csrf_token": token},
                    "user_id": uid,
                }
            )
    else:
        raise ValueError(page)
    plan["items"] = items
    return plan


def changes_made(world: World, plan: dict[str, Any]) -> int | None:
    """How many of the plan's users now hold what their POST was for (None for pages read).

    The users a run did not reach are deleted again (with the seats an enroll pool gave them), so
    the contract keeps its 50,000 learners plus those who really enrolled or redeemed."""
    if not plan["fresh"]:
        return None
    busy = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state <> 'idle' AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 15
    while db.session.scalar(busy) and time.monotonic() < deadline:
        db.session.commit()  # requests cut off at the end of the run may still be finishing
        time.sleep(0.2)
    ids = [item["user_id"] for item in plan["items"]]
    if plan["name"] == "redeem":
        done = select(CodeRedemption.user_id).where(
            CodeRedemption.contract_id == world.contract_id, CodeRedemption.user_id.in_(ids)
        )
    else:
        done = select(Enrollment.user_id).where(
            Enrollment.course_run_id == world.run_id,
            Enrollment.active.is_(True),
            Enrollment.user_id.in_(ids),
        )
    made = set(db.session.scalars(done))
    unused = [uid for uid in ids if uid not in made]
    for model in (Membership, Seat, User):
        column = model.id if model is User else model.user_id
        db.session.execute(delete(model).where(column.in_(unused)))
    db.session.commit()
    return len(made)


# --------------------------------------------------------------------------- SQL statements


def count_statements(app: Flask, worlds: list[World]) -> dict[str, list[int]]:
    """SQL statements of one request per page and world, after one warm-up request each."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    client = app.test_client(use_cookies=False)
    counts: dict[str, list[int]] = {page: [] for page in PAGES}
    for world in worlds:
        for page in PAGES:
            plan = make_plan(app, world, page, 2, f"q{world.key.lower()}{secrets.token_hex(3)}")
            items = plan["items"] or [{"path": plan["path"]}]
            for item in (items[0], items[-1]):  # a warm-up, then the measured request
                headers = {"User-Agent": USER_AGENT}
                if item.get("referer"):  # the test client speaks HTTPS (PREFERRED_URL_SCHEME)
                    headers["Referer"] = f"https://localhost{item['referer']}"
                if item.get("cookie"):
                    headers["Cookie"] = f"session={item['cookie']}"
                statements.clear()
                event.listen(db.engine, "before_cursor_execute", record)
                try:
                    with app.app_context():  # its own, as in a server: g and db.session are new
                        response = client.open(
                            item["path"],
                            method=plan["method"],
                            headers=headers,
                            data=item.get("form"),
                        )
                finally:
                    event.remove(db.engine, "before_cursor_execute", record)
                assert response.status_code == plan["expect"], (
                    page,
                    response.status_code,
                    response.get_data(as_text=True)[:500],
                )
            counts[page].append(len(statements))
            if plan["fresh"]:
                made = changes_made(world, plan)
                assert made == 2, (page, made, response.headers.get("Location"))
    return counts


# --------------------------------------------------------------------------- load


@contextmanager
def gunicorn(
    env: dict[str, str], port: int, workers: int, threads: int, log: Path
) -> Iterator[int]:
    command = [
        str(GUNICORN),
        "--chdir",
        str(ROOT),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
        "scripts.bench_wsgi:build_app()",
    ]
    process = subprocess.Popen(command, env={**os.environ, **env})  # noqa: S603 - our own command
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{FLOOR_PATH}", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"gunicorn did not start; see {log}")
                time.sleep(0.3)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def warm_up(port: int, plans: list[dict[str, Any]], per_page: int = 80) -> None:
    """Every worker process compiles the templates and statements of the pages read."""

    def get(item: dict[str, Any]) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{item['path']}")
        request.add_header("User-Agent", USER_AGENT)
        request.add_header("X-Forwarded-Proto", "https")
        if item.get("cookie"):
            request.add_header("Cookie", f"session={item['cookie']}")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            response.read()

    with ThreadPoolExecutor(8) as pool:
        for plan in plans:
            items = plan["items"] or [{"path": plan["path"]}]
            list(pool.map(get, [items[n % len(items)] for n in range(per_page)]))


@contextmanager
def session_waits(url: str) -> Iterator[Counter[str]]:
    """Every 50 ms, what the database's busy sessions are doing: ``Lock:transactionid`` (waiting
    for a row another request locked with ``SELECT ... FOR UPDATE``), ``IO:WALSync`` (a commit
    flushing the log), ``running`` (working). Yields the totals; ``["samples"]`` is their number."""
    import psycopg

    totals: Counter[str] = Counter()
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            while not stop.wait(0.05):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'running') FROM"
                    " pg_stat_activity WHERE datname = current_database() AND state = 'active'"
                    " AND pid <> pg_backend_pid()"
                ).fetchall()
                totals.update(row[0] for row in rows)
                totals["samples"] += 1

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield totals
    finally:
        stop.set()
        thread.join()


@dataclass
class CpuSample:
    app: float
    database: float
    client: float
    machine: float
    wall: float


def serves_us(process: psutil.Process, database: str) -> bool:
    """PostgreSQL's shared processes, and the backends of our database (not the test suite's)."""
    try:
        title = " ".join(process.cmdline())
    except psutil.Error:
        return False
    per_database = "(" in title or "[local]" in title or "autovacuum worker" in title
    return not per_database or f" {database} " in f"{title} "


def cpu_sample(gunicorn_pid: int, database: str) -> CpuSample:
    def seconds(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    master = psutil.Process(gunicorn_pid)
    app = seconds(master) + sum(seconds(p) for p in master.children(recursive=True))
    postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
    database_cpu = sum(seconds(p) for p in postgres if serves_us(p, database))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = psutil.cpu_times()
    busy = float(machine.user + machine.system + getattr(machine, "nice", 0.0))
    return CpuSample(
        app, database_cpu, children.ru_utime + children.ru_stime, busy, time.monotonic()
    )


def run_locust(
    plan_file: Path, users: int, duration: int, port: int, prefix: Path
) -> dict[str, dict[str, Any]]:
    """Locust's final statistics by request name (its ``--json-file``: the periodic CSV misses
    the last second of the run)."""
    command = [
        str(LOCUST),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{duration}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(prefix),
        "--json-file",
        str(prefix),
    ]
    result = subprocess.run(  # noqa: S603 - our own command
        command,
        env={**os.environ, "BENCH_PLAN": str(plan_file)},
        capture_output=True,
        text=True,
        timeout=duration + 120,
        check=False,
    )
    stats_file = Path(f"{prefix}.json")
    if not stats_file.exists():
        sys.exit(f"locust wrote no statistics:\n{result.stdout}\n{result.stderr}")
    return {entry["name"]: entry for entry in json.loads(stats_file.read_text())}


def percentile(times: dict[str, int], share: float) -> float:
    """Locust's percentile: its response times are kept rounded (1 ms under 100 ms, 10 ms to 1 s)."""
    total = sum(times.values())
    seen = 0
    for value, n in sorted((float(k), n) for k, n in times.items()):
        seen += n
        if seen >= share * total:
            return value
    return 0.0


@dataclass
class Result:
    users: int
    page: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    app_ms: float
    db_ms: float
    client_ms: float
    busy: float
    other: float
    lock_waits: float
    waits: dict[str, float] = field(default_factory=dict)
    made: int | None = None
    exhausted: bool = False
    ratio: float = 0.0
    attempts: int = 1


def measure(
    app: Flask,
    world: World,
    page: str,
    users: int,
    args: argparse.Namespace,
    gunicorn_pid: int,
    workdir: Path,
    tag: str,
) -> Result:
    size = max(200, args.pool_rate * args.duration) if page in FRESH else 0
    plan = make_plan(app, world, page, size, tag)
    plan_file = workdir / f"plan-{page}-{users}.json"
    plan_file.write_text(json.dumps(plan))
    db.session.remove()  # hold no connection or transaction while the load runs
    database = urlsplit(args.database_url).path.lstrip("/")
    before = cpu_sample(gunicorn_pid, database)
    with session_waits(args.database_url) as waits:
        stats = run_locust(plan_file, users, args.duration, args.port, workdir / f"{page}-{users}")
    after = cpu_sample(gunicorn_pid, database)
    entry = stats[page]
    done = int(entry["num_requests"])
    per = 1000 / max(1, done)
    capacity = (after.wall - before.wall) * (psutil.cpu_count() or 1)
    ours = (after.app - before.app) + (after.database - before.database)
    ours += after.client - before.client
    busy = 100 * (after.machine - before.machine) / capacity
    times = entry["response_times"]
    samples = max(1, waits["samples"])
    return Result(
        users=users,
        page=page,
        requests=done,
        failures=int(entry["num_failures"]),
        rps=done / max(1e-9, entry["last_request_timestamp"] - entry["start_time"]),
        p50=percentile(times, 0.50),
        p95=percentile(times, 0.95),
        p99=percentile(times, 0.99),
        app_ms=(after.app - before.app) * per,
        db_ms=(after.database - before.database) * per,
        client_ms=(after.client - before.client) * per,
        busy=busy,
        lock_waits=sum(n for k, n in waits.items() if k.startswith("Lock:")) / samples,
        waits={k: round(n / samples, 2) for k, n in waits.most_common() if k != "samples"},
        other=max(0.0, busy - 100 * ours / capacity),
        made=changes_made(world, plan),
        exhausted="plan exhausted" in stats,
    )


# --------------------------------------------------------------------------- report


def print_statements(counts: dict[str, list[int]], small: int, large: int) -> None:
    print(f"\nSQL statements per request (Flask test client, {small:,} vs {large:,} learners)")
    print(f"{'page':<12}{f'{small:,}':>10}{f'{large:,}':>10}  same")
    for page, (n_small, n_large) in counts.items():
        print(f"{page:<12}{n_small:>10}{n_large:>10}  {'yes' if n_small == n_large else 'NO'}")


def print_results(results: list[Result]) -> None:
    print(
        f"\n{'users':>5} {'page':<10}{'requests':>9}{'fail':>6}{'req/s':>8}{'p50':>6}{'p95':>6}"
        f"{'p99':>6}{'x floor':>8}{'app ms':>8}{'db ms':>7}{'loc ms':>7}{'cpu%':>5}{'oth%':>5}"
        f"{'lockw':>6}  checked"
    )
    for r in results:
        checked = "" if r.made is None else f"{r.made:,} made"
        ok = r.requests - r.failures
        if r.made is not None and not ok <= r.made <= ok + r.users:  # + those cut off at the end
            checked += f" (expected {ok:,} to {ok + r.users:,})"
        if r.exhausted:
            checked += " POOL EXHAUSTED"
        if r.attempts > 1:
            checked += f" (try {r.attempts})"
        busiest = ", ".join(f"{k} {n:.1f}" for k, n in list(r.waits.items())[:3])
        print(
            f"{r.users:>5} {r.page:<10}{r.requests:>9,}{r.failures:>6}{r.rps:>8.1f}{r.p50:>6.0f}"
            f"{r.p95:>6.0f}{r.p99:>6.0f}{r.ratio:>8.2f}{r.app_ms:>8.2f}{r.db_ms:>7.2f}"
            f"{r.client_ms:>7.2f}{r.busy:>5.0f}{r.other:>5.0f}{r.lock_waits:>6.1f}  {checked}"
        )
        if r.waits:
            print(f"{'':16}database sessions at work, on average: {busiest}")


LEGEND = """\
req/s over the run; p50/p95/p99 in ms as locust saw them; x floor: req/s over the floor's at
the same number of users; app/db/loc ms: CPU per request in gunicorn, PostgreSQL and locust;
cpu%: the whole machine busy during the run; oth%: of which processes other than these three
(a run is measured again, up to --attempts times, while it is above --max-other; the quietest
try is kept); lockw: database sessions waiting for a lock, on average (the line under a run:
what the busy sessions were doing); checked: the changes found in the database for POSTs."""


def print_targets(results: list[Result]) -> None:
    print("\nTargets: throughput >= 50% of the floor's; p95 < 100 ms at 8 users")
    for r in results:
        if r.page == "floor":
            continue
        share = "met" if r.ratio >= 0.5 else "MISSED"
        p95 = "" if r.users != 8 else f"; p95 {r.p95:.0f} ms {'met' if r.p95 < 100 else 'MISSED'}"
        print(f"  {r.users:>2} users {r.page:<10} {r.ratio:5.0%} of the floor {share}{p95}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1,8,32", help="comma-separated user counts")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated pages")
    parser.add_argument("--duration", type=int, default=20, help="seconds per locust run")
    parser.add_argument("--workers", type=int, default=5, help="gunicorn processes (2 x cores + 1)")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per process (1: the sync worker)"
    )
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument(
        "--org", default="BENCH", choices=["BENCH", "SMALL"], help="the organization to load"
    )
    parser.add_argument("--small", type=int, default=10, help="learners of the small organization")
    parser.add_argument("--catalog-runs", type=int, default=40)
    parser.add_argument(
        "--pool-rate", type=int, default=200, help="fresh codes/learners per second of a POST run"
    )
    parser.add_argument(
        "--max-other",
        type=float,
        default=10.0,
        help="measure again when other processes took more than this %% of the CPU",
    )
    parser.add_argument("--attempts", type=int, default=3, help="at most this many tries a run")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run")
    parser.add_argument("--recreate", action="store_true", help="drop and recreate the database")
    parser.add_argument("--skip-queries", action="store_true", help="no SQL statement counts")
    parser.add_argument("--skip-load", action="store_true", help="data and statement counts only")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    user_counts = [int(n) for n in args.users.split(",")]
    pages = [p for p in args.pages.split(",") if p]
    if unknown := set(pages) - set(PAGES):
        sys.exit(f"unknown pages: {', '.join(sorted(unknown))} (known: {', '.join(PAGES)})")
    if "floor" not in pages:
        pages.insert(0, "floor")

    url, redis_url = checked_urls()
    args.database_url = url
    prepare_database(url, args.recreate)
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = portal_environment(url, redis_url, args.port, workdir)
    os.environ.update(env)  # the app in this process is the one gunicorn serves

    from flask_migrate import upgrade
    from redis import Redis

    from scripts.bench_wsgi import build_app

    app = build_app()
    started = time.perf_counter()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        exists = db.session.scalar(select(Organization.id).where(Organization.key == "BENCH"))
        if exists and not args.reuse:
            sys.exit("Organization BENCH exists: pass --reuse, or --recreate for fresh data.")
        if not exists:
            seed(args.learners, args.small, args.catalog_runs)
            print(f"data: seeded in {time.perf_counter() - started:.1f} s")
        large, small = load_world("BENCH"), load_world("SMALL")
        seats = [
            db.session.scalar(select(func.count(Seat.id)).where(Seat.contract_id == w.contract_id))
            for w in (small, large)
        ]
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}; redis: {redis_url}")
        print(f"seats: SMALL {seats[0]:,}, BENCH {seats[1]:,}")
        Redis.from_url(redis_url).flushdb()  # our own database: queued jobs, limiter counters
        counts = None if args.skip_queries else count_statements(app, [small, large])
        if counts:
            print_statements(counts, seats[0] or 0, seats[1] or 0)
        db.session.execute(text("CHECKPOINT"))
        db.session.commit()
        if args.skip_load:
            return

        cores = psutil.cpu_count()
        print(
            f"\ngunicorn: {args.workers} processes x {args.threads} threads; locust: FastHttpUser, "
            f"no wait; {args.duration} s per run; organization {args.org}; {cores} CPUs; "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
        )
        results: list[Result] = []
        tag = secrets.token_hex(3)
        with gunicorn(env, args.port, args.workers, args.threads, workdir / "gunicorn.log") as pid:
            world = large if args.org == "BENCH" else small
            reads = [make_plan(app, world, p, 0, tag) for p in pages if p not in FRESH]
            warm_up(args.port, reads)
            for users in user_counts:
                floor = 0.0
                for page in pages:
                    result = None
                    for attempt in range(1, args.attempts + 1):
                        run_tag = f"{tag}u{users}a{attempt}"
                        tried = measure(app, world, page, users, args, pid, workdir, run_tag)
                        tried.attempts = attempt
                        if result is None or tried.other < result.other:
                            result = tried
                        if tried.other <= args.max_other:
                            break
                        print(
                            f"  ({page}, {users} users: other processes took {tried.other:.0f}%"
                            " of the CPU; measuring again)"
                        )
                    assert result is not None
                    floor = result.rps if page == "floor" else floor
                    result.ratio = result.rps / floor if floor else 0.0
                    results.append(result)
                    print_results(results[-1:])
                    sys.stdout.flush()
                    if args.json:  # after every run: a run cut short keeps what it measured
                        figures = {"statements": counts, "results": [r.__dict__ for r in results]}
                        args.json.write_text(json.dumps(figures, indent=2))
        print_results(results)
        print(LEGEND)
        print_targets(results)
        print(
            f"\nlocust CSVs and gunicorn log: {workdir}; whole run {time.perf_counter() - started:.0f} s"
        )


if __name__ == "__main__":
    main()
