"""Benchmark: the outcome sync of one contract run with 50,000 learners (not a test; prints figures).

    .venv/bin/python scripts/bench_outcomes.py                       # SQLite in a temporary folder
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_outcomes .venv/bin/python scripts/bench_outcomes.py

It starts the Open edX emulator as its own process (state in memory) on a free port, gives it one
run with ``--learners`` enrolled learners (a third passed with a certificate, a third half-way, a
third not started) and the portal the same learners enrolled in the same contract run, then runs
the ``openedx.sync_outcomes`` job in this process twice: the first sync (every grade, progress and
certificate is new) and a rerun (nothing changed). It prints the wall time, the rows written, the
peak of Python allocations during the sync (tracemalloc) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KEY = "course-v1:BENCH+OUT.101x+1T2026"
SOURCE = "course-v1:B2B_SOURCE+DS.101x+SOURCE"
CHUNK = 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "flask", "--app", "emulators.openedx", "run", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "OPENEDX_EMULATOR_DB": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{url}/__emulator__/state", timeout=1)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the Open edX emulator did not start")


def _post(url: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    r = requests.post(f"{url}{path}", json=body, headers=headers or {}, timeout=300)
    if r.status_code not in (200, 201):
        raise SystemExit(f"{path}: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


def _seed_edx(url: str, learners: int) -> None:
    token = requests.post(
        f"{url}/oauth2/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": "b2b-portal",
            "client_secret": "demo-edx-secret",
            "token_type": "jwt",
        },
        timeout=10,
    ).json()["access_token"]
    _post(
        url,
        "/api/v1/course_runs/clone/",
        {"source_course_id": SOURCE, "destination_course_id": KEY},
        {"Authorization": f"JWT {token}"},
    )
    _post(
        url,
        "/__emulator__/bulk_learners",
        {"prefix": "bench_", "count": learners, "course_id": KEY},
    )
    for start in range(0, learners, CHUNK):
        names = [f"bench_{n}" for n in range(start, min(learners, start + CHUNK))]
        grades, progress, certificates = [], [], []
        for name in names:
            kind = int(name.rsplit("_", 1)[1]) % 3
            grades.append(
                {
                    "username": name,
                    "course_id": KEY,
                    "percent": (0.88, 0.45, 0.0)[kind],
                    "letter_grade": "Pass" if kind == 0 else None,
                    "passed": kind == 0,
                }
            )
            progress.append({"username": name, "course_id": KEY, "percent": (1.0, 0.5, 0.0)[kind]})
            if kind == 0:
                certificates.append({"username": name, "course_id": KEY, "grade": "0.88"})
        _post(url, "/__emulator__/grades", grades)
        _post(url, "/__emulator__/progress", progress)
        _post(url, "/__emulator__/certificates", certificates)


def _seed_portal(learners: int) -> int:
    from portal.demo import add_bulk_learners
    from portal.extensions import db
    from portal.models import Contract, Course, CourseRun, EdxRunState, MembershipType, Organization

    org = Organization(name="Bench Outcomes", key="BENCHOUT")
    db.session.add(org)
    db.session.flush()
    contract = Contract(
        organization_id=org.id,
        name="Outcomes",
        slug="outcomes",
        membership_type=MembershipType.CODE,
        seat_limit=learners,
    )
    course = Course(key="BENCH+OUT.101x", number="OUT.101x", title="Outcomes")
    db.session.add_all([contract, course])
    db.session.flush()
    run = CourseRun(
        course_id=course.id,
        course_key=KEY,
        title="Outcomes",
        contract_id=contract.id,
        run_number=1,
        edx_state=EdxRunState.READY,
    )
    db.session.add(run)
    db.session.commit()
    add_bulk_learners(contract, run, learners, prefix="bench")
    return run.id


def _sync(run_id: int, label: str) -> None:
    from portal.extensions import db
    from portal.jobs import JobKind
    from portal.jobs.runner import execute
    from portal.models import BackgroundJob, OutcomeSync

    # Recorded as a bare row (not ``record_job``, which would run it inline at the commit), then
    # run here, as a worker runs it.
    job = BackgroundJob(
        kind=str(JobKind.OPENEDX_SYNC_OUTCOMES), payload={"course_run_id": run_id}, max_attempts=1
    )
    db.session.add(job)
    db.session.commit()
    tracemalloc.start()
    started = time.perf_counter()
    state = execute(job.id)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    db.session.expire_all()
    row = db.session.get(OutcomeSync, run_id)
    done = db.session.get(BackgroundJob, job.id)
    assert row is not None and done is not None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label}: {state} in {elapsed:.1f} s; counts {row.counts}; totals {row.totals}; "
        f"peak Python allocations {peak / 1e6:.1f} MB; process peak RSS {rss:.0f} MB"
    )
    if state != "succeeded":
        print(f"  error: {done.last_error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=50_000)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from portal import create_app

    tmp = tempfile.mkdtemp(prefix="bench-outcomes-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    proc, edx = _start_emulator()
    try:
        started = time.perf_counter()
        _seed_edx(edx, args.learners)
        print(
            f"edX emulator seeded with {args.learners:,} learners in {time.perf_counter() - started:.1f} s"
        )
        app = create_app(
            {
                "DATABASE_URL": url,
                "OPENEDX_LMS_URL": edx,
                "OPENEDX_STUDIO_URL": edx,
                "JOB_RUNNER": "inline",
                "PORTAL_MODE": "test",
                "INSTANCE_PATH": tmp,
                "SECRET_KEY": "bench",
            }
        )
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            run_id = _seed_portal(args.learners)
            print(f"portal seeded ({url.split('@')[-1]})")
            _sync(run_id, "first sync")
            _sync(run_id, "rerun     ")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
