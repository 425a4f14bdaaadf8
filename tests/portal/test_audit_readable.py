"""Readable records (issue 17, item 4): the audit log and the jobs list name their objects and link
them to their staff pages, the audit log shows before/after as a diff of the fields that changed,
the jobs list says each state in words, and both read a page's names in a bounded number of
statements, whatever the number of rows."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

from portal.models import BackgroundJob, JobState, utcnow
from portal.services.audit import record_event
from portal.services.job_listing import state_detail, state_words
from tests.support.factories import (
    BackgroundJobFactory,
    ContractFactory,
    CourseRunFactory,
    EnrollmentCodeFactory,
    EnrollmentFactory,
    MembershipFactory,
    OrderFactory,
    OrganizationFactory,
    ProgramFactory,
    UserFactory,
)

ROOT_CSS = "static/portal.css"


class DiffRows(HTMLParser):
    """The rows of the page's diff tables: (the row's class, [its cells' text])."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str]]] = []
        self._depth = 0  # inside a diff table
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag == "table" and "diff-table" in classes:
            self._depth += 1
        elif self._depth and tag == "tr":
            self.rows.append((classes, []))
        elif self._depth and tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._depth:
            self._depth -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1][1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def diff_rows(page: str) -> list[tuple[str, list[str]]]:
    parser = DiffRows()
    parser.feed(page)
    return [(cls, cells) for cls, cells in parser.rows if cls]  # not the header rows


def event(db: Any, action: str, object_type: str, object_id: object, **kw: Any) -> None:
    record_event(action, object_type, object_id, **kw)
    db.session.commit()


def audit(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/staff/audit{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href, quote=True)}">{html.escape(text)}</a>'


# ----------------------------------------------------------------------------- naming objects


def test_every_object_type_is_named_and_linked(staff_client: FlaskClient, db: Any) -> None:
    org = OrganizationFactory(name="Acme Corp")
    contract = ContractFactory(name="Acme Leadership Circle", organization=org)
    ada = UserFactory(email="ada@acme.example")
    order = OrderFactory(reference="B2B-1042", contract=contract, user=ada)
    code = EnrollmentCodeFactory(code="ABCD2345EFGH", contract=contract)
    run = CourseRunFactory(title="Data Basics", course_key="course-v1:ACME+DB+R1")
    enrollment = EnrollmentFactory(user=ada, course_run=run)
    program = ProgramFactory(title="Data Track")
    job = BackgroundJobFactory(kind="keycloak.resync_member")
    membership = MembershipFactory(user=ada, organization=org)
    db.session.commit()
    for object_type, obj in [
        ("organization", org),
        ("contract", contract),
        ("order", order),
        ("enrollment_code", code),
        ("user", ada),
        ("enrollment", enrollment),
        ("course_run", run),
        ("program", program),
        ("background_job", job),
        ("membership", membership),
    ]:
        event(db, f"{object_type}.touched", object_type, obj.id)
    event(db, "demo.seeded", "portal", None, actor_kind="cli")
    event(db, "contract.updated", "contract", 999_999)
    event(db, "thing.done", "gizmo", "abc")

    page = audit(staff_client)
    assert link(f"/staff/organizations/{org.id}", "Organization Acme Corp") in page
    assert link(f"/staff/contracts/{contract.id}", "Contract Acme Leadership Circle") in page
    assert link("/staff/orders/B2B-1042", "Order B2B-1042") in page
    assert link(f"/staff/contracts/{contract.id}", "Code ABCD2345EFGH") in page
    assert link("/staff/users?q=ada@acme.example", "User ada@acme.example") in page
    assert (
        link("/staff/users?q=ada@acme.example", "Enrollment of ada@acme.example in Data Basics")
        in page
    )
    assert (
        link(f"/staff/courseware/runs/{run.id}", "Course run Data Basics (course-v1:ACME+DB+R1)")
        in page
    )
    assert link(f"/staff/courseware/programs/{program.id}", "Program Data Track") in page
    assert (
        link(
            f"/staff/jobs?kind=keycloak.resync_member#job-{job.id}",
            f"Job #{job.id} keycloak.resync_member",
        )
        in page
    )
    assert (
        link(f"/staff/organizations/{org.id}", "Membership of ada@acme.example in Acme Corp")
        in page
    )
    assert "The portal" in page
    # What the database no longer holds keeps its type and id, and says so; unknown types too.
    assert 'Contract #999999 <span class="muted">(not found)</span>' in page
    assert 'Gizmo #abc <span class="muted">(not found)</span>' in page
    assert "contract 7" not in page and "organization " + str(org.id) not in page
    # The jobs page holds the anchor the job's link points at.
    jobs = staff_client.get("/staff/jobs").get_data(as_text=True)
    assert f'<tr id="job-{job.id}">' in jobs


def test_the_actor_is_named_and_linked(
    staff_client: FlaskClient, db: Any, make_user: Callable[..., Any]
) -> None:
    admin = make_user("admin@acme.example")
    event(db, "contract.updated", "contract", 1, actor_id=admin.id)
    event(db, "keycloak.pulled", "organization", None, actor_kind="job")
    event(db, "demo.seeded", "portal", None, actor_kind="cli")
    event(db, "order.closed", "order", None, actor_kind="system")
    page = audit(staff_client)
    admin_link = link("/staff/users?q=admin@acme.example", "admin@acme.example")
    assert f'<td class="audit-actor" data-label="Actor">{admin_link}</td>' in page
    for words in ("Background job", "Command line", "System"):
        assert f'<td class="audit-actor" data-label="Actor">{words}</td>' in page


def test_the_events_organization_is_named_beside_its_object(
    staff_client: FlaskClient, db: Any
) -> None:
    contract = ContractFactory(name="Initech Academy", organization__name="Initech")
    db.session.commit()
    event(db, "contract.updated", "contract", contract.id, organization_id=contract.organization_id)
    page = audit(staff_client)
    assert link(f"/staff/organizations/{contract.organization_id}", "Organization Initech") in page


# ----------------------------------------------------------------------------- the diff


def test_before_and_after_read_as_a_diff(staff_client: FlaskClient, db: Any) -> None:
    event(
        db,
        "contract.updated",
        "contract",
        1,
        before={"name": "Old name", "seat_limit": 10, "active": True, "note": "gone soon"},
        after={"name": "New name", "seat_limit": 10, "active": True, "welcome_message": "Hi"},
    )
    page = audit(staff_client)
    rows = diff_rows(page)
    assert ("diff-changed", ["Name", "Old name", "New name"]) in rows
    assert ("diff-removed", ["Note removed", "gone soon", "—"]) in rows
    assert ("diff-added", ["Welcome message added", "—", "Hi"]) in rows
    # Unchanged fields are apart, behind a <details> that is closed until opened.
    assert ("diff-unchanged", ["Seat limit", "10"]) in rows
    assert ("diff-unchanged", ["Active", "yes"]) in rows
    assert re.search(r"<details class=\"diff-more\">\s*<summary>2 unchanged fields</summary>", page)
    # No JSON outside the Raw view, which is closed by default.
    raw = re.compile(r'<details class="audit-raw">.*?</details>', re.S)
    assert '<details class="audit-raw">' in page and "<details open" not in page
    assert "&#34;" not in raw.sub("", page)
    assert "&#34;seat_limit&#34;: 10" in page


def test_an_event_without_a_before_shows_what_it_recorded(
    staff_client: FlaskClient, db: Any
) -> None:
    org = OrganizationFactory(name="Acme Corp")
    contract = ContractFactory(name="Acme Leadership Circle", organization=org)
    job = BackgroundJobFactory(kind="codes.generate")
    db.session.commit()
    event(
        db,
        "codes.generated",
        "contract",
        contract.id,
        after={
            "organization_id": org.id,
            "job": job.id,
            "contract_id": 987_654,  # gone: shown as the id it is
            "expires_at": "2026-01-31T10:32:00+00:00",
            "for_seat": False,
            "max_uses": None,
            "types": ["one_time", "multi_use"],
            "counts": {"a": 1},
        },
    )
    page = audit(staff_client)
    rows = {cells[0]: cells[1:] for _, cells in diff_rows(page)}
    assert rows["Organization"] == ["Acme Corp"]
    assert rows["Job"] == [f"Job #{job.id} codes.generate"]
    assert rows["Contract"] == ["987654"]
    assert rows["Expires at"] == ["31 Jan 2026 10:32 UTC"]
    assert rows["For seat"] == ["no"] and rows["Max uses"] == ["none"]
    assert rows["Types"] == ["one_time, multi_use"]
    assert rows["Counts"] == ['{"a": 1}']
    assert link(f"/staff/organizations/{org.id}", "Acme Corp") in page
    assert (
        link(f"/staff/jobs?kind=codes.generate#job-{job.id}", f"Job #{job.id} codes.generate")
        in page
    )


def test_nothing_changed_and_nothing_recorded(staff_client: FlaskClient, db: Any) -> None:
    event(db, "contract.saved", "contract", 1, before={"a": 1}, after={"a": 1})
    event(db, "contract.viewed", "contract", 2)
    page = audit(staff_client)
    assert "No field changed." in page
    assert "1 unchanged field</summary>" in page


def test_long_values_are_cut_and_wrap(staff_client: FlaskClient, db: Any) -> None:
    event(db, "contract.updated", "contract", 1, before={"description": "x" * 5000},
          after={"description": "y" * 5000})  # fmt: skip
    page = audit(staff_client)
    table = page.split('<details class="audit-raw">')[0]
    assert ("y" * 600 + "…</td>") in table and ("y" * 601) not in table
    assert '<td class="diff-value diff-after">' in table  # wrapped by the stylesheet (below)


def test_the_stylesheet_wraps_values_and_keeps_kinds_whole(app: Any) -> None:
    from pathlib import Path

    css = (Path(app.root_path).parent / ROOT_CSS).read_text()
    assert re.search(r"\.code-nowrap \{[^}]*white-space: nowrap", css)
    assert re.search(r"\.diff-value \{[^}]*overflow-wrap: anywhere", css)


# ----------------------------------------------------------------------------- bounded statements


def _objects(n: int) -> list[dict[str, Any]]:
    made = []
    for i in range(n):
        contract = ContractFactory()
        user = UserFactory()
        run = CourseRunFactory(contract=contract)
        made.append(
            {
                "contract": contract,
                "user": user,
                "order": OrderFactory(contract=contract, user=user),
                "code": EnrollmentCodeFactory(contract=contract),
                "run": run,
                "enrollment": EnrollmentFactory(user=user, course_run=run),
                "job": BackgroundJobFactory(kind="system.ping"),
                "i": i,
            }
        )
    return made


TYPES = ("contract", "order", "enrollment_code", "user", "enrollment", "course_run")


def _record(objects: list[dict[str, Any]]) -> None:
    from portal.extensions import db

    for o in objects:
        obj = {
            "contract": o["contract"],
            "order": o["order"],
            "enrollment_code": o["code"],
            "user": o["user"],
            "enrollment": o["enrollment"],
            "course_run": o["run"],
        }
        object_type = TYPES[o["i"] % len(TYPES)]
        record_event(
            "thing.changed",
            object_type,
            obj[object_type].id,
            organization_id=o["contract"].organization_id,
            actor_id=o["user"].id,
            before={"contract_id": o["contract"].id, "job": o["job"].id},
            after={
                "contract_id": o["contract"].id,
                "user_id": o["user"].id,
                "order_id": o["order"].id,
                "code_id": o["code"].id,
                "enrollment_id": o["enrollment"].id,
                "course_run_id": o["run"].id,
                "job": None,
            },
        )
    db.session.commit()


def test_the_audit_log_reads_names_in_the_same_statements_for_5_and_60_events(
    staff_client: FlaskClient, db: Any, count_queries: Callable[[], Any]
) -> None:
    objects = _objects(60)
    db.session.commit()
    _record(objects[:5])
    audit(staff_client)  # warm up
    with count_queries() as five:
        page = audit(staff_client)
    assert page.count('class="audit-object"') == 5
    _record(objects[5:])
    with count_queries() as sixty:
        page = audit(staff_client)
    assert page.count('class="audit-object"') == 50  # a page
    assert sixty.count == five.count, sixty.statements
    # One statement per object type (contract, order, code, user, enrollment, run, job and
    # organization), plus the page's own: the session's user and the events.
    assert five.count <= 8 + 4
    assert "(not found)" not in page


def test_the_jobs_list_reads_names_in_the_same_statements_for_5_and_60_jobs(
    staff_client: FlaskClient, db: Any, count_queries: Callable[[], Any]
) -> None:
    objects = _objects(60)
    db.session.commit()

    def about(batch: list[dict[str, Any]]) -> None:
        for o in batch:
            key, object_type = [("contract", "contract"), ("run", "course_run"),
                                ("user", "user"), ("order", "order")][o["i"] % 4]  # fmt: skip
            db.session.add(BackgroundJob(kind="system.ping", payload={}, object_type=object_type,
                                         object_id=str(o[key].id)))  # fmt: skip
        db.session.commit()

    about(objects[:5])
    staff_client.get("/staff/jobs")
    with count_queries() as five:
        staff_client.get("/staff/jobs")
    about(objects[5:])
    with count_queries() as sixty:
        page = staff_client.get("/staff/jobs").get_data(as_text=True)
    assert sixty.count == five.count, sixty.statements
    assert page.count('<a href="/staff/contracts/') >= 12 and "(not found)" not in page


# ----------------------------------------------------------------------------- jobs in words

NOW = dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("state", "attempts", "run_after", "error", "words", "detail"),
    [
        (JobState.SUCCEEDED, 1, None, None, "Succeeded on the first attempt", ""),
        (JobState.SUCCEEDED, 3, None, None, "Succeeded on attempt 3 of 5", ""),
        (JobState.FAILED, 5, None, "edX said no", "Failed after 5 attempts:", "edX said no"),
        (JobState.FAILED, 1, None, "HTTP 400", "Failed after 1 attempt:", "HTTP 400"),
        (JobState.FAILED, 0, None, None, "Failed", ""),
        (JobState.PENDING, 1, NOW.replace(hour=10, minute=32), "HTTP 503",
         "Waiting to retry (attempt 2 of 5) at 10:32", "Last error: HTTP 503"),
        (JobState.PENDING, 1, NOW + dt.timedelta(days=2), None,
         "Waiting to retry (attempt 2 of 5) on 06 Mar at 09:00", ""),
        (JobState.PENDING, 0, NOW - dt.timedelta(seconds=1), None, "Waiting to start", ""),
        (JobState.PENDING, 0, NOW.replace(hour=23), None, "Waiting to start at 23:00", ""),
        (JobState.QUEUED, 0, None, None, "Queued for a worker", ""),
        (JobState.QUEUED, 2, None, None, "Queued for attempt 3 of 5", ""),
        (JobState.RUNNING, 1, None, None, "Running", ""),
        (JobState.RUNNING, 2, None, "HTTP 503", "Running attempt 2 of 5", "Last error: HTTP 503"),
        (JobState.CANCELLED, 0, None, None, "Cancelled before it ran", ""),
        (JobState.CANCELLED, 2, None, "HTTP 503", "Cancelled after 2 attempts", ""),
    ],
)  # fmt: skip
def test_job_state_words(
    state: JobState,
    attempts: int,
    run_after: dt.datetime | None,
    error: str | None,
    words: str,
    detail: str,
) -> None:
    job = BackgroundJob(kind="system.ping", state=state, attempts=attempts, max_attempts=5,
                        run_after=run_after or NOW, last_error=error)  # fmt: skip
    assert state_words(job, NOW) == words
    assert state_detail(job) == detail


