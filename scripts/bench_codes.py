"""Benchmark: generate and export 100,000 enrollment codes (not a test; prints figures).

    .venv/bin/python scripts/bench_codes.py                 # SQLite in a temporary folder
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python scripts/bench_codes.py

It migrates the database (``upgrade head``; use a database meant for tests), creates an organization
and a contract, then times:

1. ``services.codes.generate_batch``: 100,000 codes in one transaction (bulk insert);
2. the CSV export of those codes (``services.code_export.iter_export_rows`` through ``csv.writer``) to
   /dev/null, once plain for the time and once under tracemalloc for the peak Python memory;
3. the ``codes.generate`` job: another 100,000 codes in committed chunks with progress steps.

Everything it created is deleted at the end unless ``--keep`` is given (audit events stay: the
table is append-only).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the codes afterwards")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import delete, func, select

    import portal.tasks.codes  # noqa: F401 - registers codes.generate
    from portal import create_app
    from portal.extensions import db
    from portal.jobs import record_job
    from portal.models import (
        BackgroundJob,
        Contract,
        EnrollmentCode,
        MembershipType,
        Organization,
        RedemptionType,
    )
    from portal.services import code_export
    from portal.services import codes as code_service
    from portal.services import contracts as contract_service

    instance = Path(tempfile.mkdtemp(prefix="bench-codes-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'bench.sqlite'}"
    app = create_app(
        {
            "PORTAL_MODE": "test",
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench-secret-key",
            "DATABASE_URL": url,
            "JOB_RUNNER": "inline",
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        tag = uuid.uuid4().hex[:8].upper()
        org = Organization(name=f"Bench {tag}", key=f"BENCH{tag}")
        db.session.add(org)
        db.session.flush()
        contract = contract_service.create_contract(
            org,
            {
                "name": "Bench codes",
                "slug": "bench-codes",
                "membership_type": MembershipType.AUTO,
                "unlimited_seats": True,
            },
        )
        db.session.commit()
        contract_id = contract.id
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        print(f"codes per run: {args.count:,}")

        started = time.perf_counter()
        code_service.generate_batch(contract, args.count, RedemptionType.ONE_TIME)
        db.session.commit()
        print(f"generate (service, one transaction): {time.perf_counter() - started:6.2f} s")

        contract = db.session.get(Contract, contract_id)
        assert contract is not None
        total = db.session.scalar(
            select(func.count(EnrollmentCode.id)).where(EnrollmentCode.contract_id == contract_id)
        )

        def export() -> int:
            rows = 0
            with open(os.devnull, "w", newline="") as sink:
                writer = csv.writer(sink)
                for row in code_export.iter_export_rows(contract, "https://portal.example"):
                    writer.writerow(row)
                    rows += 1
            db.session.commit()
            return rows

        started = time.perf_counter()
        rows = export()
        print(f"export {rows - 1:,} codes to /dev/null: {time.perf_counter() - started:6.2f} s")
        tracemalloc.start()
        export()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"export peak Python memory (tracemalloc): {peak / 1024 / 1024:6.1f} MB")
        payload = code_service.batch_payload(
            contract, args.count, RedemptionType.ONE_TIME, None, None, None
        )
        started = time.perf_counter()
        job = record_job("codes.generate", payload, object_type="contract", object_id=contract_id)
        db.session.commit()  # the inline runner runs the job now, committing each chunk
        elapsed = time.perf_counter() - started
        state = db.session.get(BackgroundJob, job.id)
        print(
            f"generate (codes.generate job, chunks of 5,000): {elapsed:6.2f} s "
            f"(job {state.state.value if state else '?'})"
        )

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
        print(
            f"process peak RSS (whole run): {maxrss / divisor:6.1f} MB (codes exported: {total:,})"
        )

        if not args.keep:
            db.session.execute(
                delete(EnrollmentCode).where(EnrollmentCode.contract_id == contract_id)
            )
            db.session.execute(delete(Contract).where(Contract.id == contract_id))
            db.session.execute(delete(Organization).where(Organization.id == org.id))
            db.session.commit()


if __name__ == "__main__":
    main()
