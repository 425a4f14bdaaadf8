"""A long job's progress bar moving in a real browser (issue 17, item 6): staff watch a code
generation of many chunks on the contract page; the bar and its counts rise while the job runs,
then the page reloads by itself with the codes and the job's final state."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.jobs.kinds import JobKind
from portal.jobs.queue import leave_to_sweeper
from portal.models import Contract, RedemptionType
from portal.services import codes as code_service
from portal.services.jobs import start_job
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Journey, World, fresh
from tests.support.i18n import ntr, number, tr

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

CODES, CHUNK = 2_000, 200  # ten chunks
BAR_VALUE = "id => { const b = document.getElementById('job-bar-' + id); return b ? b.value : -1; }"
# A function, not an expression: the page's CSP forbids eval.
BAR_ABOVE = (
    "([id, floor]) => { const b = document.getElementById('job-bar-' + id);"
    " return !!b && b.hasAttribute('value') && b.value > floor; }"
)


def of_total(singular: str, plural: str, total: int) -> str:
    """The words of a progress label around its count done ("of 2,000 codes"; "codes sur 2 000")."""
    return max(ntr(singular, plural, total, done="\x00").split("\x00"), key=len).strip()


def test_staff_see_the_code_generation_bar_move(
    journey: Journey, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = journey.page
    contract = fresh().scalar(select(Contract).where(Contract.slug == "globex-open-seats"))
    assert contract is not None
    # Small, slow chunks, so the job runs for seconds while the page is open.
    monkeypatch.setattr("portal.tasks.codes.CHUNK", CHUNK)
    insert = code_service.insert_codes

    def slow_insert(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.4)
        return insert(*args, **kwargs)

    monkeypatch.setattr(code_service, "insert_codes", slow_insert)
    payload = code_service.batch_payload(contract, CODES, RedemptionType.ONE_TIME, None, None, None)
    job = start_job(JobKind.CODES_GENERATE, payload, about=("contract", contract.id))
    leave_to_sweeper()  # not run yet: the worker below starts it once the page is open
    db.session.commit()

    journey.sign_in("staff@portal.example", "Margaret Hamilton")
    page.goto(f"/staff/contracts/{contract.id}#codes")
    status = page.locator(f'[data-job-id="{job.id}"]')
    expect(status.locator('[data-job-field="words"]')).to_have_text(tr("Waiting to start"))
    expect(status.locator('[data-job-field="bar"]')).to_be_hidden()  # nothing reported yet
    bar = page.locator(f"#job-bar-{job.id}")
    expect(bar).to_have_attribute("aria-label", tr("Progress of job %(id)s", id=job.id))

    with world.job_worker():
        # Running: the bar shows part of the total, then more of it, without a reload.
        page.wait_for_function(BAR_ABOVE, arg=[job.id, 0], timeout=15_000)
        expect(status.locator('[data-job-field="words"]')).to_have_text(tr("Running"))
        first = int(page.evaluate(BAR_VALUE, job.id))
        assert 0 < first < CODES
        expect(bar).to_have_attribute("max", str(CODES))
        expect(status.locator('[data-job-field="progress"]')).to_contain_text(
            of_total("%(done)s of %(num)s code", "%(done)s of %(num)s codes", CODES)
        )
        expect(status.locator('[data-job-field="next"]')).to_contain_text(
            tr("The codes appear in the list below when the job finishes; you can leave this page.")
        )
        page.wait_for_function(BAR_ABOVE, arg=[job.id, first], timeout=15_000)
        journey.screenshot("-running", full_page=False)
        # Done: the page reloads by itself with the codes and the final state.
        expect(status.locator('[data-job-field="words"]')).to_have_text(
            tr("Succeeded on the first attempt"), timeout=30_000
        )
    expect(status.locator('[data-job-field="progress"]')).to_have_text(
        ntr("%(done)s of %(num)s code", "%(done)s of %(num)s codes", CODES, done=number(CODES))
    )
    expect(bar).to_have_attribute("value", str(CODES))
    expect(status.locator('[data-job-field="next"]')).to_be_empty()
    expect(page.locator("[data-code-counts]")).to_contain_text(
        re.compile(r"\b2[,\s\u00a0\u202f]?050\b")  # 2,050 or 2 050: any locale's grouping
    )
    journey.finish()


def test_an_org_admin_watches_a_bulk_assignment_then_reads_its_results(
    journey: Journey, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.models import Organization, User
    from portal.services import bulk_assignment

    page = journey.page
    session = fresh()
    contract = session.scalar(select(Contract).where(Contract.slug == "acme-leadership"))
    grace = session.scalar(select(User).where(User.email == "admin@acme.example"))
    assert contract is not None and grace is not None
    org = session.get(Organization, contract.organization_id)
    monkeypatch.setattr("portal.tasks.codes.ASSIGN_CHUNK", 1)
    assign = bulk_assignment.assign_pending

    def slow_assign(*args: Any, **kwargs: Any) -> int:
        time.sleep(0.5)
        return assign(*args, **kwargs)

    monkeypatch.setattr(bulk_assignment, "assign_pending", slow_assign)
    addresses = ["one@acme.example", "two@acme.example", "three@acme.example", "not-an-email"]
    job = bulk_assignment.start(contract, org, addresses, actor=grace, base_url=world.portal_url)
    leave_to_sweeper()
    db.session.commit()

    journey.sign_in("admin@acme.example", "Grace Hopper", via_idp=True)
    page.goto(f"/org/{org.key}/contracts/{contract.id}/codes/assign-bulk/{job.id}")
    expect(page.get_by_role("heading", name=tr("Assigning codes from your file"))).to_be_visible()
    expect(page.locator("table.bulk-results")).to_have_count(0)
    status = page.locator(f'[data-job-id="{job.id}"]')
    with world.job_worker():
        page.wait_for_function(BAR_ABOVE, arg=[job.id, 0], timeout=15_000)
        expect(status.locator('[data-job-field="progress"]')).to_contain_text(
            of_total("%(done)s of %(num)s address", "%(done)s of %(num)s addresses", 4)
        )
        journey.screenshot("-running", full_page=False)
        # Done: the page reloads by itself and shows each row's result.
        expect(page.get_by_role("heading", name=tr("Codes assigned from your file"))).to_be_visible(
            timeout=30_000
        )
    results = page.locator("table.bulk-results tbody tr")
    expect(results).to_have_count(4)
    expect(results.filter(has_text="not-an-email")).to_have_attribute(
        "data-outcome", "invalid_email"
    )
    expect(status.locator('[data-job-field="progress"]')).to_have_text(
        ntr("%(done)s of %(num)s address", "%(done)s of %(num)s addresses", 4, done=number(4))
    )
    journey.finish()
