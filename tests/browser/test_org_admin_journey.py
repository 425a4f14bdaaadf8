"""An organization admin in a real browser: the seat overview with its SVG chart and the 75% alert,
then codes assigned to one address and to a CSV file of addresses, invitations sent."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, expect
from sqlalchemy import select

from portal.core.text import group_code
from portal.models import Contract, EnrollmentCode, OutboxMessage
from tests.browser.conftest import CHROMIUM, SKIP_REASON, Journey, World, fresh
from tests.support.i18n import ntr, number, text_of, tr

if CHROMIUM is None:
    pytest.skip(SKIP_REASON, allow_module_level=True)

TEAM_CSV = (
    "email\n"
    "analyst@acme.example\n"
    "New.Hire@acme.example\n"  # assigned a moment before, by hand (any case)
    "colleague01@acme.example\n"  # holds a seat already (the demo's seat history)
    "not-an-email\n"
)


def test_org_admin_assigns_codes_and_sees_the_chart(journey: Journey, world: World) -> None:
    page = journey.page
    leadership = fresh().scalar(select(Contract).where(Contract.slug == "acme-leadership"))
    assert leadership is not None

    journey.sign_in("admin@acme.example", "Grace Hopper", via_idp=True)
    main_nav = page.get_by_role("navigation", name=tr("Main"))
    main_nav.get_by_role("link", name=tr("My organizations")).click()
    expect(page.get_by_role("heading", name=tr("My organizations"))).to_be_visible()
    page.get_by_role("link", name="Acme Corporation").click()

    # The overview: the amber alert, the figures, and a chart per contract.
    expect(page.get_by_role("heading", name="Acme Corporation", level=1)).to_be_visible()
    alert = page.locator(f'[data-alert][data-contract="{leadership.id}"]')
    expect(alert).to_have_attribute("data-alert", "high")
    expect(alert).to_have_class("flash flash-warn")
    expect(alert).to_have_text(
        text_of(
            ntr(
                "<strong>%(contract)s is %(percent)s%% used:</strong> %(remaining)s of %(limit)s "
                "seat left.",
                "<strong>%(contract)s is %(percent)s%% used:</strong> %(remaining)s of %(limit)s "
                "seats left.",
                25,
                contract="Acme Leadership Circle",
                percent=76,
                remaining=number(6),
                limit=number(25),
            )
        )
    )
    section = page.locator(f'section.contract-usage[data-contract="{leadership.id}"]')
    expect(section.locator("[data-claimed]")).to_have_text("19")
    expect(section.locator("[data-limit]")).to_have_text("25")
    expect(section.locator("[data-remaining]")).to_have_text("6")
    check_chart(section)
    expect(page.locator("section.contract-usage svg.usage-chart")).to_have_count(2)

    # Assign one code by hand.
    section.get_by_role("link", name=tr("Codes")).click()
    expect(
        page.get_by_role("heading", name=tr("Codes for %(name)s", name=leadership.name))
    ).to_be_visible()
    expect(page.locator('[data-count="assigned"]')).to_have_text("2")
    page.get_by_label(tr("Email address")).fill("new.hire@acme.example")
    page.get_by_role("button", name=tr("Assign and send")).click()
    flash = page.locator(".flash-success")
    expect(flash).to_be_visible()
    code = fresh().scalar(
        select(EnrollmentCode.code).where(EnrollmentCode.assigned_email == "new.hire@acme.example")
    )
    assert code is not None, "no code assigned to new.hire@acme.example"
    expect(flash).to_have_text(
        tr(
            "Code %(code)s assigned to %(email)s; the invitation is on its way.",
            code=group_code(code),
            email="new.hire@acme.example",
        )
    )
    expect(page.locator('[data-count="assigned"]')).to_have_text("3")
    row = page.locator("table.codes-table tbody tr", has_text="new.hire@acme.example")
    expect(row.locator(".badge")).to_have_text(tr("assigned"))
    expect(row.get_by_role("button", name=tr("Remind"))).to_be_visible()

    # Assign from a CSV file: a result per row.
    page.get_by_role("link", name=tr("Assign from a CSV file…")).click()
    expect(page.get_by_role("heading", name=tr("Assign codes from a CSV file"))).to_be_visible()
    page.get_by_label(tr("CSV file of email addresses")).set_input_files(
        files=[{"name": "team.csv", "mimeType": "text/csv", "buffer": TEAM_CSV.encode()}]
    )
    page.get_by_role("button", name=tr("Assign and send invitations")).click()
    results = page.locator("table.bulk-results tbody tr")
    expect(results).to_have_count(4)
    for address, outcome, label in [
        ("analyst@acme.example", "assigned", "Assigned, invitation sent"),
        ("new.hire@acme.example", "already_assigned", "Already assigned"),
        ("colleague01@acme.example", "already_has_seat", "Already has a seat"),
        ("not-an-email", "invalid_email", "Invalid email"),
    ]:
        result = results.filter(has_text=address)
        expect(result).to_have_attribute("data-outcome", outcome)
        expect(result.locator(".badge")).to_have_text(tr(label))
    expect(results.filter(has_text="analyst@acme.example").locator("code")).to_have_count(1)

    # The invitations, as the org admin sees them in the outbox (demo and test mode).
    main_nav.get_by_role("link", name=tr("Outbox")).click()
    for address in ("new.hire@acme.example", "analyst@acme.example"):
        message = page.locator("tbody tr", has_text=address)
        expect(message).to_have_count(1)
        expect(message.locator(".badge")).to_have_text(tr("sent"))

    # Back to the overview: assigning claims no seat, and the chart is still there.
    main_nav.get_by_role("link", name=tr("My organizations")).click()

    page.get_by_role("link", name="Acme Corporation").click()
    expect(section.locator("[data-claimed]")).to_have_text("19")
    check_chart(section)
    journey.finish()

    session = fresh()
    assigned = {
        c.assigned_email: c
        for c in session.scalars(
            select(EnrollmentCode).where(
                EnrollmentCode.contract_id == leadership.id,
                EnrollmentCode.assigned_email.in_(
                    ["new.hire@acme.example", "analyst@acme.example"]
                ),
            )
        )
    }
    assert set(assigned) == {"new.hire@acme.example", "analyst@acme.example"}
    assert all(c.times_redeemed == 0 and c.deactivated_at is None for c in assigned.values())
    mail = {
        m.to_email: m
        for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_email.in_(list(assigned)))
        )
    }
    assert set(mail) == set(assigned)
    for address, message in mail.items():
        assert message.sent_at is not None and message.error is None
        assert f"{world.portal_url}/redeem/{assigned[address].code}" in message.body_text
    assert (
        session.scalar(
            select(EnrollmentCode.id).where(
                EnrollmentCode.assigned_email.in_(["colleague01@acme.example", "not-an-email"])
            )
        )
        is None
    )


def check_chart(section: Locator) -> None:
    """The plain SVG chart: seats in use against the dashed limit line, claims per day as bars
    with the day's figures in their tooltips."""
    chart = section.locator("svg.usage-chart")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("role", "img")
    expect(chart.locator("polyline.chart-line")).to_have_count(1)
    expect(chart.locator("line.chart-limit")).to_have_count(1)
    expect(chart.locator(".chart-limit-label")).to_contain_text("25")
    bars = chart.locator("rect.chart-bar")
    expect(bars.first).to_be_visible()
    assert bars.count() >= 10  # claims spread over the last six weeks
    expect(bars.first.locator("title")).not_to_be_empty()
    expect(section.locator("figcaption")).not_to_be_empty()
