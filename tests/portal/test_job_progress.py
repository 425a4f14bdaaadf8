"""Progress of long jobs (issue 17, item 6): a handler's reports are throttled, each written on its
own connection (visible while the work runs, kept when a later chunk fails), reset by a retry, and
shown in words ("1,200 of 5,000 codes · about 20 s left") by the pages and the JSON poller."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.extensions import db as _db
from portal.jobs import (
    JobContext,
    PermanentJobError,
    TransientJobError,
    job_handler,
    record_job,
    registry,
)
from portal.jobs.queue import retry_now
from portal.models import AuditEvent, BackgroundJob, JobState, utcnow
from portal.services.audit import record_event
from portal.services.job_listing import present_job, progress_of, time_left
from tests.support.factories import BackgroundJobFactory

# What the chunked handler saw, from another connection, as it ran: (attempt, progress_done).
SEEN: list[tuple[int, int | None]] = []


def _stored_progress(job_id: int) -> int | None:
    """The job's progress as another connection reads it (not the handler's session)."""
    with _db.engine.connect() as conn:
        value = conn.execute(
            select(BackgroundJob.progress_done).where(BackgroundJob.id == job_id)
        ).scalar_one()
    return int(value) if value is not None else None


@job_handler("test.progress_chunks")
def chunks(ctx: JobContext) -> None:
    """``chunks`` chunks of work (an audit event each), committed and reported one by one; fails
    after ``fail_after`` of them on the attempts listed in ``fail_on`` (transiently if asked)."""
    payload = ctx.job.payload
    total, attempt = ctx.arg("chunks"), ctx.job.attempts
    SEEN.append((attempt, _stored_progress(ctx.job.id)))
    for n in range(1, total + 1):
        record_event("test.chunk", "background_job", ctx.job.id, after={"n": n}, actor_kind="job")
        _db.session.commit()
        ctx.progress(n, total, "chunks")
        SEEN.append((attempt, _stored_progress(ctx.job.id)))
        if n == payload.get("fail_after") and attempt in payload.get("fail_on", [1]):
            if payload.get("transient"):
                raise TransientJobError("the service is down", retry_after=0)
            raise PermanentJobError("the service said no")


def _chunks_done(db: Any, job_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "test.chunk", AuditEvent.object_id == str(job_id)
            )
        )
        or 0
    )


@pytest.fixture(autouse=True)
def _forget_seen() -> None:
    SEEN.clear()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reports_are_throttled_but_the_first_and_the_last_always_go(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(registry.time, "monotonic", clock)
    job = BackgroundJobFactory(state=JobState.RUNNING, attempts=1)
    db.session.commit()
    ctx = JobContext(job)
    ctx.progress(1, 10, "codes")
    assert _stored_progress(job.id) == 1
    clock.now += 0.1
    ctx.progress(2, 10, "codes")
    clock.now += 0.1
    ctx.progress(3, 10, "codes")
    assert _stored_progress(job.id) == 1  # held back: not one UPDATE per report
    clock.now += registry.PROGRESS_EVERY
    ctx.progress(4, 10, "codes")
    assert _stored_progress(job.id) == 4
    ctx.progress(10, 10, "codes")  # the total, right away: always written
    assert _stored_progress(job.id) == 10
    db.session.expire_all()
    stored = db.session.get(BackgroundJob, job.id)
    assert (stored.progress_total, stored.progress_unit) == (10, "codes")
    assert stored.progress_at is not None


def test_a_report_never_writes_over_another_attempt(db: Any) -> None:
    """The sweeper may hand a stalled job to another worker: the old attempt's reports stop."""
    job = BackgroundJobFactory(state=JobState.RUNNING, attempts=1)
    db.session.commit()
    ctx = JobContext(job)
    job.attempts = 2  # a second attempt claimed the row meanwhile
    db.session.commit()
    ctx.job = BackgroundJobFactory.build(id=job.id, attempts=1)  # the old attempt's view
    ctx.progress(5, 10)
    assert _stored_progress(job.id) is None


