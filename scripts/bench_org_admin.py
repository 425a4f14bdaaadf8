"""Benchmark: the org admin's pages with 50,000 learners in one contract (not a test; prints figures).

    .venv/bin/python scripts/bench_org_admin.py          # SQLite in a temporary folder
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_org .venv/bin/python scripts/bench_org_admin.py

With a PostgreSQL URL the database is created if it does not exist and migrated (``upgrade head``);
use a database meant for benchmarks: the script adds an organization ``BENCH`` (or reuses it with
``--reuse``) with a 50,000-seat code contract, 50,000 learners each enrolled in its course run,
50,000 seat codes of which half are used, and an org admin. It then requests each page through the
app (the full request: routing, the queries, the template) ``--repeat`` times and prints the median
and 95th percentile time and the SQL statements per request, and times the full learners CSV.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    from portal.config import normalize_database_url

    plain = normalize_database_url(url).replace("postgresql+psycopg://", "postgresql://")
    base, name = plain.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="reuse BENCH data from an earlier run")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import event, func, select, update

    from portal import create_app
    from portal.demo import add_bulk_learners
    from portal.extensions import db
    from portal.models import (
        CodeRedemption,
        Contract,
        Course,
        CourseRun,
        EdxRunState,
        EnrollmentCode,
        Membership,
        MembershipSource,
        MembershipType,
        Organization,
        Seat,
        User,
    )
    from portal.services import seat_codes as code_service

    instance = Path(tempfile.mkdtemp(prefix="bench-org-admin-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'bench.sqlite'}"
    if url.startswith(("postgres://", "postgresql")):
        _ensure_postgres_database(url)
    app = create_app(
        {
            "PORTAL_MODE": "test",
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench",
            "DATABASE_URL": url,
            "JOB_RUNNER": "inline",
            "WTF_CSRF_ENABLED": False,
        }
    )
    n = args.learners
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        org = db.session.scalar(select(Organization).where(Organization.key == "BENCH"))
        if org is not None and not args.reuse:
            sys.exit("Organization BENCH exists: pass --reuse, or use a fresh database.")
        if org is None:
            started = time.perf_counter()
            org = Organization(name="Bench Corp", key="BENCH")
            db.session.add(org)
            db.session.flush()
            contract = Contract(
                organization_id=org.id,
                name="Bench seats",
                slug="bench-seats",
                membership_type=MembershipType.CODE,
                seat_limit=n,
            )
            course = db.session.scalar(select(Course).where(Course.key == "BENCH+B101")) or Course(
                key="BENCH+B101", number="B101", title="Benchmarking 101"
            )
            db.session.add_all([contract, course])
            db.session.flush()
            run = CourseRun(
                course_id=course.id,
                course_key="course-v1:BENCH+B101+1T1C2026",
                title="Benchmarking 101",
                contract_id=contract.id,
                run_number=1,
                edx_state=EdxRunState.READY,
            )
            admin = User(email="bench-admin@bench.example", name="Bench Admin")
            db.session.add_all([run, admin])
            db.session.flush()
            db.session.add(
                Membership(
                    user_id=admin.id,
                    organization_id=org.id,
                    source=MembershipSource.STAFF,
                    is_manager=True,
                )
            )
            db.session.commit()
            add_bulk_learners(contract, run, n, prefix="bench")
            code_service.adjust_seat_codes(contract)
            db.session.commit()
            users = list(
                db.session.scalars(
                    select(Seat.user_id).where(Seat.contract_id == contract.id).limit(n // 2)
                )
            )
            codes = list(
                db.session.scalars(
                    select(EnrollmentCode.id)
                    .where(EnrollmentCode.contract_id == contract.id)
                    .limit(n // 2)
                )
            )
            db.session.execute(
                update(EnrollmentCode)
                .where(EnrollmentCode.id.in_(codes))
                .values(times_redeemed=1)
                .execution_options(synchronize_session=False)
            )
            db.session.execute(
                CodeRedemption.__table__.insert(),
                [
                    {"code_id": c, "user_id": u, "contract_id": contract.id}
                    for c, u in zip(codes, users, strict=False)
                ],
            )
            db.session.commit()
            if db.engine.dialect.name == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("ANALYZE")
            print(
                f"data: {n:,} learners, seats, enrollments and codes in {time.perf_counter() - started:.1f} s"
            )
        contract = db.session.scalar(select(Contract).where(Contract.organization_id == org.id))
        admin = db.session.scalar(select(User).where(User.email == "bench-admin@bench.example"))
        seats = db.session.scalar(
            select(func.count(Seat.id)).where(Seat.contract_id == contract.id)
        )
        admin_id, contract_id = admin.id, contract.id
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        print(f"seats in the contract: {seats:,}")
        engine = db.engine

    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(admin_id)
        session["_fresh"] = True
    pages = {
        "overview": "/org/BENCH/",
        "learners p1": "/org/BENCH/learners",
        "learners p500": "/org/BENCH/learners?page=500",
        "learners search": "/org/BENCH/learners?q=bench-4242",
        "learners contract": f"/org/BENCH/learners?contract={contract_id}",
        "codes": f"/org/BENCH/contracts/{contract_id}/codes",
        "codes used": f"/org/BENCH/contracts/{contract_id}/codes?status=used",
    }
    print(f"\n{'page':<20}{'median ms':>10}{'p95 ms':>10}{'queries':>9}")
    for name, path in pages.items():
        assert client.get(path).status_code == 200, path  # warm-up
        times = []
        for _ in range(args.repeat):
            statements.clear()
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, path
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(f"{name:<20}{statistics.median(times):>10.1f}{p95:>10.1f}{len(statements):>9}")

    started = time.perf_counter()
    response = client.get("/org/BENCH/learners.csv")
    size = sum(len(chunk) for chunk in response.response)  # type: ignore[union-attr]
    elapsed = time.perf_counter() - started
    print(f"\nlearners CSV: {size / 1e6:.1f} MB for {seats:,} rows in {elapsed:.2f} s")
    started = time.perf_counter()
    response = client.get(f"/org/BENCH/contracts/{contract_id}/codes.csv")
    size = sum(len(chunk) for chunk in response.response)  # type: ignore[union-attr]
    print(f"codes CSV: {size / 1e6:.1f} MB in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