def test_the_jobs_page_says_each_state_in_words(staff_client: FlaskClient, db: Any) -> None:
    org = OrganizationFactory(name="Acme Corp")
    done = BackgroundJobFactory(kind="keycloak.resync_organization", state=JobState.SUCCEEDED,
                                attempts=1, step="done", object_type="organization",
                                object_id=str(org.id))  # fmt: skip
    failed = BackgroundJobFactory(state=JobState.FAILED, attempts=5, last_error="edX said no")
    retry_at = utcnow() + dt.timedelta(minutes=30)
    waiting = BackgroundJobFactory(state=JobState.PENDING, attempts=1, run_after=retry_at,
                                   last_error="HTTP 503", step="cloning")  # fmt: skip
    db.session.commit()
    page = staff_client.get("/staff/jobs").get_data(as_text=True)
    assert "succeeded done attempt" not in page and "attempt 1/5" not in page

    def status(job: Any) -> str:
        found = re.search(rf'data-job-id="{job.id}".*?</div>', page, re.S)
        assert found, job.id
        return " ".join(re.sub(r"<[^>]+>", " ", found.group(0).split(">", 1)[1]).split())

    assert status(done) == "Succeeded on the first attempt"  # its step ("done") is not repeated
    assert status(failed) == "Failed after 5 attempts: edX said no"
    assert (
        status(waiting)
        == (
            f"Waiting to retry (attempt 2 of 5) at {retry_at:%H:%M} Last error: HTTP 503 cloning"
            if retry_at.date() == utcnow().date()
            else f"Waiting to retry (attempt 2 of 5) on {retry_at:%d %b} at {retry_at:%H:%M} "
            "Last error: HTTP 503 cloning"
        )
        + " This updates by itself; you can leave this page, the job carries on."
    )
    assert f'data-job-attempts="{waiting.attempts}"' in page  # the live update's reference
    assert link(f"/staff/organizations/{org.id}", "Organization Acme Corp") in page
    assert '<code class="code-nowrap">keycloak.resync_organization</code>' in page
    assert '<span class="visually-hidden">Actions</span>' in page


