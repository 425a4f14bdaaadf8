"""Staff in a real browser: create an organization and a contract, add a course and watch its edX
job finish on the contract page (which updates itself, through static/js/job-status.js, without a
reload), then generate an extra batch of codes."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import (
    BackgroundJob,
    Contract,
    CourseRun,
    EdxRunState,
    EnrollmentCode,
    JobState,
    MembershipType,
    Organization,
    RedemptionType,
)
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Journey, World, fresh

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)


def local(moment: dt.datetime) -> str:
    """A datetime-local field's value."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_staff_create_an_organization_a_contract_a_course_and_codes(
    journey: Journey, world: World
) -> None:
    page = journey.page
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)

    journey.sign_in("staff@portal.example", "Margaret Hamilton")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff").click()
    staff_nav = page.get_by_role("navigation", name="Staff")

    # An organization.
    staff_nav.get_by_role("link", name="Organizations").click()
    page.get_by_role("link", name="New organization").click()
    page.get_by_label("Name", exact=True).fill("Initech Learning")
    page.get_by_label("Short key").fill("initech")  # upper-cased by the form
    page.get_by_label("Description").fill("Initech's people learn data skills.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-success")).to_have_text(
        "Organization Initech Learning (INITECH) created."
    )
    expect(page.get_by_role("heading", name="Initech Learning", level=1)).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("INITECH")

    # A contract: code-based, five seats, running now.
    staff_nav.get_by_role("link", name="Contracts").click()
    page.get_by_role("link", name="New contract").click()
    page.get_by_label("Organization").select_option(label="Initech Learning (INITECH)")
    page.get_by_label("Name", exact=True).fill("Initech Analytics Academy")
    page.get_by_label("Welcome message").fill("Welcome, Initech analysts!")
    page.get_by_label("Membership type").select_option("code")
    page.get_by_label("Starts (UTC)").fill(local(now - dt.timedelta(days=1)))
    page.get_by_label("Ends (UTC)").fill(local(now + dt.timedelta(days=180)))
    page.get_by_label("Seat limit").fill("5")
    page.get_by_role("button", name="Create contract").click()
    expect(page.locator(".flash-success")).to_have_text(
        "Contract Initech Analytics Academy created. Added 5 one-time seat code(s)."
    )
    expect(page.get_by_role("heading", name="Initech Analytics Academy", level=1)).to_be_visible()
    expect(page.locator("[data-seats-remaining]")).to_have_text("5")
    expect(page.locator("[data-code-counts]")).to_contain_text("Unused 5")
    runs = page.locator("section", has=page.get_by_role("heading", name="Course runs"))
    expect(runs.locator("tbody")).to_contain_text("No runs yet.")

    # A course. edX answers the clone with a 503 once: the job waits for its retry, visibly.
    world.edx_fault(endpoint="course_runs.clone", status=503, count=1)
    page.get_by_label("Course (with a source run)").select_option(
        label="Foundations of Data Science (DS.101x)"
    )
    page.get_by_role("button", name="Add course").click()
    expect(page.locator(".flash-success")).to_contain_text("; it is being created in edX.")
    row = runs.locator("tbody tr", has_text="Foundations of Data Science")
    job_state = row.locator('[data-job-field="state"]')
    edx_state = row.locator("[data-edx-state-for]")
    expect(job_state).to_have_text("pending")
    expect(row.locator('[data-job-field="step"]')).to_have_text("cloning")
    expect(row.locator('[data-job-field="attempts"]')).to_have_text("1")
    expect(row.locator('[data-job-field="last_error"]')).to_contain_text("503")
    expect(edx_state).to_have_text("cloning")
    page.evaluate("window.journeyMarker = 'no reload'")

    with world.job_worker():  # the retry runs when due; the page polls the job's status
        expect(job_state).to_have_text("succeeded")
        expect(edx_state).to_have_text("ready")
    expect(edx_state).to_have_class("badge badge-ready")
    expect(row.locator('[data-job-field="attempts"]')).to_have_text("2")
    expect(row.locator('[data-job-field="step"]')).to_have_text("done")
    expect(row.locator('[data-job-field="last_error"]')).to_have_text("")
    assert page.evaluate("window.journeyMarker") == "no reload"  # updated in place
    journey.screenshot("-course-ready")

    # An extra batch of codes.
    page.get_by_label("How many codes").fill("3")
    page.get_by_label("Redemption type").select_option("one_time")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".flash-success")).to_have_text("Generated 3 one-time code(s).")
    expect(page.locator("[data-code-counts]")).to_contain_text("Unused 8")
    expect(page.locator("#codes table tbody tr")).to_have_count(8)
    expect(row.locator("[data-edx-state-for]")).to_have_text("ready")
    journey.finish()

    session = fresh()
    org = session.scalar(select(Organization).where(Organization.key == "INITECH"))
    assert org is not None and org.name == "Initech Learning" and org.active
    contract = session.scalar(select(Contract).where(Contract.organization_id == org.id))
    assert contract is not None and contract.name == "Initech Analytics Academy"
    assert contract.slug == "initech-analytics-academy"
    assert contract.membership_type is MembershipType.CODE and contract.seat_limit == 5
    assert contract.start_at == now - dt.timedelta(days=1)
    assert contract.end_at == now + dt.timedelta(days=180)
    [run] = session.scalars(select(CourseRun).where(CourseRun.contract_id == contract.id)).all()
    assert run.course_key == f"course-v1:INITECH+DS.101x+1T{contract.id}C{now.year}"
    assert run.edx_state is EdxRunState.READY and run.edx_error is None
    job = session.scalar(
        select(BackgroundJob).where(
            BackgroundJob.object_type == "course_run", BackgroundJob.object_id == str(run.id)
        )
    )
    assert job is not None and job.state is JobState.SUCCEEDED and job.attempts == 2
    codes = session.scalars(
        select(EnrollmentCode).where(EnrollmentCode.contract_id == contract.id)
    ).all()
    assert len(codes) == 8
    assert sum(c.for_seat for c in codes) == 5
    assert {c.redemption_type for c in codes} == {RedemptionType.ONE_TIME}
    remote = {r["id"]: r for r in world.edx_state()["course_runs"]}
    assert run.course_key in remote
    assert remote[run.course_key]["title"] == "Foundations of Data Science"
    assert set(remote[run.course_key]["modes"]) == {"audit", "verified"}


def test_the_generated_codes_confirmation_is_in_view(journey: Journey, world: World) -> None:
    page = journey.page
    contract = fresh().scalar(select(Contract).where(Contract.slug == "globex-open-seats"))
    assert contract is not None
    journey.sign_in("staff@portal.example", "Margaret Hamilton")
    page.goto(f"/staff/contracts/{contract.id}")
    page.get_by_label("How many codes").fill("2")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("[data-code-counts]")).to_contain_text("Unused 52")
    journey.screenshot(full_page=False)  # what staff see
    expect(page.locator(".flash-success")).to_have_text("Generated 2 one-time code(s).")
    # The page has loaded and scrolled already: the message is in view now or never.
    expect(page.locator(".flash-success")).to_be_in_viewport(timeout=2_000)
