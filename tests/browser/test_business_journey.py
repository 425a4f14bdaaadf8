"""Running the business over time, in a real browser on the demo data: the scheduler's first
pass sends the notices the demo calls for (Acme Leadership Circle past 75% of its seats, an
invitation four days old, the unredeemed-codes digest); an org
admin reads them on the Notices page and in the demo outbox (an email's text and HTML parts),
subscribes to a weekly report; staff renew a contract through its preview and find orders.

Every page is photographed at 1280 px and 390 px in test-artifacts/screenshots (looked at)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import Contract, Notice, NoticeKind, OutboxMessage
from portal.services.scheduling import fire_due
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Journey, World, fresh
from tests.browser.test_outcomes_journey import at_phone_width
from tests.support.i18n import tr

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)


def _scheduler_pass(world: World) -> list[Notice]:
    """The worker's first pass in the demo (``fire_due``): every task for its current period;
    the task jobs and their emails run right after the commit (``JOB_RUNNER=inline``)."""
    with world.job_worker():
        runs = fire_due()
        assert {run.name for run in runs} >= {"seat-notices", "contract-notices"}
    notices = list(fresh().scalars(select(Notice).order_by(Notice.id)))
    kinds = {n.kind for n in notices}
    assert {
        NoticeKind.SEATS_USED,
        NoticeKind.CODE_REMINDER,
        NoticeKind.UNREDEEMED_DIGEST,
    } <= kinds, kinds
    return notices


def test_an_org_admin_reads_the_notices_and_subscribes_to_a_report(
    journey: Journey, world: World
) -> None:
    page = journey.page
    notices = _scheduler_pass(world)
    seat_notice = next(n for n in notices if n.kind is NoticeKind.SEATS_USED)
    message = fresh().get(OutboxMessage, seat_notice.outbox_message_id)
    assert message is not None and message.to_email == "admin@acme.example"
    assert message.sent_at is not None and message.body_text.strip() and message.body_html

    journey.sign_in("admin@acme.example", "Grace Hopper", via_idp=True)
    main_nav = page.get_by_role("navigation", name=tr("Main"))
    main_nav.get_by_role("link", name=tr("My organizations")).click()
    page.get_by_role("link", name="Acme Corporation").click()
    org_nav = page.get_by_role("navigation", name="Acme Corporation")
    org_nav.get_by_role("link", name=tr("Notices")).click()
    expect(page.get_by_role("heading", name=tr("Notices"), level=1)).to_be_visible()
    sent = page.locator("table").last
    expect(sent).to_contain_text(message.subject)
    journey.screenshot("-notices")
    at_phone_width(journey, "-notices-390")

    org_nav.get_by_role("link", name=tr("Reports")).click()
    expect(page.get_by_role("heading", name=tr("Scheduled reports"))).to_be_visible()
    page.get_by_label(tr("Weekly, on Mondays: the previous week's numbers")).check()
    page.get_by_role("button", name=tr("Subscribe")).click()
    expect(page.locator(".flash-success")).to_have_text(
        tr("Subscribed: your first weekly report comes with the next daily run.")
    )
    expect(page.locator("[data-subscription]")).to_have_attribute("data-subscription", "weekly")
    journey.screenshot("-reports")
    at_phone_width(journey, "-reports-390")

    # The demo outbox lists the notice; the message shows its text part and its HTML part.
    # (The email is in its reader's language: Grace's, English, when the scheduler wrote it.)
    main_nav.get_by_role("link", name=tr("Outbox")).click()
    page.get_by_role("link", name=message.subject).first.click()
    expect(page.get_by_role("heading", name=message.subject)).to_be_visible()
    expect(page.locator("pre").first).to_contain_text("Acme Leadership Circle")
    journey.screenshot("-seat-notice-email")
    at_phone_width(journey, "-seat-notice-email-390")
    journey.finish()

    # Each kind of email as a mail client shows it: its HTML part rendered, and a text part.
    for notice in {n.kind: n for n in notices}.values():
        email = fresh().get(OutboxMessage, notice.outbox_message_id)
        assert email is not None and email.body_text.strip() and email.body_html
        page.set_content(email.body_html)
        expect(page.locator("body")).to_contain_text(email.body_text.split("\n")[0].strip())
        journey.screenshot(f"-email-{notice.kind.value}")


def test_staff_renew_a_contract_through_its_preview_and_find_orders(
    journey: Journey, world: World
) -> None:
    page = journey.page
    old = fresh().scalar(select(Contract).where(Contract.slug == "globex-open-seats"))
    assert old is not None
    journey.sign_in("staff@portal.example", "Margaret Hamilton")
    page.goto(f"/staff/contracts/{old.id}")
    page.get_by_role("link", name=tr("Renew…"), exact=True).click()
    expect(page.get_by_role("heading", name=tr("Renew %(name)s", name=old.name))).to_be_visible()
    page.get_by_role("button", name=tr("Preview the renewal")).click()
    expect(page.get_by_role("button", name=tr("Create the renewal"))).to_be_visible()
    expect(page.locator("[data-proposal]")).to_be_visible()
    journey.screenshot("-renewal-preview")
    at_phone_width(journey, "-renewal-preview-390")
    page.get_by_role("button", name=tr("Create the renewal")).click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("[data-renewed-from]")).to_have_text(old.name)
    renewal = fresh().scalar(select(Contract).where(Contract.renewed_from_id == old.id))
    assert renewal is not None and renewal.organization_id == old.organization_id
    journey.screenshot("-renewed-contract")

    staff_nav = page.get_by_role("navigation", name=tr("Staff"))
    staff_nav.get_by_role("link", name=tr("Orders")).click()
    expect(page.get_by_role("heading", name=tr("Orders"), level=1)).to_be_visible()

    journey.screenshot("-orders")
    at_phone_width(journey, "-orders-390")
    journey.finish()