def test_the_live_update_carries_the_pages_words(staff_client: FlaskClient, db: Any) -> None:
    """job-status.js only puts in place the words the JSON carries, and the JSON words each state
    as the page does: one definition (job_listing), so a waiting job reads the same before and
    after the poller touches it."""
    from pathlib import Path

    retry_at = utcnow() + dt.timedelta(minutes=30)
    waiting = BackgroundJobFactory(state=JobState.PENDING, attempts=1, run_after=retry_at,
                                   last_error="HTTP 503", step="cloning")  # fmt: skip
    failed = BackgroundJobFactory(state=JobState.FAILED, attempts=5, last_error="edX said no")
    db.session.commit()
    page = staff_client.get("/staff/jobs").get_data(as_text=True)
    for job in (waiting, failed):
        body = staff_client.get(f"/staff/jobs/{job.id}.json").get_json()
        row = re.search(rf'data-job-id="{job.id}".*?</div>', page, re.S)
        assert row, job.id
        assert f">{body['words']}<" in row.group(0)
        if body["detail"]:
            assert body["detail"] in row.group(0)
    script = (Path(__file__).resolve().parents[2] / "static/js/job-status.js").read_text()
    assert "job.words" in script and 'data-job-field="' in script
    assert "attempt" not in script.lower().replace("data-job-attempts", "").replace(
        "job.attempts", ""
    ), "the script words nothing itself"
