"""Staff Jobs and Audit log pages: filters, retry and cancel, and an audit log nobody can change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import AuditEvent, BackgroundJob, JobState, utcnow
from portal.services.audit import record_event
from tests.support.factories import BackgroundJobFactory


def make_job(
    db: Any, kind: str = "system.ping", state: JobState = JobState.PENDING, **kw: Any
) -> Any:
    job = BackgroundJob(kind=kind, payload={}, state=state, **kw)
    db.session.add(job)
    db.session.commit()
    return job


def events(db: Any, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# ----------------------------------------------------------------------------- jobs page


def test_jobs_page_lists_newest_first_with_live_rows(staff_client: FlaskClient, db: Any) -> None:
    old = make_job(db, state=JobState.FAILED, last_error="edX said <b>no</b>", attempts=5)
    new = make_job(
        db, kind="keycloak.pull_organizations", object_type="organization", object_id="7"
    )
    response = staff_client.get("/staff/jobs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.index(f'data-job-id="{new.id}"') < page.index(f'data-job-id="{old.id}"')
    assert f'data-job-url="/staff/jobs/{new.id}.json"' in page
    assert 'data-job-state="pending"' in page and "js/job-status.js" in page
    assert 'Organization #7 <span class="muted">(not found)</span>' in page  # no such row
    assert ">Failed after 5 attempts:</span>" in page and "Waiting to start</span>" in page
    assert "edX said &lt;b&gt;no&lt;/b&gt;" in page and "<b>no</b>" not in page
    # retry on failed, cancel on pending
    assert f"/staff/jobs/{old.id}/retry" in page and f"/staff/jobs/{new.id}/cancel" in page
    assert f"/staff/jobs/{old.id}/cancel" not in page and f"/staff/jobs/{new.id}/retry" not in page
    assert 'name="next" value="/staff/jobs?"' in page


def test_jobs_filters(staff_client: FlaskClient, db: Any) -> None:
    failed = make_job(db, state=JobState.FAILED)
    pending = make_job(db, kind="keycloak.pull_organizations")
    page = staff_client.get("/staff/jobs?state=failed").get_data(as_text=True)
    assert f'data-job-id="{failed.id}"' in page and f'data-job-id="{pending.id}"' not in page
    page = staff_client.get("/staff/jobs?kind=keycloak.pull_organizations").get_data(as_text=True)
    assert f'data-job-id="{pending.id}"' in page and f'data-job-id="{failed.id}"' not in page
    page = staff_client.get("/staff/jobs?kind=system.ping&state=pending").get_data(as_text=True)
    assert "No jobs match." in page
    assert '<option value="keycloak.pull_organizations" selected>' in staff_client.get(
        "/staff/jobs?kind=keycloak.pull_organizations"
    ).get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=exploded", "Unknown job state"),
        ("kind=no.such.kind", "Unknown job kind"),
        ("state=%3Cscript%3E", "Unknown job state"),
    ],
)
def test_jobs_bad_filters_are_400(staff_client: FlaskClient, query: str, message: str) -> None:
    response = staff_client.get(f"/staff/jobs?{query}")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert message in text and "<script>" not in text


def test_jobs_page_is_paginated_with_bounded_queries(
    staff_client: FlaskClient, db: Any, count_queries: Callable[[], Any]
) -> None:
    db.session.add_all(BackgroundJob(kind="system.ping", payload={}) for _ in range(55))
    db.session.commit()
    staff_client.get("/staff/jobs")  # warm up
    with count_queries() as counter:
        first = staff_client.get("/staff/jobs").get_data(as_text=True)
    assert counter.count <= 5  # with the count the numbered pager needs
    assert first.count("data-job-url=") == 50 and "page=2" in first
    second = staff_client.get("/staff/jobs?page=2").get_data(as_text=True)
    assert second.count("data-job-url=") == 5 and "page=1" in second
    assert staff_client.get("/staff/jobs?page=abc").status_code == 200


def test_retry_from_jobs_page_returns_to_it(staff_client: FlaskClient, db: Any) -> None:
    job = make_job(db, state=JobState.FAILED, attempts=5, last_error="boom")
    response = staff_client.post(
        f"/staff/jobs/{job.id}/retry", data={"next": "/staff/jobs?state=failed"}
    )
    assert response.status_code == 302 and response.location == "/staff/jobs?state=failed"
    db.session.expire_all()
    stored = db.session.get(BackgroundJob, job.id)  # the inline runner ran it again at once
    assert stored.last_error is None and stored.state is not JobState.FAILED
    assert events(db, "job.retried")


@pytest.mark.parametrize("state", [JobState.PENDING, JobState.QUEUED])
def test_cancel_pending_or_queued(staff_client: FlaskClient, db: Any, state: JobState) -> None:
    job = make_job(db, state=state, organization_id=None)
    response = staff_client.post(
        f"/staff/jobs/{job.id}/cancel", data={"next": "/staff/jobs?kind=system.ping"}
    )
    assert response.status_code == 302 and response.location == "/staff/jobs?kind=system.ping"
    db.session.expire_all()
    stored = db.session.get(BackgroundJob, job.id)
    assert stored.state is JobState.CANCELLED and stored.finished_at is not None
    (event,) = events(db, "job.cancelled")
    assert event.before == {"state": state.value} and event.after == {"state": "cancelled"}
    assert event.object_id == str(job.id) and event.actor_id is not None
    # A cancelled job can be retried again from the page.
    page = staff_client.get("/staff/jobs").get_data(as_text=True)
    assert f"/staff/jobs/{job.id}/retry" in page


@pytest.mark.parametrize(
    "state", [JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]
)
def test_cancel_refuses_jobs_that_are_not_waiting(
    staff_client: FlaskClient, db: Any, state: JobState
) -> None:
    job = make_job(db, state=state)
    response = staff_client.post(f"/staff/jobs/{job.id}/cancel", follow_redirects=True)
    assert f"Job #{job.id} is {state.value}; only pending or queued" in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(BackgroundJob, job.id).state is state
    assert not events(db, "job.cancelled")


def test_cancel_does_not_override_a_worker_that_claimed_the_job(
    staff_client: FlaskClient, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page showed 'queued', but a worker claims it between the page load and the UPDATE."""
    from sqlalchemy import update

    from portal.staff import jobs_audit

    job = make_job(db, state=JobState.QUEUED)
    real_get = db.session.get

    def get_then_worker_claims(model: Any, ident: Any, **kw: Any) -> Any:
        found = real_get(model, ident, **kw)
        if model is BackgroundJob:
            db.session.execute(
                update(BackgroundJob)
                .where(BackgroundJob.id == ident)
                .values(state=JobState.RUNNING, started_at=utcnow())
            )
            db.session.commit()
        return found

    monkeypatch.setattr(jobs_audit.db.session, "get", get_then_worker_claims)
    response = staff_client.post(f"/staff/jobs/{job.id}/cancel")
    monkeypatch.undo()
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(BackgroundJob, job.id).state is JobState.RUNNING
    assert not events(db, "job.cancelled")


