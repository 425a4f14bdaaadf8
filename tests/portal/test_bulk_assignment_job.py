"""Bulk code assignment as a background job (issue 17, item 6): the upload is checked in the request
(a bad file is refused with its reason and records nothing), a job assigns the rows in chunks with
progress, the org admin lands on the job's page (progress, then each row's result), and only that
organization's admins see it."""

from __future__ import annotations

import html
import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.jobs import JobContext
from portal.jobs.kinds import JobKind
from portal.jobs.queue import leave_to_sweeper
from portal.models import BackgroundJob, BulkAssignmentRow, EnrollmentCode, JobState, OutboxMessage
from portal.services import bulk_assignment
from tests.support.org_world import OrgWorld


def _url(world: OrgWorld, suffix: str = "") -> str:
    return f"/org/ACME/contracts/{world.seats.id}/codes/assign-bulk{suffix}"


def _upload(client: FlaskClient, world: OrgWorld, content: bytes) -> Any:
    return client.post(
        _url(world),
        data={"file": (io.BytesIO(content), "people.csv")},
        content_type="multipart/form-data",
    )


def _count(db: Any, model: Any, *where: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _bulk_jobs(db: Any) -> list[BackgroundJob]:
    return list(
        db.session.scalars(
            select(BackgroundJob).where(BackgroundJob.kind == JobKind.CODES_ASSIGN_BULK)
        )
    )


def test_the_upload_becomes_a_job_whose_page_shows_each_rows_result(
    client: FlaskClient,
    login_as: Callable[..., Any],
    world: OrgWorld,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("portal.tasks.codes.ASSIGN_CHUNK", 3)
    reports: list[tuple[int, int | None, str]] = []
    original = JobContext.progress

    def record(self: JobContext, done: int, total: int | None = None, unit: str = "") -> None:
        reports.append((done, total, unit))
        original(self, done, total, unit)

    monkeypatch.setattr(JobContext, "progress", record)
    login_as(world.grace)
    addresses = [f"p{n}@acme.example" for n in range(7)] + ["not an email", "P0@acme.example"]
    response = _upload(client, world, ("email\n" + "\n".join(addresses)).encode())
    assert response.status_code == 303
    [job] = _bulk_jobs(db)
    assert response.headers["Location"].endswith(_url(world, f"/{job.id}"))
    assert job.organization_id == world.acme.id and job.payload["actor_id"] == world.grace.id
    # The test app ran the job before answering: three chunks of three, each reported.
    assert reports == [
        (0, 9, "addresses"),
        (3, 9, "addresses"),
        (6, 9, "addresses"),
        (9, 9, "addresses"),
    ]
    db.session.expire_all()
    assert job.state is JobState.SUCCEEDED and (job.progress_done, job.progress_total) == (9, 9)

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    outcomes = [
        line.split('data-outcome="', 1)[1].split('"', 1)[0]
        for line in page.splitlines()
        if 'data-outcome="' in line
    ]
    assert outcomes == ["assigned"] * 7 + ["invalid_email", "already_assigned"]
    assert "Assigned, invitation sent: 7" in page and "9 of 9 addresses" in page
    assert "Succeeded" in page and "<progress" in page
    assert _count(db, OutboxMessage) == 7
    assigned = EnrollmentCode.assigned_email.is_not(None)
    assert _count(db, EnrollmentCode, assigned, EnrollmentCode.contract_id == world.seats.id) == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no addresses in it"),
        (b"Name,Team\nAda,Research\n", "No email column found"),
        ("\n".join(f"p{n}@x.example" for n in range(1001)).encode(), "at most 1,000"),
    ],
)
def test_a_bad_file_is_refused_in_the_request_and_records_nothing(
    client: FlaskClient,
    login_as: Callable[..., Any],
    world: OrgWorld,
    db: Any,
    content: bytes,
    message: str,
) -> None:
    login_as(world.grace)
    response = _upload(client, world, content)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _bulk_jobs(db) == [] and _count(db, BulkAssignmentRow) == 0
    assert _count(db, OutboxMessage) == 0


