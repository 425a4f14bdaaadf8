"""A code generation of several chunks, run by a real RQ worker, polled over HTTP while it runs: the
progress the staff's poller reads rises chunk by chunk, not only the final state (issue 17, item 6).

With ``REDIS_URL`` (CI) the worker is a separate ``flask --app portal worker --burst`` process
against Redis and the database under test; without, an in-process RQ worker over fakeredis in a
thread (the pattern of ``tests.conftest.JobRunner``). Either way the portal answers on a live
server while the job runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask

from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.models import MembershipType, RedemptionType
from portal.services import codes as code_service
from portal.services.jobs import start_job
from tests.conftest import ROOT, JobRunner
from tests.support.factories import ContractFactory, OrganizationFactory, UserFactory
from tests.support.live_server import live_server
from tests.support.sessions import signed_session

CHUNK = 500  # codes per chunk in the worker (the job's own is 5,000)
CODES = 12 * CHUNK
# Each report written at once (the portal's throttle is half a second, longer than this whole job
# on a fast machine), and each chunk made to take a little time, so the poller, reading every 50
# ms, finds the job between chunks whatever the machine's speed.
THROTTLE = 0.0
CHUNK_PAUSE = 0.08

# The worker process, with the smaller chunk: ``flask --app portal worker --burst`` otherwise.
WORKER = (
    "import sys, time, portal.tasks.codes as codes, portal.jobs.registry as registry; "
    "codes.CHUNK = int(sys.argv[1]); registry.PROGRESS_EVERY = float(sys.argv[2]); "
    "insert = codes.code_service.insert_codes; pause = float(sys.argv[3]); "
    "codes.code_service.insert_codes = lambda *a, **k: (time.sleep(pause), insert(*a, **k))[1]; "
    "from flask.cli import main; sys.argv = ['flask', '--app', 'portal', 'worker', '--burst']; "
    "main()"
)


def _slow_insert(*args: Any, **kwargs: Any) -> Any:
    time.sleep(CHUNK_PAUSE)
    return _INSERT(*args, **kwargs)


_INSERT = code_service.insert_codes


def _worker_env(runner: JobRunner) -> dict[str, str]:
    from portal.config import _ENV_NAMES

    settings = runner.app.config["PORTAL"]
    return {
        **os.environ,
        **{var: str(getattr(settings, attr)) for attr, var in _ENV_NAMES.items()},
        "PORTAL_MODE": "test",
        "DATABASE_URL": runner.database_url,
        "PORTAL_INSTANCE_PATH": runner.app.instance_path,
    }


def _poll(url: str, cookie: str, until: float) -> list[dict[str, Any]]:
    """Every status the poller reads until the job is final."""
    seen: list[dict[str, Any]] = []
    with requests.Session() as http:
        http.cookies.set("session", cookie)
        while time.monotonic() < until:
            response = http.get(url, headers={"Accept": "application/json"}, timeout=10)
            assert response.status_code == 200, response.text[:500]
            body = response.json()
            seen.append(body)
            if body["final"]:
                return seen
            time.sleep(0.05)
    raise AssertionError(f"the job did not finish; last seen {seen[-1:]}")


def _run_while_polling(
    runner: JobRunner, status: str, cookie: str, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    """Run the queued jobs with a real worker while polling ``status``; what the poll saw."""
    until = time.monotonic() + 120
    if runner.fake is None:  # a worker process; this thread polls
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(CHUNK), str(THROTTLE), str(CHUNK_PAUSE)],
            cwd=ROOT,
            env=_worker_env(runner),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            seen = _poll(status, cookie, until)
        finally:
            out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"worker failed:\n{out}"
        return seen
    # In-process: RQ's worker wants the main thread (signals), so the poll runs beside it.
    monkeypatch.setattr("portal.tasks.codes.CHUNK", CHUNK)
    monkeypatch.setattr("portal.jobs.registry.PROGRESS_EVERY", THROTTLE)
    monkeypatch.setattr(code_service, "insert_codes", _slow_insert)
    result: dict[str, Any] = {}

    def poll() -> None:
        try:
            result["seen"] = _poll(status, cookie, until)
        except BaseException as exc:  # reported below, in the test's thread
            result["error"] = exc

    poller = threading.Thread(target=poll, name="test-poller")
    poller.start()
    runner.run()
    poller.join(timeout=120)
    if "error" in result:
        raise result["error"]
    return list(result["seen"])


def test_code_generation_progress_rises_while_a_real_worker_runs_it(
    rq_app_factory: Callable[..., Flask],
    job_runner_for: Callable[[Flask], JobRunner],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = rq_app_factory()
    with app.app_context():
        staff = UserFactory(staff=True)
        org = OrganizationFactory(name="Initech", key="INITECH")
        contract = ContractFactory(
            organization=org, name="Many codes", membership_type=MembershipType.AUTO
        )
        db.session.flush()
        payload = code_service.batch_payload(
            contract, CODES, RedemptionType.ONE_TIME, None, None, None
        )
        job = start_job(JobKind.CODES_GENERATE, payload, about=("contract", contract.id))
        db.session.commit()  # handed to RQ: nothing runs it until the worker starts
        job_id, cookie = job.id, signed_session(app, staff.id)
        db.session.remove()

    with live_server(app) as url:
        status = f"{url}/staff/jobs/{job_id}.json"
        before = requests.get(status, cookies={"session": cookie}, timeout=10).json()
        assert before["state"] == "queued" and before["progress"] is None
        seen = _run_while_polling(job_runner_for(app), status, cookie, monkeypatch)

    running = [s["progress"]["done"] for s in seen if s["state"] == "running" and s["progress"]]
    # Read while the job ran: at least two different counts below the total, never going back.
    below = sorted({done for done in running if done < CODES})
    assert len(below) >= 2, f"progress seen while running: {running}"
    assert running == sorted(running)
    assert all(done % CHUNK == 0 for done in running)  # committed chunks only
    last = seen[-1]
    assert last["state"] == "succeeded" and last["words"].startswith("Succeeded")
    assert (last["progress"]["done"], last["progress"]["total"]) == (CODES, CODES)
    assert last["progress"]["label"] == f"{CODES:,} of {CODES:,} codes"
    labels = [s["progress"]["label"] for s in seen if s["state"] == "running" and s["progress"]]
    assert any(" of 6,000 codes" in label for label in labels)