def test_cancel_unknown_job_is_404(staff_client: FlaskClient) -> None:
    assert staff_client.post("/staff/jobs/999999/cancel").status_code == 404


def test_cancel_ignores_an_offsite_next(staff_client: FlaskClient, db: Any) -> None:
    job = make_job(db)
    response = staff_client.post(
        f"/staff/jobs/{job.id}/cancel", data={"next": "https://evil.example/"}
    )
    assert response.location == "/staff/jobs"


def test_cancel_needs_csrf(csrf_staff_client: FlaskClient) -> None:
    from portal.extensions import db

    job = make_job(db)
    assert csrf_staff_client.post(f"/staff/jobs/{job.id}/cancel").status_code == 400
    db.session.expire_all()
    assert db.session.get(BackgroundJob, job.id).state is JobState.PENDING


# ----------------------------------------------------------------------------- audit log


def add_event(db: Any, action: str, **kw: Any) -> AuditEvent:
    kw.setdefault("object_type", "contract")
    event = record_event(action, kw.pop("object_type"), kw.pop("object_id", 1), **kw)
    db.session.commit()
    return event


def test_audit_log_shows_before_after_escaped(
    staff_client: FlaskClient, db: Any, make_user: Callable[..., Any]
) -> None:
    admin = make_user("admin@acme.example")
    add_event(
        db,
        "contract.updated",
        before={"name": "<script>alert(1)</script>", "seats": 10},
        after={"name": "Safe", "seats": 20},
        actor_id=admin.id,
        reason="asked by <b>Acme</b>",
    )
    response = staff_client.get("/staff/audit")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<b>Acme</b>" not in page
    assert '<td class="diff-value diff-before">&lt;script&gt;alert(1)&lt;/script&gt;</td>' in page
    assert '<td class="diff-value diff-after">Safe</td>' in page
    assert '<td class="diff-value diff-after">20</td>' in page
    assert "&#34;name&#34;: &#34;Safe&#34;" in page  # and in the Raw view, escaped too
    assert "admin@acme.example" in page and "contract.updated" in page
    assert 'action="/staff/audit' not in page.replace('method="get" action="/staff/audit"', "")


