"""Learning outcomes for the demo: learners enrolled in edX with grades, progress and certificates
set through the Open edX emulator's test controls, then read back by the real outcome sync.

Demo tooling only: the learners' edX accounts and enrollments are made with the portal's own edX
client, the outcomes with the emulator's ``/__emulator__/grades|progress|certificates`` controls
(real edX has no such thing), and the portal learns them the way it always does, through the sync
job the worker runs.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.integrations.openedx import edx_client
from portal.jobs import JobKind, record_job
from portal.models import (
    Contract,
    CourseRun,
    EdxRunState,
    EdxSyncState,
    Enrollment,
    Seat,
    User,
)

# (percent, passed, letter grade, progress, certificate) for the n-th demo learner, in turn.
OUTCOMES: list[tuple[float, bool, str | None, float, bool]] = [
    (0.92, True, "A", 1.0, True),
    (0.78, True, "B", 0.95, True),
    (0.55, False, None, 0.6, False),
    (0.31, False, None, 0.35, False),
    (0.0, False, None, 0.0, False),
    (0.84, True, "B", 1.0, False),  # passed; the certificate is not issued yet
    (0.12, False, None, 0.2, False),
]
LEARNERS = {"acme-leadership": 14, "acme-data-academy": 1}


def _ready_runs(contract: Contract, wait: float) -> list[CourseRun]:
    """The contract's runs once edX has them all (their creation jobs run in the worker)."""
    deadline = time.monotonic() + wait
    while True:
        db.session.expire_all()
        runs = list(
            db.session.scalars(
                select(CourseRun)
                .where(CourseRun.contract_id == contract.id)
                .order_by(CourseRun.course_key)
            )
        )
        if runs and all(r.edx_state is EdxRunState.READY for r in runs):
            return runs
        if time.monotonic() >= deadline:
            return []
        time.sleep(1.0)


def _control(path: str, body: dict[str, Any]) -> None:
    base = current_app.config["PORTAL"].openedx_lms_url.rstrip("/")
    response = requests.post(f"{base}/__emulator__/{path}", json=body, timeout=10)
    response.raise_for_status()


def _learners(contract: Contract, count: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(Seat, Seat.user_id == User.id)
            .where(Seat.contract_id == contract.id, Seat.revoked_at.is_(None))
            .order_by(User.email)
            .limit(count)
        )
    )


def _enroll(user: User, run: CourseRun, contract: Contract) -> None:
    """The learner's edX account and enrollment, and the portal's record of it."""
    client = edx_client()
    if not user.edx_username:
        user.edx_username = client.register_user(user.email, user.display_name)
    client.enroll(user.edx_username, run.course_key)
    exists = db.session.scalar(
        select(Enrollment.id).where(
            Enrollment.user_id == user.id, Enrollment.course_run_id == run.id
        )
    )
    if exists is None:
        db.session.add(
            Enrollment(
                user_id=user.id,
                course_run_id=run.id,
                contract_id=contract.id,
                active=True,
                edx_state=EdxSyncState.SYNCED,
            )
        )
    db.session.flush()


def _set_outcome(username: str, key: str, n: int) -> None:
    percent, passed, letter, progress, certified = OUTCOMES[n % len(OUTCOMES)]
    grade = {"username": username, "course_id": key, "percent": percent, "passed": passed}
    _control("grades", {**grade, "letter_grade": letter})
    _control("progress", {"username": username, "course_id": key, "percent": progress})
    if certified:
        _control(
            "certificates",
            {
                "username": username,
                "course_id": key,
                "status": "downloadable",
                "grade": str(percent),
                "certificate_type": "verified",
            },
        )


def seed_demo_outcomes(wait: float = 120.0) -> int:
    """Give the demo learners outcomes in edX and queue their runs' sync; returns how many
    learners got one (0 when the contract runs did not reach edX within ``wait`` seconds)."""
    done = 0
    synced: list[int] = []
    for slug, count in LEARNERS.items():
        contract = db.session.scalar(select(Contract).where(Contract.slug == slug))
        runs = _ready_runs(contract, wait) if contract is not None else []
        if contract is None or not runs:
            continue
        learners = _learners(contract, count)
        if slug == "acme-data-academy":
            ada = db.session.scalar(select(User).where(User.email == "learner@acme.example"))
            learners = [ada] if ada is not None else []
        for n, user in enumerate(learners):
            _enroll(user, runs[0], contract)
            assert user.edx_username
            _set_outcome(user.edx_username, runs[0].course_key, n)
            done += 1
        synced.append(runs[0].id)
    for run_id in synced:
        record_job(JobKind.OPENEDX_SYNC_OUTCOMES, {"course_run_id": run_id, "full": True})
    db.session.commit()
    return done