def test_progress_is_visible_while_the_job_runs_and_kept_when_it_fails(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each report is committed on its own: another connection sees it while the job runs, and a
    job that fails after three chunks still shows three done (the throttle held the last two
    back: they are written with the failure)."""
    monkeypatch.setattr(registry.time, "monotonic", Clock())  # time stands still: all held back
    job = record_job("test.progress_chunks", {"chunks": 5, "fail_after": 3})
    db.session.commit()  # runs it in-process
    db.session.expire_all()
    stored = db.session.get(BackgroundJob, job.id)
    assert stored.state is JobState.FAILED
    assert SEEN[:2] == [(1, None), (1, 1)]  # the first report was readable at once
    assert (stored.progress_done, stored.progress_total, stored.progress_unit) == (3, 5, "chunks")
    assert _chunks_done(db, job.id) == 3
    assert progress_of(stored).label == "3 of 5 chunks"  # type: ignore[union-attr]


def test_a_retry_starts_the_progress_again(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "PROGRESS_EVERY", 0)  # every report written at once
    job = record_job(
        "test.progress_chunks", {"chunks": 4, "fail_after": 2, "transient": True, "fail_on": [1]}
    )
    db.session.commit()  # attempt 1 fails after 2 chunks; attempt 2 runs at once (no backoff)
    db.session.expire_all()
    stored = db.session.get(BackgroundJob, job.id)
    assert stored.state is JobState.SUCCEEDED and stored.attempts == 2
    # Attempt 2 found the bar empty, not at attempt 1's two chunks.
    assert (2, None) in SEEN and SEEN[SEEN.index((2, None)) - 1] == (1, 2)
    assert (stored.progress_done, stored.progress_total) == (4, 4)


def test_staff_retry_clears_the_progress_of_the_failed_attempt(db: Any) -> None:
    job = BackgroundJobFactory(
        state=JobState.FAILED, attempts=5, progress_done=3, progress_total=5, progress_unit="codes"
    )
    db.session.commit()
    retry_now(job)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(BackgroundJob, job.id)
    assert stored.progress_done is None and stored.progress_total is None
    assert progress_of(stored) is None


# ----------------------------------------------------------------------------- in words


def _running(done: int | None, total: int | None, seconds: float, **kw: Any) -> BackgroundJob:
    started = utcnow() - dt.timedelta(seconds=seconds)
    return BackgroundJob(
        id=7,
        kind="codes.generate",
        state=kw.pop("state", JobState.RUNNING),
        attempts=1,
        max_attempts=5,
        started_at=started,
        progress_done=done,
        progress_total=total,
        progress_unit="codes",
        progress_at=started + dt.timedelta(seconds=seconds),
        run_after=started,
        **kw,
    )


def test_progress_in_words_with_the_time_left() -> None:
    # 1,200 codes in 5 s: 3,800 more take about 16 s, said to the nearest 5 s.
    assert progress_of(_running(1200, 5000, 5)).label == (  # type: ignore[union-attr]
        "1,200 of 5,000 codes · about 15 s left"
    )
    assert progress_of(_running(1200, None, 5)).label == "1,200 codes so far"  # type: ignore[union-attr]
    assert progress_of(_running(None, None, 5)) is None
    done = _running(5000, 5000, 30, state=JobState.SUCCEEDED)
    assert progress_of(done).label == "5,000 of 5,000 codes"  # type: ignore[union-attr]
    assert progress_of(done).percent == 100  # type: ignore[union-attr]
    assert progress_of(_running(1, 3, 1)).percent == 33  # type: ignore[union-attr]


def test_a_count_without_a_total_reads_as_what_the_job_came_to_once_it_is_over() -> None:
    # An outcome sync counts what it reads without knowing the total: while it runs the count
    # goes on ("so far", an indeterminate bar); once it succeeded the bar is full and the words
    # say what it came to; a failed one keeps its count with no total (an empty bar).
    done = progress_of(_running(1200, None, 5, state=JobState.SUCCEEDED))
    assert done is not None and done.label == "1,200 codes"
    assert (done.total, done.percent) == (1200, 100)
    failed = progress_of(_running(1200, None, 5, state=JobState.FAILED))
    assert failed is not None and failed.label == "1,200 codes" and failed.total is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (3, "a few seconds left"),
        (21, "about 20 s left"),
        (150, "about 3 min left"),
        (7300, "about 2 h left"),
    ],
)
def test_time_left_in_words(seconds: float, words: str) -> None:
    assert time_left(seconds) == words


def test_what_happens_next_is_said_only_while_the_job_is_not_finished() -> None:
    running = present_job(_running(10, 100, 1))
    assert running.next.startswith("The codes appear in the list below when the job finishes")
    assert present_job(_running(100, 100, 1, state=JobState.SUCCEEDED)).next == ""


# ----------------------------------------------------------------------------- on the pages


@pytest.fixture
def running_job(db: Any) -> BackgroundJob:
    job = BackgroundJobFactory(
        kind="codes.generate",
        state=JobState.RUNNING,
        attempts=1,
        started_at=utcnow() - dt.timedelta(seconds=10),
        progress_done=1200,
        progress_total=5000,
        progress_unit="codes",
        progress_at=utcnow(),
    )
    db.session.commit()
    return job


def test_the_status_json_carries_the_progress_and_the_words(
    staff_client: FlaskClient, running_job: BackgroundJob
) -> None:
    body = staff_client.get(f"/staff/jobs/{running_job.id}.json").get_json()
    assert body["state"] == "running" and body["final"] is False and body["words"] == "Running"
    progress = body["progress"]
    assert (progress["done"], progress["total"], progress["percent"]) == (1200, 5000, 24)
    assert progress["label"].startswith("1,200 of 5,000 codes · about ")
    assert body["next"].startswith("The codes appear")


def test_the_staff_overview_shows_a_progress_bar_not_attempt_n_of_m(
    staff_client: FlaskClient, running_job: BackgroundJob
) -> None:
    page = staff_client.get("/staff/").get_data(as_text=True)
    assert f'<progress id="job-bar-{running_job.id}"' in page
    assert 'max="5000" value="1200"' in page
    assert "1,200 of 5,000 codes" in page and "js/job-status.js" in page
    assert "/5</td>" not in page and "attempt 1/5" not in page
