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
from portal.services import code_listing
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Journey, World, fresh
from tests.support.i18n import ntr, number, tr

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)


def local(moment: dt.datetime) -> str:
    """A datetime-local field's value."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def code_counts(unused: int, used: int = 0, assigned: int = 0, deactivated: int = 0) -> str:
    """The contract page's line of code counts."""
    return tr(
        "Unused %(unused)s · used %(used)s · assigned %(assigned)s · deactivated %(deactivated)s",
        unused=number(unused),
        used=number(used),
        assigned=number(assigned),
        deactivated=number(deactivated),
    )


def generated(count: int) -> str:
    return ntr("Generated %(num)s one-time code.", "Generated %(num)s one-time codes.", count)


def attempt_words(words: str, attempt: int, attempts: int = 5) -> str:
    """A job's state in words, as ``services/job_listing.state_words`` says it."""
    return tr(words, attempt=number(attempt), attempts=number(attempts))


def steps(done: int, total: int = 6) -> str:
    return ntr("%(done)s of %(num)s step", "%(done)s of %(num)s steps", total, done=number(done))


def test_staff_create_an_organization_a_contract_a_course_and_codes(
    journey: Journey, world: World
) -> None:
    page = journey.page
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)

    journey.sign_in("staff@portal.example", "Margaret Hamilton")
    page.get_by_role("navigation", name=tr("Main")).get_by_role("link", name=tr("Staff")).click()
    staff_nav = page.get_by_role("navigation", name=tr("Staff"))

    # An organization.
    staff_nav.get_by_role("link", name=tr("Organizations")).click()
    page.get_by_role("link", name=tr("New organization")).click()
    page.get_by_label(tr("Name"), exact=True).fill("Initech Learning")
    page.get_by_label(tr("Short key")).fill("initech")  # upper-cased by the form
    page.get_by_label(tr("Description")).fill("Initech's people learn data skills.")
    page.get_by_role("button", name=tr("Save")).click()
    expect(page.locator(".flash-success")).to_have_text(
        tr("Organization %(name)s (%(key)s) created.", name="Initech Learning", key="INITECH")
    )
    expect(page.get_by_role("heading", name="Initech Learning", level=1)).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("INITECH")

    # A contract: code-based, five seats, running now.
    staff_nav.get_by_role("link", name=tr("Contracts")).click()
    page.get_by_role("link", name=tr("New contract")).click()
    page.get_by_label(tr("Organization"), exact=True).select_option(
        label="Initech Learning (INITECH)"
    )
    page.get_by_label(tr("Name"), exact=True).fill("Initech Analytics Academy")
    page.get_by_label(tr("Welcome message")).fill("Welcome, Initech analysts!")
    page.get_by_label(tr("Membership type")).select_option("code")
    page.get_by_label(tr("Starts (UTC)")).fill(local(now - dt.timedelta(days=1)))
    page.get_by_label(tr("Ends (UTC)")).fill(local(now + dt.timedelta(days=180)))
    page.get_by_label(tr("Seat limit")).fill("5")
    page.get_by_role("button", name=tr("Create contract")).click()
    created = tr("Contract %(name)s created.", name="Initech Analytics Academy")
    added = ntr("Added %(num)s one-time seat code.", "Added %(num)s one-time seat codes.", 5)
    expect(page.locator(".flash-success")).to_have_text(f"{created} {added}")
    expect(page.get_by_role("heading", name="Initech Analytics Academy", level=1)).to_be_visible()
    expect(page.locator("[data-seats-remaining]")).to_have_text("5")
    expect(page.locator("[data-code-counts]")).to_contain_text(code_counts(unused=5))
    runs = page.locator("section", has=page.get_by_role("heading", name=tr("Course runs")))
    expect(runs.locator("tbody")).to_contain_text(tr("No runs yet."))

    # A course. edX answers the clone with a 503 once: the job waits for its retry, visibly.
    world.edx_fault(endpoint="course_runs.clone", status=503, count=1)
    page.get_by_label(tr("Course (with a source run)")).select_option(
        label="Foundations of Data Science (DS.101x)"
    )
    page.get_by_role("button", name=tr("Add course")).click()
    run_key = fresh().scalar(
        select(CourseRun.course_key)
        .join(Contract, Contract.id == CourseRun.contract_id)
        .where(Contract.slug == "initech-analytics-academy")
    )
    expect(page.locator(".flash-success")).to_have_text(
        tr("Added %(key)s; it is being created in edX.", key=run_key)
    )
    row = runs.locator("tbody tr", has_text="Foundations of Data Science")
    job_words = row.locator('[data-job-field="words"]')
    edx_state = row.locator("[data-edx-state-for]")
    # "Waiting to retry (attempt 2 of 5) at 10:32": when, at the end, is the retry's time.
    expect(job_words).to_contain_text(
        attempt_words("Waiting to retry (attempt %(attempt)s of %(attempts)s)", 2)
    )
    expect(row.locator('[data-job-field="step"]')).to_have_text(tr("cloning"))
    expect(row.locator('[data-job-field="detail"]')).to_contain_text("503")
    # The bar stays where the failed attempt stopped: two of the six steps done before cloning.
    expect(row.locator('[data-job-field="progress"]')).to_have_text(steps(2))
    expect(edx_state).to_have_text(tr("cloning"))
    page.evaluate("window.journeyMarker = 'no reload'")

    with world.job_worker():  # the retry runs when due; the page polls the job's status
        expect(job_words).to_have_text(
            attempt_words("Succeeded on attempt %(attempt)s of %(attempts)s", 2)
        )
        expect(edx_state).to_have_text(tr("ready"))
    expect(edx_state).to_have_class("badge badge-ready")
    expect(row.locator('[data-job-field="progress"]')).to_have_text(steps(6))
    expect(row.locator('[data-job-field="step"]')).to_have_text("")
    expect(row.locator('[data-job-field="detail"]')).to_have_text("")
    assert page.evaluate("window.journeyMarker") == "no reload"  # updated in place
    journey.screenshot("-course-ready")

    # An extra batch of codes.
    page.get_by_label(tr("How many codes")).fill("3")
    page.get_by_label(tr("Redemption type")).select_option("one_time")
    page.get_by_role("button", name=tr("Generate")).click()
    expect(page.locator(".flash-success")).to_have_text(generated(3))
    expect(page.locator("[data-code-counts]")).to_contain_text(code_counts(unused=8))
    expect(page.locator("#codes table tbody tr")).to_have_count(8)
    expect(row.locator("[data-edx-state-for]")).to_have_text(tr("ready"))
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
    page.get_by_label(tr("How many codes")).fill("2")
    page.get_by_role("button", name=tr("Generate")).click()
    expect(page.locator(".flash-success")).to_be_visible()
    fresh()
    counts = code_listing.code_counts(contract)
    assert counts["unused"] == 52, counts
    expect(page.locator("[data-code-counts]")).to_contain_text(code_counts(**counts))
    journey.screenshot(full_page=False)  # what staff see
    expect(page.locator(".flash-success")).to_have_text(generated(2))

    # The page has loaded and scrolled already: the message is in view now or never.
    expect(page.locator(".flash-success")).to_be_in_viewport(timeout=2_000)