def test_audit_log_filters(
    staff_client: FlaskClient, db: Any, make_user: Callable[..., Any]
) -> None:
    admin = make_user("admin@acme.example")
    add_event(db, "contract.created", object_id=5, actor_id=admin.id, after={"mark": "A"})
    add_event(db, "contract.course_added", object_id=6, actor_kind="cli", after={"mark": "B"})
    add_event(db, "organization.pulled", object_type="organization", object_id=5,
              actor_kind="job", after={"mark": "C"})  # fmt: skip

    def marks(query: str) -> set[str]:
        response = staff_client.get(f"/staff/audit?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        text = response.get_data(as_text=True)
        return {m for m in "ABC" if f'<td class="diff-value">{m}</td>' in text}

    assert marks("") == {"A", "B", "C"}
    assert marks("actor=ADMIN@acme.example") == {"A"}
    assert marks("actor=cli") == {"B"}
    assert marks("actor=job") == {"C"}
    assert marks("actor=nobody@example.com") == set()
    assert marks("object_type=contract") == {"A", "B"}
    assert marks("object_type=contract&object_id=5") == {"A"}
    assert marks("action=contract.") == {"A", "B"}
    assert marks("action=contract.created") == {"A"}
    today = utcnow().date()
    assert marks(f"from={today}&to={today}") == {"A", "B", "C"}
    assert marks(f"from={today + dt.timedelta(days=1)}") == set()
    assert marks(f"to={today - dt.timedelta(days=1)}") == set()


def test_audit_log_action_prefix_is_not_a_wildcard(staff_client: FlaskClient, db: Any) -> None:
    add_event(db, "contract_x", after={"mark": "A"})
    text = staff_client.get("/staff/audit?action=contract_").get_data(as_text=True)
    assert "contract_x" in text
    text = staff_client.get("/staff/audit?action=contract.").get_data(as_text=True)
    assert "contract_x" not in text  # no LIKE wildcards leak from '_'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("actor=robot", "Actor must be an email address"),
        ("object_type=Contract%20X", "Object type must be"),
        ("object_id=" + "9" * 65, "Object id must be at most 64"),
        ("action=%25", "Action must be"),
        ("from=yesterday", "The from date must be"),
        ("to=2026-13-01", "The to date must be"),
        ("from=2026-02-01&to=2026-01-01", "before the from date"),
    ],
)
def test_audit_log_bad_filters_are_400(staff_client: FlaskClient, query: str, message: str) -> None:
    response = staff_client.get(f"/staff/audit?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_audit_log_is_paginated(
    staff_client: FlaskClient, db: Any, count_queries: Callable[[], Any]
) -> None:
    for n in range(55):
        record_event("test.event", "thing", n, after={"n": n}, actor_kind="cli")
    db.session.commit()
    staff_client.get("/staff/audit")
    with count_queries() as counter:
        first = staff_client.get("/staff/audit?actor=cli").get_data(as_text=True)
    assert counter.count <= 4

    def shows(n: int, page: str) -> bool:
        return f'<td class="diff-value">{n}</td>' in page

    assert shows(54, first) and not shows(4, first)
    assert "page=2" in first and "actor=cli" in first
    second = staff_client.get("/staff/audit?actor=cli&page=2").get_data(as_text=True)
    assert shows(4, second) and not shows(54, second)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_audit_log_cannot_be_changed_from_the_web(
    staff_client: FlaskClient, db: Any, method: str
) -> None:
    event = add_event(db, "contract.created")
    for path in ("/staff/audit", f"/staff/audit/{event.id}"):
        response = staff_client.open(path, method=method)
        assert response.status_code in (404, 405), path
    assert staff_client.open("/staff/audit", method=method).status_code == 405
    db.session.expire_all()
    assert db.session.get(AuditEvent, event.id).action == "contract.created"


def test_audit_blueprint_routes_are_read_only(app: Any) -> None:
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/staff/audit"):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule


def test_the_jobs_page_shows_each_scheduled_task_and_its_last_run(
    staff_client: FlaskClient, db: Any
) -> None:
    from portal.core.unit_of_work import transaction
    from portal.services.scheduling import TASKS, fire

    with transaction():
        fire("due-syncs")
    text = staff_client.get("/staff/jobs").get_data(as_text=True)
    assert "Scheduled tasks" in text
    for name in TASKS:
        assert f"<code>{name}</code>" in text
    assert "organization sync recorded" in text  # due-syncs ran inline and said what it did
    assert text.count("not run yet") == len(TASKS) - 1


def test_a_jobs_json_carries_its_retry_time_for_the_live_update(
    staff_client: FlaskClient, db: Any
) -> None:
    """static/js/job-status.js writes "Waiting to retry (attempt 2 of 5) at 10:32" from it."""
    retry_at = utcnow() + dt.timedelta(minutes=5)
    job = BackgroundJobFactory(state=JobState.PENDING, attempts=1, run_after=retry_at)
    db.session.commit()
    status = staff_client.get(f"/staff/jobs/{job.id}.json").get_json()
    assert status["state"] == "pending" and status["attempts"] == 1
    assert dt.datetime.fromisoformat(status["run_after"]) == retry_at