def test_while_the_job_waits_its_page_polls_its_own_status(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any
) -> None:
    job = bulk_assignment.start(
        world.seats,
        world.acme,
        ["a@acme.example", "b@acme.example"],
        actor=world.grace,
        base_url="http://x",
    )
    leave_to_sweeper()  # recorded, not run: the page shows a job still to come
    db.session.commit()
    login_as(world.grace)
    page = html.unescape(client.get(_url(world, f"/{job.id}")).get_data(as_text=True))
    assert "Waiting to start" in page and 'data-job-reload="1"' in page
    assert f'data-job-url="{_url(world, f"/{job.id}.json")}"' in page
    assert "Each address's result appears here when the job finishes" in page
    assert 'data-outcome="' not in page
    body = client.get(_url(world, f"/{job.id}.json")).get_json()
    assert body["state"] == "pending" and body["final"] is False and body["progress"] is None


@pytest.mark.parametrize("suffix", ["", ".json"])
def test_only_the_organizations_admins_see_the_job(
    client: FlaskClient, login_as: Callable[..., Any], world: OrgWorld, db: Any, suffix: str
) -> None:
    login_as(world.grace)
    _upload(client, world, b"email\none@acme.example\n")
    [job] = _bulk_jobs(db)
    assert client.get(_url(world, f"/{job.id}{suffix}")).status_code == 200
    login_as(world.gus)  # Globex's admin: not even told the job exists
    assert client.get(_url(world, f"/{job.id}{suffix}")).status_code == 404
    other = f"/org/GLOBEX/contracts/{world.other.id}/codes/assign-bulk/{job.id}{suffix}"
    assert client.get(other).status_code == 404  # nor through his own contract
    login_as(world.lee)
    assert client.get(_url(world, f"/{job.id}{suffix}")).status_code == 403
    login_as(world.grace)  # another job of Acme's (not a bulk assignment) is not one either
    ping = BackgroundJob(kind="system.ping", payload={}, organization_id=world.acme.id)
    db.session.add(ping)
    db.session.commit()
    assert client.get(_url(world, f"/{ping.id}{suffix}")).status_code == 404


def test_a_retry_carries_on_with_the_rows_left(
    client: FlaskClient,
    login_as: Callable[..., Any],
    world: OrgWorld,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The job fails after its first chunk; the retry assigns only the rest, and no row twice."""
    monkeypatch.setattr("portal.tasks.codes.ASSIGN_CHUNK", 2)
    real = bulk_assignment.assign_pending
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(bulk_assignment, "assign_pending", flaky)
    login_as(world.grace)
    addresses = [f"r{n}@acme.example" for n in range(5)]
    response = _upload(client, world, ("email\n" + "\n".join(addresses)).encode())
    assert response.status_code == 303
    [job] = _bulk_jobs(db)
    db.session.expire_all()
    assert job.state is JobState.SUCCEEDED and job.attempts == 2
    results = bulk_assignment.results(job.id)
    assert [r.outcome.value for r in results.rows] == ["assigned"] * 5 and results.unhandled == 0
    assert _count(db, OutboxMessage) == 5


def test_progress_reports_work_when_sqlite_takes_the_write_lock_at_begin(
    app_factory: Callable[..., Any], login_as: Callable[..., Any]
) -> None:
    """Demo mode's SQLite takes the write lock at BEGIN, even for a read: a report on another
    connection while the job's session still holds a read transaction must not wait for it."""
    from portal.extensions import db as _db
    from tests.support.sessions import signed_in

    app = app_factory(SQLITE_BEGIN_IMMEDIATE=True)
    with app.app_context():
        world = OrgWorld(_db)
        client = signed_in(app, world.grace)
        started = time.monotonic()
        response = _upload(client, world, b"email\na@acme.example\nb@acme.example\n")
        assert response.status_code == 303
        [job] = _bulk_jobs(_db)
        assert job.state is JobState.SUCCEEDED, job.last_error
        assert (job.progress_done, job.progress_total) == (2, 2)
        assert time.monotonic() - started < 4  # no wait on a busy timeout
